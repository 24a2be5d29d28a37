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
    const n = symbols.length;
    const offsets = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + Buffer.byteLength(symbols[i].name, 'utf8');
    // one buffer from one string: a Buffer per name cost ~1 s for the kernel's 200 k symbols
    const out = new SymbolColumns(new BigUint64Array(n), new BigUint64Array(n), offsets, Buffer.from(symbols.map((s) => s.name).join(''), 'utf8'));
    for (let i = 0; i < n; i++) {
      out.starts[i] = symbols[i].start;
      out.sizes[i] = symbols[i].size;
    }
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
  /** symbol k's name is #names[#nameStart[k] .. #nameEnd[k]] (the columns' buffer, shared, not copied) */
  readonly #nameStart: Uint32Array;
  readonly #nameEnd: Uint32Array;
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
    // compared as two u32 halves: reading a BigUint64Array makes a BigInt per read, and a sort of a
    // large binary's symbols made millions of them (seconds with the event loop held)
    const halves = new Uint32Array(c.starts.buffer, c.starts.byteOffset, c.length * 2);
    const sizeHalves = new Uint32Array(c.sizes.buffer, c.sizes.byteOffset, c.length * 2);
    order.sort((x, y) => halves[2 * x + 1] - halves[2 * y + 1] || halves[2 * x] - halves[2 * y] || x - y);
    const sized = (i: number) => sizeHalves[2 * i] !== 0 || sizeHalves[2 * i + 1] !== 0;
    // one per start: the last given, except that an unsized alias never replaces a sized symbol
    const kept = new Uint32Array(order.length);
    let n = 0;
    for (const i of order) {
      const last = kept[n - 1];
      if (n > 0 && halves[2 * last] === halves[2 * i] && halves[2 * last + 1] === halves[2 * i + 1]) {
        if (!(sized(last) && !sized(i))) kept[n - 1] = i;
      } else kept[n++] = i;
    }
    this.#starts = new BigUint64Array(n);
    this.#ends = new BigUint64Array(n);
    this.#nameStart = new Uint32Array(n);
    this.#nameEnd = new Uint32Array(n);
    this.#names = c.names;
    for (let k = 0; k < n; k++) {
      const i = kept[k];
      this.#starts[k] = c.starts[i];
      this.#nameStart[k] = c.nameOffsets[i];
      this.#nameEnd[k] = c.nameOffsets[i + 1];
    }
    for (let k = 0; k < n; k++) {
      const i = kept[k];
      const start = this.#starts[k];
      if (sized(i)) {
        this.#ends[k] = start + c.sizes[i];
        continue;
      }
      const reach = start + maxUnsizedSpan;
      const next = k + 1 < n ? this.#starts[k + 1] : reach;
      this.#ends[k] = next < reach ? next : reach;
    }
  }

  get size(): number {
    return this.#starts.length;
  }

  /** bytes held: what the ELF cache's bound counts */
  get bytes(): number {
    return this.#starts.byteLength + this.#ends.byteLength + this.#nameStart.byteLength * 2 + this.#names.byteLength;
  }

  lookup(address: bigint): SymbolHit | null {
    const found = floorIndex(this.#starts, address);
    if (found < 0 || address >= this.#ends[found]) return null;
    return { name: this.#names.toString('utf8', this.#nameStart[found], this.#nameEnd[found]), start: this.#starts[found] };
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
