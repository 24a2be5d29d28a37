/* A sorted address → name table: the one structure every symbol source (ELF, perf map, kallsyms)
 * fills and looks up. Addresses are u64 (kernel addresses do not fit in a double). */

export interface SymbolHit {
  name: string;
  /** start address of the symbol */
  start: bigint;
}

export interface SymbolSource {
  /** The symbol containing `address`, or null. */
  lookup(address: bigint): SymbolHit | null;
  readonly size: number;
}

export interface RawSymbol {
  start: bigint;
  /** 0 when unknown: then the symbol extends to the next one (bounded by maxUnsizedSpan) */
  size: bigint;
  name: string;
}

export class SymbolTable implements SymbolSource {
  readonly #starts: BigUint64Array;
  readonly #ends: BigUint64Array;
  readonly #names: string[];

  /**
   * @param symbols in any order; at equal addresses the last one given wins (perf maps append
   *   newer code for reused addresses) unless a sized symbol competes with an unsized alias.
   * @param maxUnsizedSpan how far an unsized symbol may reach before the next symbol
   */
  constructor(symbols: RawSymbol[], maxUnsizedSpan = 1n << 20n) {
    const byStart = new Map<bigint, RawSymbol>();
    for (const s of symbols) {
      const prev = byStart.get(s.start);
      if (prev && prev.size > 0n && s.size === 0n) continue;
      byStart.set(s.start, s);
    }
    const sorted = [...byStart.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.#starts = new BigUint64Array(sorted.length);
    this.#ends = new BigUint64Array(sorted.length);
    this.#names = new Array<string>(sorted.length);
    sorted.forEach((s, i) => {
      this.#starts[i] = s.start;
      const next = i + 1 < sorted.length ? sorted[i + 1].start : s.start + maxUnsizedSpan;
      const unsizedEnd = next < s.start + maxUnsizedSpan ? next : s.start + maxUnsizedSpan;
      this.#ends[i] = s.size > 0n ? s.start + s.size : unsizedEnd;
      this.#names[i] = s.name;
    });
  }

  get size(): number {
    return this.#names.length;
  }

  lookup(address: bigint): SymbolHit | null {
    const found = floorIndex(this.#starts, address);
    if (found < 0 || address >= this.#ends[found]) return null;
    return { name: this.#names[found], start: this.#starts[found] };
  }
}

/** Index of the last element of a sorted array at or below `x`, or -1 (binary search). */
export function floorIndex<T extends number | bigint>(sorted: ArrayLike<T>, x: T): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
