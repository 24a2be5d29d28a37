/* One contract every symbol source runs (ELF tables, perf maps, kallsyms): given a set of symbols
 * in the source's own format, lookups answer the containing symbol or nothing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RawSymbol, SymbolSource } from './symbol-table.js';

export interface SymbolSourceCase {
  name: string;
  /** builds the source from symbols (through its real input format) */
  make(symbols: RawSymbol[]): SymbolSource;
  /** whether the format carries sizes (kallsyms does not: a symbol runs to the next one) */
  sized: boolean;
  base: bigint;
}

export function runSymbolSourceContract(c: SymbolSourceCase): void {
  const b = c.base;
  const syms: RawSymbol[] = [
    { start: b + 0x1000n, size: 0x100n, name: 'alpha' },
    { start: b + 0x1100n, size: 0x40n, name: 'beta' },
    { start: b + 0x2000n, size: 0x10n, name: 'gamma' },
  ];

  test(`${c.name}: finds the symbol containing an address`, () => {
    const s = c.make(syms);
    assert.equal(s.lookup(b + 0x1000n)?.name, 'alpha');
    assert.equal(s.lookup(b + 0x10ffn)?.name, 'alpha');
    assert.equal(s.lookup(b + 0x1100n)?.name, 'beta');
    assert.equal(s.lookup(b + 0x2008n)?.name, 'gamma');
    assert.equal(s.lookup(b + 0x2008n)?.start, b + 0x2000n);
  });

  test(`${c.name}: nothing before the first symbol`, () => {
    assert.equal(c.make(syms).lookup(b + 0xfffn), null);
  });

  test(`${c.name}: respects sizes where the format has them`, () => {
    const hit = c.make(syms).lookup(b + 0x1800n);
    if (c.sized) assert.equal(hit, null, 'gap between beta and gamma');
    else assert.equal(hit?.name, 'beta', 'unsized: runs to the next symbol');
  });

  test(`${c.name}: an empty source finds nothing`, () => {
    assert.equal(c.make([]).lookup(b + 0x1000n), null);
  });
}
