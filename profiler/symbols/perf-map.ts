/* JIT symbols from perf-PID.map files (Node.js --perf-basic-prof, Java perf-map-agent, ...):
 * one "START SIZE name" line per compiled function, addresses in hex.
 *
 * The file lives in a directory the watched process controls (/tmp inside its root), so it is read as
 * hostile input: opened without following a final symlink and without blocking (a FIFO or a device
 * is refused at once, never waited on), only when it is a regular file owned by the process's user
 * (or root), and only what was appended since the last read, in bounded chunks, up to a bound per
 * file. Symbols are held compactly: sorted Float64Array address runs and names as UTF-8 bytes, in a
 * few segments merged as they grow (newest first: JITs reuse addresses for newer code). */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { floorIndex, type RawSymbol, type SymbolHit, type SymbolSource } from './symbol-table.js';

/** File bytes read from one perf map at most; past it the rest is ignored and counted. */
export const PERF_MAP_MAX_BYTES = 32 << 20;
/** Bytes read per refresh at most: a huge file is taken in steps, never in one long stall. */
export const PERF_MAP_READ_CHUNK = 4 << 20;
/** A line longer than this is skipped (no JIT writes one; a hostile file might). */
const MAX_LINE_BYTES = 4096;

export function parsePerfMap(text: string): RawSymbol[] {
  const out: RawSymbol[] = [];
  for (const line of text.split('\n')) {
    const s = parseLine(line);
    if (s) out.push({ start: BigInt(s.start), size: BigInt(s.size), name: s.name });
  }
  return out;
}

function parseLine(line: string): { start: number; size: number; name: string } | null {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  if (a <= 0 || b <= a) return null;
  const start = line.slice(0, a);
  const size = line.slice(a + 1, b);
  if (!/^(0x)?[0-9a-fA-F]{1,16}$/.test(start) || !/^(0x)?[0-9a-fA-F]{1,16}$/.test(size)) return null;
  const s = Number.parseInt(start.replace(/^0x/, ''), 16);
  const n = Number.parseInt(size.replace(/^0x/, ''), 16);
  // user-space code addresses are below 2^47: exact as doubles
  if (!(s < 2 ** 53) || !(n < 2 ** 53)) return null;
  return { start: s, size: n, name: line.slice(b + 1).trim() };
}

/** One sorted run of symbols: addresses as doubles, names as slices of one UTF-8 buffer. */
class Segment {
  constructor(
    readonly starts: Float64Array,
    readonly ends: Float64Array,
    readonly nameOffsets: Uint32Array,
    readonly names: Buffer,
  ) {}

  get size(): number {
    return this.starts.length;
  }

  get bytes(): number {
    return this.starts.byteLength * 2 + this.nameOffsets.byteLength + this.names.byteLength;
  }

  name(i: number): string {
    return this.names.toString('utf8', this.nameOffsets[i], this.nameOffsets[i + 1]);
  }

  /** Index of the symbol containing `address`, or -1. */
  find(address: number): number {
    const found = floorIndex(this.starts, address);
    return found >= 0 && address < this.ends[found] ? found : -1;
  }

  /** Sorted by start; at equal starts the later entry wins. */
  static build(entries: { start: number; end: number; name: Buffer }[]): Segment {
    const order = entries.map((_, i) => i).sort((x, y) => entries[x].start - entries[y].start || x - y);
    const kept: number[] = [];
    for (const i of order) {
      if (kept.length && entries[kept[kept.length - 1]].start === entries[i].start) kept[kept.length - 1] = i;
      else kept.push(i);
    }
    const starts = new Float64Array(kept.length);
    const ends = new Float64Array(kept.length);
    const offsets = new Uint32Array(kept.length + 1);
    let total = 0;
    for (const i of kept) total += entries[i].name.length;
    const names = Buffer.allocUnsafe(total);
    let o = 0;
    kept.forEach((i, k) => {
      starts[k] = entries[i].start;
      ends[k] = entries[i].end;
      offsets[k] = o;
      o += entries[i].name.copy(names, o);
    });
    offsets[kept.length] = o;
    return new Segment(starts, ends, offsets, names);
  }

  /** This segment's entries, for merging (older segment first, so newer entries win). */
  entries(): { start: number; end: number; name: Buffer }[] {
    return Array.from({ length: this.size }, (_, i) => ({ start: this.starts[i], end: this.ends[i], name: this.names.subarray(this.nameOffsets[i], this.nameOffsets[i + 1]) }));
  }
}

/** Newest segment first; merged geometrically so there are O(log n) segments. */
class SegmentedTable implements SymbolSource {
  readonly segments: Segment[] = [];

  add(seg: Segment): void {
    if (seg.size === 0) return;
    this.segments.unshift(seg);
    while (this.segments.length > 1 && this.segments[0].size * 2 >= this.segments[1].size) {
      const [newer, older] = this.segments.splice(0, 2);
      this.segments.unshift(Segment.build([...older.entries(), ...newer.entries()]));
    }
  }

  get size(): number {
    return this.segments.reduce((n, s) => n + s.size, 0);
  }

  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  lookup(address: bigint): SymbolHit | null {
    const a = Number(address);
    for (const seg of this.segments) {
      const i = seg.find(a);
      if (i >= 0) return { name: seg.name(i), start: BigInt(seg.starts[i]) };
    }
    return null;
  }
}

export type PerfMapRefusal = 'not_regular_file' | 'wrong_owner' | 'too_large';

/** One process's perf map, extended with what the JIT appended since the last read. */
export class PerfMap {
  #table: SegmentedTable | null = null;
  #checkedAt = -Infinity;
  #exists = false;
  #ino = -1n;
  #offset = 0;
  /** bytes of a line not yet terminated at the end of the last read */
  #partial: Buffer = Buffer.alloc(0);
  /** set when the file was refused (kept until it is replaced by an acceptable one) */
  refused: PerfMapRefusal | null = null;
  /** true when the file passed PERF_MAP_MAX_BYTES: what lies past it is not read */
  truncated = false;

  constructor(
    readonly path: string,
    /** how often the file is looked at at most: lookups come once per frame */
    readonly checkIntervalMs = 1000,
    /** the user the file must belong to (the process's); root-owned files are accepted too */
    readonly ownerUid?: number,
  ) {}

  /** Reads what was appended since the last look; returns false when there is no usable file. */
  refresh(now = performance.now()): boolean {
    if (now - this.#checkedAt < this.checkIntervalMs) return this.#exists;
    this.#checkedAt = now;
    this.#exists = this.#refresh();
    return this.#exists;
  }

  #refresh(): boolean {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever
      fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY);
    } catch {
      this.#reset();
      this.refused = null;
      return false;
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      if (!st.isFile()) return this.#refuse('not_regular_file');
      if (this.ownerUid !== undefined && st.uid !== BigInt(this.ownerUid) && st.uid !== 0n) return this.#refuse('wrong_owner');
      if (st.ino !== this.#ino || st.size < BigInt(this.#offset)) {
        // a new file, or rewritten from the start
        this.#reset();
        this.#ino = st.ino;
      }
      this.refused = null;
      this.#table ??= new SegmentedTable();
      const size = Number(st.size);
      const limit = Math.min(size, PERF_MAP_MAX_BYTES);
      if (size > PERF_MAP_MAX_BYTES) this.truncated = true;
      if (limit > this.#offset) this.#readFrom(fd, this.#offset, Math.min(limit - this.#offset, PERF_MAP_READ_CHUNK));
      return true;
    } finally {
      closeSync(fd);
    }
  }

  #refuse(why: PerfMapRefusal): false {
    this.#reset();
    this.refused = why;
    return false;
  }

  #reset(): void {
    this.#table = null;
    this.#ino = -1n;
    this.#offset = 0;
    this.#partial = Buffer.alloc(0);
    this.truncated = false;
  }

  #readFrom(fd: number, offset: number, length: number): void {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    this.#offset = offset + got;
    const data = this.#partial.length ? Buffer.concat([this.#partial, buf.subarray(0, got)]) : buf.subarray(0, got);
    const lastNl = data.lastIndexOf(0x0a);
    const complete = lastNl < 0 ? data.subarray(0, 0) : data.subarray(0, lastNl + 1);
    const rest = lastNl < 0 ? data : data.subarray(lastNl + 1);
    this.#partial = rest.length > MAX_LINE_BYTES ? Buffer.alloc(0) : Buffer.from(rest);
    const entries: { start: number; end: number; name: Buffer }[] = [];
    let pos = 0;
    while (pos < complete.length) {
      let end = complete.indexOf(0x0a, pos);
      if (end < 0) end = complete.length;
      if (end - pos <= MAX_LINE_BYTES) {
        const s = parseLine(complete.toString('utf8', pos, end));
        if (s) entries.push({ start: s.start, end: s.start + s.size, name: Buffer.from(s.name) });
      }
      pos = end + 1;
    }
    this.#table ??= new SegmentedTable();
    this.#table.add(Segment.build(entries));
  }

  get table(): SymbolSource | null {
    return this.#table;
  }

  /** Memory the symbols take (typed arrays and name bytes). */
  get bytes(): number {
    return this.#table?.bytes ?? 0;
  }
}
