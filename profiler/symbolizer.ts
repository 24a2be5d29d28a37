/* Addresses → frames: user frames through the process's mappings and ELF symbols (or its perf
 * map for JIT code), kernel frames through kallsyms. Unknown code stays visible as binary+0xADDR. */
import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { LRUCache } from 'lru-cache';
import { demangle } from '../native/index.js';
import { ElfCache, functionStartOf, type ElfBinary } from './symbols/elf-cache.js';
import { fileOffsetToVaddr, segmentForFileOffset } from './symbols/elf.js';
import { Kallsyms } from './symbols/kallsyms.js';
import { PerfMap } from './symbols/perf-map.js';
import { findMapping, isFileBacked, type ProcMapping } from './symbols/proc-maps.js';
import { UNKNOWN_MAPPING, type Frame, type MappingDesc } from './types.js';

/** What the symbolizer needs to know about a process. */
export interface ProcessView {
  pid: number;
  /** pid inside its own pid namespace (perf-<nspid>.map is named by it) */
  nsPid: number;
  /** how we reach the process's filesystem, e.g. /proc/PID/root */
  rootPrefix: string;
  maps(): ProcMapping[];
  /** re-read the mappings (an address fell outside every known one) */
  refreshMaps(): ProcMapping[];
}

export interface SymbolizerOptions {
  debugDirs?: string[];
  kallsymsPath?: string;
}

const PAGE = 0xfffn;
/** Memory all perf maps' symbols may take together; the least recently used go first. */
export const PERF_MAPS_MAX_BYTES = 128 << 20;

/** Where a frame-pointer walk left the process's code: the rest of the stack is not trustworthy. */
export const BROKEN_CHAIN: Frame = { name: '[unknown]', mapping: UNKNOWN_MAPPING, address: 0n };

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

export class Symbolizer {
  readonly elf: ElfCache;
  #kallsyms: Kallsyms | null = null;
  readonly #kallsymsPath: string;
  /** perf maps by path, bounded by the memory their symbols take (sizes re-computed after each read) */
  readonly #perfMaps = new LRUCache<string, PerfMap>({ max: 256, maxSize: PERF_MAPS_MAX_BYTES, sizeCalculation: (pm) => Math.max(1, pm.bytes) });
  /** perf maps refused: not a regular file (FIFO, device), or not owned by the process's user */
  perfMapsRefused = 0;
  readonly #demangled = new LRUCache<string, string>({ max: 100_000 });
  /** per-binary descriptors, so frames of one binary share one MappingDesc object */
  readonly #mappingDescs = new LRUCache<string, MappingDesc>({ max: 4096 });
  errors = 0;

  constructor(opts: SymbolizerOptions = {}) {
    this.elf = new ElfCache({ debugDirs: opts.debugDirs });
    this.#kallsymsPath = opts.kallsymsPath ?? '/proc/kallsyms';
  }

  get kallsyms(): Kallsyms {
    if (!this.#kallsyms) this.#kallsyms = Kallsyms.load(this.#kallsymsPath);
    return this.#kallsyms;
  }

  demangle(name: string): string {
    if (!name.startsWith('_Z') && !name.startsWith('_R')) return name;
    let d = this.#demangled.get(name);
    if (d === undefined) {
      d = demangle(name) ?? name;
      this.#demangled.set(name, d);
    }
    return d;
  }

  /** Kernel frames, leaf first in and out. */
  kernelFrames(ips: BigUint64Array): Frame[] {
    const k = this.kallsyms;
    const out: Frame[] = [];
    for (let i = 0; i < ips.length; i++) {
      // return addresses point after the call: look up the call site
      const lookupAt = i === 0 ? ips[i] : ips[i] - 1n;
      const hit = k.table.lookup(lookupAt);
      out.push({ name: hit ? hit.name : '[kernel]', mapping: k.mapping, address: ips[i] });
    }
    return out;
  }

  /**
   * User frames, leaf first in and out. A leaf outside every known mapping becomes [unknown] (its address
   * kept in the frame, for pprof).
   * A return address outside every mapping means the frame-pointer chain broke (code built without
   * frame pointers): the walk is cut there with one `[unknown]` frame, since what follows is noise.
   */
  userFrames(proc: ProcessView | null, ips: BigUint64Array): Frame[] {
    const out: Frame[] = [];
    let maps = proc ? proc.maps() : [];
    let refreshed = false;
    for (let i = 0; i < ips.length; i++) {
      const ip = ips[i];
      const lookupAt = i === 0 ? ip : ip - 1n;
      let m = findMapping(maps, lookupAt);
      if (!m && proc && !refreshed) {
        refreshed = true;
        try {
          maps = proc.refreshMaps();
          m = findMapping(maps, lookupAt);
        } catch {
          // process gone: keep what we had
        }
      }
      if (!m && i > 0 && proc) {
        out.push(BROKEN_CHAIN);
        break;
      }
      out.push(this.#userFrame(proc, m, ip, lookupAt));
    }
    return out;
  }

  /** The binary behind a file-backed mapping, through the process (null: unreadable, or gone unread). */
  #binary(proc: ProcessView, m: ProcMapping): ElfBinary | null {
    const identity = `${m.dev}:${m.inode}:${m.path}`;
    try {
      return this.elf.get(`/proc/${proc.pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`, m.path, proc.rootPrefix, identity);
    } catch {
      try {
        return this.elf.get(proc.rootPrefix + m.path, m.path, proc.rootPrefix, identity);
      } catch {
        return null;
      }
    }
  }

  /** Opens every binary a process maps (each once, cached by file), while the process lives: its
   *  frames resolve after it exited, when /proc no longer leads to its files. */
  prepare(proc: ProcessView): void {
    for (const m of proc.maps()) if (isFileBacked(m)) this.#binary(proc, m);
  }

  #userFrame(proc: ProcessView | null, m: ProcMapping | null, ip: bigint, lookupAt: bigint): Frame {
    // unresolved code is named by where it is, not by its address: one box per region in a flamegraph
    // instead of a sliver per instruction (the address stays in the frame, and in pprof's locations)
    if (!m || !proc) return { name: '[unknown]', mapping: UNKNOWN_MAPPING, address: ip };
    if (isFileBacked(m)) {
      const bin = this.#binary(proc, m);
      if (!bin) this.errors++;
      const fileOffset = ip - m.start + m.offset;
      const lookupOffset = lookupAt - m.start + m.offset;
      const seg = bin ? segmentForFileOffset(bin.info.segments, lookupOffset) : null;
      if (bin && seg) {
        const vaddr = fileOffsetToVaddr(seg, fileOffset);
        const mapping = this.#mapping(m.path, bin.info.buildId, seg.vaddr & ~PAGE, seg.vaddr + seg.memsz, seg.offset & ~PAGE);
        const at = fileOffsetToVaddr(seg, lookupOffset);
        const hit = bin.symbols?.lookup(at);
        if (hit) return { name: this.demangle(hit.name), mapping, address: vaddr };
        // no symbol: named by the start of the function it is in (its unwind entry), so one function
        // is one frame; the address stays exact in the location
        const start = functionStartOf(bin, at);
        return { name: `${basename(m.path)}+${hex(start ?? vaddr)}`, mapping, address: vaddr };
      }
      const mapping = this.#mapping(m.path, bin?.info.buildId ?? '', m.start - m.start, m.end - m.start, m.offset);
      // the binary could not be read: its frames are grouped under its name
      return { name: basename(m.path), mapping, address: fileOffset };
    }
    // anonymous executable memory: JIT code, named by the process's perf map if it writes one
    const pm = this.#perfMap(proc, lookupAt);
    const hit = pm?.table?.lookup(lookupAt) ?? null;
    const label = m.path || '[anon]';
    const mapping = this.#mapping(pm && pm.table ? '[jit]' : label, '', m.start, m.end, 0n);
    return { name: hit ? hit.name : label, mapping, address: ip };
  }

  /** The process's perf map, re-read only when it does not know `address` yet (JITs append as they
   *  compile: re-reading on every lookup would re-parse a growing file over and over). */
  #perfMap(proc: ProcessView, address: bigint): PerfMap | null {
    const path = `${proc.rootPrefix}/tmp/perf-${proc.nsPid}.map`;
    let pm = this.#perfMaps.get(path);
    if (!pm) {
      let uid: number | undefined;
      try {
        uid = statSync(dirname(proc.rootPrefix)).uid; // /proc/PID belongs to the process's user
      } catch {
        return null; // gone
      }
      pm = new PerfMap(path, 1000, uid);
      this.#perfMaps.set(path, pm);
    }
    if (pm.table?.lookup(address)) return pm;
    try {
      const before = pm.bytes;
      const wasRefused = pm.refused;
      const ok = pm.refresh();
      if (pm.refused && pm.refused !== wasRefused) this.perfMapsRefused++;
      if (pm.bytes !== before) this.#perfMaps.set(path, pm); // re-weigh it against the bound
      return ok ? pm : null;
    } catch {
      this.errors++;
      return null;
    }
  }

  #mapping(file: string, buildId: string, start: bigint, limit: bigint, offset: bigint): MappingDesc {
    const key = `${file}\0${buildId}\0${start}\0${limit}\0${offset}`;
    let d = this.#mappingDescs.get(key);
    if (!d) {
      d = { file, buildId, start, limit, offset };
      this.#mappingDescs.set(key, d);
    }
    return d;
  }
}
