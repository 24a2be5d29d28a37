/* Kernel symbols from /proc/kallsyms (function symbols only, module names kept). */
import { readFileSync } from 'node:fs';
import { SymbolTable, type RawSymbol } from './symbol-table.js';
import type { MappingDesc } from '../types.js';

export function parseKallsyms(text: string): RawSymbol[] {
  const out: RawSymbol[] = [];
  let lineStart = 0;
  while (lineStart < text.length) {
    let end = text.indexOf('\n', lineStart);
    if (end < 0) end = text.length;
    const line = text.slice(lineStart, end);
    lineStart = end + 1;
    const sp1 = line.indexOf(' ');
    const type = line[sp1 + 1];
    if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
    const rest = line.slice(sp1 + 3);
    const tab = rest.indexOf('\t');
    const name = tab < 0 ? rest : `${rest.slice(0, tab)} ${rest.slice(tab + 1).trim()}`;
    const start = BigInt(`0x${line.slice(0, sp1)}`);
    if (start === 0n) continue;
    out.push({ start, size: 0n, name });
  }
  return out;
}

export class Kallsyms {
  readonly table: SymbolTable;
  readonly mapping: MappingDesc;

  constructor(symbols: RawSymbol[]) {
    // kernel text symbols are dense; an unsized symbol is bounded by the next one
    this.table = new SymbolTable(symbols, 1n << 16n);
    let lo = -1n;
    let hi = 0n;
    for (const s of symbols) {
      if (lo < 0n || s.start < lo) lo = s.start;
      if (s.start > hi) hi = s.start;
    }
    this.mapping = { file: '[kernel.kallsyms]', buildId: '', start: lo < 0n ? 0n : lo, limit: hi + (1n << 16n), offset: 0n };
  }

  /** Reads /proc/kallsyms; with kptr_restrict hiding addresses the table is empty. */
  static load(path = '/proc/kallsyms'): Kallsyms {
    return new Kallsyms(parseKallsyms(readFileSync(path, 'latin1')));
  }
}
