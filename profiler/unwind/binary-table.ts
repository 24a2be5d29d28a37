/* One binary's unwind table: its .eh_frame, or .debug_frame (in the binary or its separate debug file,
 * found the way gdb finds it) when it has no .eh_frame. */
import { existsSync } from 'node:fs';
import { debugFileCandidates } from '../symbols/elf-cache.js';
import { ElfFile, type ElfInfo } from '../symbols/elf.js';
import { parseCfi, type CfiStats, type CfiTable } from './cfi.js';

export type TableSource = '.eh_frame' | '.debug_frame' | 'debug file .debug_frame';

export type BinaryTable =
  | { ok: true; table: CfiTable; stats: CfiStats; source: TableSource; info: ElfInfo; buildMs: number; cfiBytes: number }
  | { ok: false; reason: 'no_unwind_info' | 'table_too_large' | 'unreadable'; info: ElfInfo | null; detail: string };

/** .eh_frame bytes per row are 5.9 to 10 on Debian's binaries (libchdb.so 5.9, python3 7, node 10): a
 *  section over maxRows times this surely has more rows than allowed, and is refused before parsing
 *  (libchdb.so's 33.7 MB would take 5 s to parse for nothing at the default bound). */
const MAX_BYTES_PER_ROW = 16;

/**
 * @param openPath a path this process can open (/proc/PID/map_files/..., /proc/PID/root/...)
 * @param realPath the path inside the process's root, for .gnu_debuglink
 * @param rootPrefix how we reach the process's root (/proc/PID/root)
 */
export function buildBinaryTable(openPath: string, realPath: string, rootPrefix: string, maxRows: number, debugDirs: string[]): BinaryTable {
  let elf: ElfFile;
  try {
    elf = ElfFile.open(openPath);
  } catch (e) {
    return { ok: false, reason: 'unreadable', info: null, detail: (e as Error).message };
  }
  const t0 = performance.now();
  try {
    const maxBytes = maxRows * MAX_BYTES_PER_ROW;
    let source: TableSource = '.eh_frame';
    let sec: { data: Buffer; vaddr: number } | null;
    try {
      sec = elf.section('.eh_frame', maxBytes);
      if (!sec) {
        source = '.debug_frame';
        sec = elf.section('.debug_frame', maxBytes);
      }
      if (!sec) {
        source = 'debug file .debug_frame';
        for (const cand of debugFileCandidates(realPath, elf.info, debugDirs)) {
          const p = rootPrefix + cand;
          if (!existsSync(p)) continue;
          try {
            const dbg = ElfFile.open(p);
            try {
              if (elf.info.buildId && dbg.info.buildId !== elf.info.buildId) continue;
              sec = dbg.section('.debug_frame', maxBytes);
              if (sec) break;
            } finally {
              dbg.close();
            }
          } catch (e) {
            if (e instanceof RangeError) throw e;
            // not ELF or unreadable: the next candidate
          }
        }
      }
    } catch (e) {
      if (e instanceof RangeError) return { ok: false, reason: 'table_too_large', info: elf.info, detail: e.message };
      throw e;
    }
    if (!sec) return { ok: false, reason: 'no_unwind_info', info: elf.info, detail: 'no .eh_frame or .debug_frame' };
    const { table, stats } = parseCfi({ data: sec.data, vaddr: sec.vaddr, debugFrame: source !== '.eh_frame' });
    if (table.pcs.length > maxRows) {
      return { ok: false, reason: 'table_too_large', info: elf.info, detail: `${table.pcs.length} rows, over the ${maxRows}-row bound` };
    }
    if (table.pcs.length === 0) return { ok: false, reason: 'no_unwind_info', info: elf.info, detail: `${source} has no rows` };
    return { ok: true, table, stats, source, info: elf.info, buildMs: performance.now() - t0, cfiBytes: sec.data.length };
  } catch (e) {
    return { ok: false, reason: 'unreadable', info: elf.info, detail: (e as Error).message };
  } finally {
    elf.close();
  }
}
