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

/** Symbols as columns, no object per symbol (one binary may have millions): start and size per symbol
 *  and every name as UTF-8 bytes in one buffer, symbol i's at nameOffsets[i]..nameOffsets[i + 1]. */
export class SymbolColumns {
  constructor(
    readonly starts: BigUint64Array,
    readonly sizes: BigUint64Array,
    readonly nameOffsets: Uint32Array,
    readonly names: Buffer,
  ) {}

  get length(): number {
    return this.starts.length;
  }

  static fromRaw(symbols: readonly RawSymbol[]): SymbolColumns {
    const names = symbols.map((s) => Buffer.from(s.name, 'utf8'));
    const offsets = new Uint32Array(symbols.length + 1);
    names.forEach((n, i) => (offsets[i + 1] = offsets[i] + n.length));
    const out = new SymbolColumns(new BigUint64Array(symbols.length), new BigUint64Array(symbols.length), offsets, Buffer.concat(names));
    symbols.forEach((s, i) => {
      out.starts[i] = s.start;
      out.sizes[i] = s.size;
    });
    return out;
  }

  /** `a`'s symbols, then `b`'s (at equal starts the later one wins, as in the table). */
  static concat(a: SymbolColumns, b: SymbolColumns): SymbolColumns {
    const n = a.length + b.length;
    const starts = new BigUint64Array(n);
    const sizes = new BigUint64Array(n);
    starts.set(a.starts);
    starts.set(b.starts, a.length);
    sizes.set(a.sizes);
    sizes.set(b.sizes, a.length);
    const offsets = new Uint32Array(n + 1);
    offsets.set(a.nameOffsets);
    const base = a.nameOffsets[a.length];
    for (let i = 1; i <= b.length; i++) offsets[a.length + i] = base + b.nameOffsets[i];
    return new SymbolColumns(starts, sizes, offsets, Buffer.concat([a.names, b.names]));
  }
}

/** Builds columns symbol by symbol, names copied as bytes (never made into strings). */
export class SymbolColumnsBuilder {
  #starts = new BigUint64Array(1024);
  #sizes = new BigUint64Array(1024);
  #offsets = new Uint32Array(1025);
  #names = Buffer.allocUnsafe(16 << 10);
  #n = 0;

  add(start: bigint, size: bigint, bytes: Buffer, from: number, to: number): void {
    if (this.#n === this.#starts.length) {
      const grow = <T extends BigUint64Array | Uint32Array>(a: T, len: number): T => {
        const b = new (a.constructor as new (n: number) => T)(len);
        b.set(a as never);
        return b;
      };
      this.#starts = grow(this.#starts, this.#n * 2);
      this.#sizes = grow(this.#sizes, this.#n * 2);
      this.#offsets = grow(this.#offsets, this.#n * 2 + 1);
    }
    const o = this.#offsets[this.#n];
    if (o + (to - from) > this.#names.length) {
      const b = Buffer.allocUnsafe(Math.max(this.#names.length * 2, o + (to - from)));
      this.#names.copy(b, 0, 0, o);
      this.#names = b;
    }
    bytes.copy(this.#names, o, from, to);
    this.#starts[this.#n] = start;
    this.#sizes[this.#n] = size;
    this.#n++;
    this.#offsets[this.#n] = o + (to - from);
  }

  get length(): number {
    return this.#n;
  }

  build(): SymbolColumns {
    const n = this.#n;
    return new SymbolColumns(this.#starts.slice(0, n), this.#sizes.slice(0, n), this.#offsets.slice(0, n + 1), Buffer.from(this.#names.subarray(0, this.#offsets[n])));
  }
}

/** A sorted table held compactly: starts and ends as u64 arrays, names as UTF-8 bytes in one buffer
 *  (a string is made only for a symbol looked up). */
export class SymbolTable implements SymbolSource {
  readonly #starts: BigUint64Array;
  readonly #ends: BigUint64Array;
  readonly #nameOffsets: Uint32Array;
  readonly #names: Buffer;

  /**
   * @param symbols in any order; at equal addresses the last one given wins (perf maps append
   *   newer code for reused addresses) unless a sized symbol competes with an unsized alias.
   * @param maxUnsizedSpan how far an unsized symbol may reach before the next symbol
   */
  constructor(symbols: readonly RawSymbol[] | SymbolColumns, maxUnsizedSpan = 1n << 20n) {
    const c = symbols instanceof SymbolColumns ? symbols : SymbolColumns.fromRaw(symbols);
    const order = new Uint32Array(c.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((x, y) => (c.starts[x] < c.starts[y] ? -1 : c.starts[x] > c.starts[y] ? 1 : x - y));
    // one per start: the last given, except that an unsized alias never replaces a sized symbol
    const kept: number[] = [];
    for (const i of order) {
      const last = kept.length - 1;
      if (last >= 0 && c.starts[kept[last]] === c.starts[i]) {
        if (!(c.sizes[kept[last]] > 0n && c.sizes[i] === 0n)) kept[last] = i;
      } else kept.push(i);
    }
    const n = kept.length;
    this.#starts = new BigUint64Array(n);
    this.#ends = new BigUint64Array(n);
    this.#nameOffsets = new Uint32Array(n + 1);
    let bytes = 0;
    for (const i of kept) bytes += c.nameOffsets[i + 1] - c.nameOffsets[i];
    this.#names = Buffer.allocUnsafe(bytes);
    let o = 0;
    kept.forEach((i, k) => (this.#starts[k] = c.starts[i]));
    kept.forEach((i, k) => {
      const start = c.starts[i];
      const next = k + 1 < n ? this.#starts[k + 1] : start + maxUnsizedSpan;
      const unsizedEnd = next < start + maxUnsizedSpan ? next : start + maxUnsizedSpan;
      this.#ends[k] = c.sizes[i] > 0n ? start + c.sizes[i] : unsizedEnd;
      this.#nameOffsets[k] = o;
      o += c.names.copy(this.#names, o, c.nameOffsets[i], c.nameOffsets[i + 1]);
    });
    this.#nameOffsets[n] = o;
  }

  get size(): number {
    return this.#starts.length;
  }

  /** bytes held: what the ELF cache's bound counts */
  get bytes(): number {
    return this.#starts.byteLength + this.#ends.byteLength + this.#nameOffsets.byteLength + this.#names.byteLength;
  }

  lookup(address: bigint): SymbolHit | null {
    const found = floorIndex(this.#starts, address);
    if (found < 0 || address >= this.#ends[found]) return null;
    return { name: this.#names.toString('utf8', this.#nameOffsets[found], this.#nameOffsets[found + 1]), start: this.#starts[found] };
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
