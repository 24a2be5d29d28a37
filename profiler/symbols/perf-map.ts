/* JIT symbols from perf-PID.map files (Node.js --perf-basic-prof, Java perf-map-agent, ...):
 * one "START SIZE name" line per compiled function, addresses in hex. */
import { readFileSync, statSync } from 'node:fs';
import { SymbolTable, type RawSymbol } from './symbol-table.js';

/** A map file can grow without bound; past this many entries the oldest lines are ignored. */
export const PERF_MAP_MAX_ENTRIES = 500_000;

export function parsePerfMap(text: string): RawSymbol[] {
  const lines = text.split('\n');
  const first = Math.max(0, lines.length - PERF_MAP_MAX_ENTRIES - 1);
  const out: RawSymbol[] = [];
  for (let i = first; i < lines.length; i++) {
    const line = lines[i];
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a <= 0 || b <= a) continue;
    const start = line.slice(0, a);
    const size = line.slice(a + 1, b);
    if (!/^(0x)?[0-9a-fA-F]+$/.test(start) || !/^(0x)?[0-9a-fA-F]+$/.test(size)) continue;
    out.push({
      start: BigInt(start.startsWith('0x') ? start : `0x${start}`),
      size: BigInt(size.startsWith('0x') ? size : `0x${size}`),
      name: line.slice(b + 1).trim(),
    });
  }
  return out;
}

/** One process's perf map, re-read when the file changes (JITs append as they compile). */
export class PerfMap {
  #table: SymbolTable | null = null;
  #mtimeMs = -1;
  #size = -1;
  #checkedAt = -Infinity;
  #exists = false;

  constructor(
    readonly path: string,
    /** how often the file is stat()ed at most: lookups come once per frame */
    readonly checkIntervalMs = 1000,
  ) {}

  /** Re-reads the file if it changed; returns false when there is no such file. */
  refresh(now = performance.now()): boolean {
    if (now - this.#checkedAt < this.checkIntervalMs) return this.#exists;
    this.#checkedAt = now;
    this.#exists = this.#refresh();
    return this.#exists;
  }

  #refresh(): boolean {
    let st;
    try {
      st = statSync(this.path);
    } catch {
      this.#table = null;
      return false;
    }
    if (st.mtimeMs !== this.#mtimeMs || st.size !== this.#size) {
      this.#table = new SymbolTable(parsePerfMap(readFileSync(this.path, 'utf8')), 0n);
      this.#mtimeMs = st.mtimeMs;
      this.#size = st.size;
    }
    return true;
  }

  get table(): SymbolTable | null {
    return this.#table;
  }
}
