/* ELF binaries by identity (build id, else device:inode): segments for address arithmetic and a
 * lazily built function table, with separate debug files found the way gdb finds them.
 * Bounded: an LRU by the bytes of the symbol tables it holds (a binary cached under its identity and
 * its build id counts twice: the bound errs on the small side). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { ElfFile, type ElfInfo } from './elf.js';
import { floorIndex, SymbolColumns, SymbolTable } from './symbol-table.js';

export interface ElfBinary {
  info: ElfInfo;
  /** null when the file has no function symbols at all (fully stripped, no debug file); PLT stubs
   *  count as symbols (name@plt) */
  symbols: SymbolTable | null;
  /** function starts from .eh_frame_hdr, sorted: code no symbol covers is grouped by the function
   *  it is in (one hot loop in a stripped library is one frame, not one per address); null if none */
  functionStarts: BigUint64Array | null;
  debugFile: string | null;
}

/** The start of the function (by its unwind entry) that holds `address`, or null. */
export function functionStartOf(bin: ElfBinary, address: bigint): bigint | null {
  const starts = bin.functionStarts;
  if (!starts) return null;
  const i = floorIndex(starts, address);
  return i < 0 ? null : starts[i];
}

export interface ElfCacheOptions {
  /** where separate debug files live, as seen inside the process's root (default /usr/lib/debug) */
  debugDirs?: string[];
  /** bytes of symbol tables kept across cached binaries (default 64 MiB: ~1 M symbols of C++ names) */
  maxBytes?: number;
  maxBinaries?: number;
}

/**
 * Candidate debug files, in gdb's order: by build id under each debug dir, then .gnu_debuglink next to
 * the binary, in its .debug/ subdirectory, and under each debug dir mirrored by path.
 */
export function debugFileCandidates(binaryPath: string, info: ElfInfo, debugDirs: string[]): string[] {
  const out: string[] = [];
  if (info.buildId.length > 2) {
    for (const d of debugDirs) out.push(join(d, '.build-id', info.buildId.slice(0, 2), `${info.buildId.slice(2)}.debug`));
  }
  if (info.debuglink) {
    const dir = dirname(binaryPath);
    out.push(join(dir, info.debuglink), join(dir, '.debug', info.debuglink));
    for (const d of debugDirs) out.push(join(d, dir, info.debuglink));
  }
  return out;
}

export class ElfCache {
  readonly #debugDirs: string[];
  readonly #byKey: LRUCache<string, ElfBinary>;

  constructor(opts: ElfCacheOptions = {}) {
    this.#debugDirs = opts.debugDirs ?? ['/usr/lib/debug'];
    this.#byKey = new LRUCache<string, ElfBinary>({
      max: opts.maxBinaries ?? 512,
      maxSize: opts.maxBytes ?? 64 << 20,
      sizeCalculation: (b) => Math.max(1, (b.symbols?.bytes ?? 0) + (b.functionStarts?.byteLength ?? 0)),
    });
  }

  get binaries(): number {
    return this.#byKey.size;
  }

  /** bytes of symbol tables held (the bound's measure) */
  get symbolBytes(): number {
    return this.#byKey.calculatedSize ?? 0;
  }

  /**
   * @param openPath a path this process can open (e.g. /proc/PID/map_files/..., /proc/PID/root/...)
   * @param realPath the path inside the process's root, for debuglink lookups
   * @param rootPrefix prefix that maps the process's root into ours (e.g. /proc/PID/root)
   * @param identity device:inode of the mapping, used when the binary has no build id
   */
  get(openPath: string, realPath: string, rootPrefix: string, identity: string): ElfBinary {
    const hit = this.#byKey.get(identity);
    if (hit) return hit;
    const elf = ElfFile.open(openPath);
    let bin: ElfBinary;
    try {
      const byBuild = elf.info.buildId ? this.#byKey.get(`build:${elf.info.buildId}`) : undefined;
      if (byBuild) {
        this.#byKey.set(identity, byBuild);
        return byBuild;
      }
      let symbols = SymbolColumns.concat(elf.pltSymbols(), elf.functionSymbols());
      let functionStarts: BigUint64Array | null = null;
      try {
        functionStarts = elf.functionStarts();
      } catch {
        // unreadable: code without symbols stays named by address
      }
      let debugFile: string | null = null;
      if (!elf.info.hasSymtab) {
        for (const cand of debugFileCandidates(realPath, elf.info, this.#debugDirs)) {
          const p = rootPrefix + cand;
          if (!existsSync(p)) continue;
          try {
            const dbg = ElfFile.open(p);
            try {
              if (elf.info.buildId && dbg.info.buildId && dbg.info.buildId !== elf.info.buildId) continue;
              symbols = SymbolColumns.concat(symbols, dbg.functionSymbols());
              debugFile = cand;
              break;
            } finally {
              dbg.close();
            }
          } catch {
            // not ELF or unreadable: try the next candidate
          }
        }
      }
      bin = { info: elf.info, symbols: symbols.length > 0 ? new SymbolTable(symbols) : null, functionStarts, debugFile };
    } finally {
      elf.close();
    }
    this.#byKey.set(identity, bin);
    if (bin.info.buildId) this.#byKey.set(`build:${bin.info.buildId}`, bin);
    return bin;
  }
}
