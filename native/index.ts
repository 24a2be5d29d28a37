/* Typed wrapper over the C addon (native/src). The only way the rest of Kiln reaches it. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface MapInfo {
  fd: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  type: number;
}

export interface ProgStat {
  name: string;
  id: number;
  runTimeNs: bigint;
  runCount: bigint;
  recursionMisses: bigint;
}

export type StructLayout = Record<string, number> & { size: number };

interface Addon {
  open(name: string): unknown;
  close(h: unknown): void;
  setMaxEntries(h: unknown, map: string, n: number): void;
  setGlobal(h: unknown, name: string, value: Buffer): void;
  load(h: unknown): void;
  attachCpuClock(h: unknown, prog: string, cpu: number, periodNs: number): void;
  attach(h: unknown, prog: string): void;
  reuseMap(h: unknown, map: string, fd: number): void;
  mapInfo(h: unknown, map: string): MapInfo;
  mapDrain(fd: number, keySize: number, valueSize: number, cap: number): { keys: Buffer; values: Buffer; count: number };
  mapDump(fd: number, keySize: number, valueSize: number, cap: number): { keys: Buffer; values: Buffer; count: number };
  mapTake(fd: number, keys: Buffer, keySize: number, valueSize: number): { values: Buffer; found: Buffer };
  mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, keySize: number, valueSize: number): void;
  ringbufConsume(h: unknown, map: string): Buffer;
  progStats(h: unknown): ProgStat[];
  enableStats(): void;
  numPossibleCpus(): number;
  bootTimeOffsetNs(): bigint;
  demangle(symbol: string): string | null;
  layouts: Record<string, StructLayout>;
}

const addonPath = fileURLToPath(new URL('../../native/build/Release/kiln_native.node', import.meta.url));
let addon: Addon | undefined;

function load(): Addon {
  if (!addon) {
    if (!existsSync(addonPath)) {
      throw new Error(`kiln: native addon not built (${addonPath}): run npm install`);
    }
    addon = createRequire(import.meta.url)(addonPath) as Addon;
  }
  return addon;
}

export const BPF_ANY = 0;

/** An error from the kernel or libbpf, with the errno name in `code` (e.g. 'EPERM'). */
export interface NativeError extends Error {
  code: string;
  errno: number;
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as NativeError).code === 'string';
}

/** A BPF map of a loaded object: fixed key and value sizes, raw Buffers in and out. */
export class BpfMap {
  constructor(
    readonly name: string,
    readonly info: MapInfo,
  ) {}

  /** Looks up and deletes every entry with batch calls; returns the entries read. The buffers hold the
   *  whole map, so no batch ends early (ENOSPC when a hash bucket does not fit what is left). */
  drain(): { keys: Buffer; values: Buffer; count: number } {
    return load().mapDrain(this.info.fd, this.info.keySize, this.info.valueSize, this.info.maxEntries);
  }



  /** Reads every entry with batch calls, deleting nothing. */
  dump(): { keys: Buffer; values: Buffer; count: number } {
    return load().mapDump(this.info.fd, this.info.keySize, this.info.valueSize, this.info.maxEntries);
  }

  /** Looks up and deletes the given keys (concatenated); `found[i]` says whether key i existed. */
  take(keys: Buffer): { values: Buffer; found: Buffer } {
    if (keys.length % this.info.keySize !== 0) throw new RangeError(`${this.name}: keys not a multiple of ${this.info.keySize}`);
    return load().mapTake(this.info.fd, keys, this.info.keySize, this.info.valueSize);
  }

  /** For per-CPU maps the value is valueSize rounded up to 8, once per possible CPU. */
  lookup(key: Buffer, valueSize = this.info.valueSize): Buffer | null {
    if (key.length !== this.info.keySize) throw new RangeError(`${this.name}: key must be ${this.info.keySize} bytes`);
    return load().mapLookup(this.info.fd, key, valueSize);
  }

  /** Writes many entries (keys and values concatenated) with batch calls. */
  updateBatch(keys: Buffer, values: Buffer): void {
    if (keys.length % this.info.keySize !== 0 || values.length !== (keys.length / this.info.keySize) * this.info.valueSize) {
      throw new RangeError(`${this.name}: ${keys.length} key bytes and ${values.length} value bytes do not pair up`);
    }
    if (keys.length === 0) return;
    load().mapUpdateBatch(this.info.fd, keys, values, this.info.keySize, this.info.valueSize);
  }

  /** Deletes one entry; false when it was not there. */
  delete(key: Buffer): boolean {
    return load().mapDelete(this.info.fd, key);
  }

  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    if (key.length !== this.info.keySize) throw new RangeError(`${this.name}: key must be ${this.info.keySize} bytes`);
    load().mapUpdate(this.info.fd, key, value, flags);
  }
}

/** One BPF object embedded in the addon (built from bpf/<name>.bpf.c). open → configure → load → attach. */
export class BpfObject {
  #handle: unknown;
  #loaded = false;

  constructor(readonly name: string) {
    this.#handle = load().open(name);
  }

  /**
   * Opens an embedded object, sizes its maps, sets its `const volatile` globals, loads it, then runs
   * `setup` (attach programs, look up maps) and returns what it returns. On any failure the object is
   * closed and the error thrown.
   */
  /** @param reuse maps taken from another loaded object instead of created (name → that map) */
  static load<T>(name: string, maxEntries: Record<string, number>, setup: (obj: BpfObject) => T, globals: Record<string, Buffer> = {}, reuse: Record<string, BpfMap> = {}): [BpfObject, T] {
    // The verifier gives up with EAGAIN when a signal is pending (a profiler's SIGPROF every few ms
    // outlasts a long verification, and libbpf's own retries): a fresh object, a few times more
    for (let attempt = 1; ; attempt++) {
      try {
        return BpfObject.#loadOnce(name, maxEntries, setup, globals, reuse);
      } catch (e) {
        if (!(isNativeError(e) && e.code === 'EAGAIN') || attempt >= 5) throw e;
      }
    }
  }

  static #loadOnce<T>(name: string, maxEntries: Record<string, number>, setup: (obj: BpfObject) => T, globals: Record<string, Buffer>, reuse: Record<string, BpfMap>): [BpfObject, T] {
    const obj = new BpfObject(name);
    try {
      for (const [map, n] of Object.entries(maxEntries)) obj.setMaxEntries(map, n);
      for (const [map, m] of Object.entries(reuse)) load().reuseMap(obj.handle, map, m.info.fd);
      for (const [g, v] of Object.entries(globals)) obj.setGlobal(g, v);
      obj.load();
      return [obj, setup(obj)];
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  private get handle(): unknown {
    if (this.#handle === undefined) throw new Error(`BPF object ${this.name} is closed`);
    return this.#handle;
  }

  setMaxEntries(map: string, n: number): void {
    if (this.#loaded) throw new Error('setMaxEntries must come before load()');
    if (!Number.isInteger(n) || n < 1 || n > 1 << 24) throw new RangeError(`${map}: max entries ${n} out of range`);
    load().setMaxEntries(this.handle, map, n);
  }

  /** Sets a `const volatile` global before load. */
  setGlobal(name: string, value: Buffer): void {
    if (this.#loaded) throw new Error('setGlobal must come before load()');
    load().setGlobal(this.handle, name, value);
  }

  load(): void {
    load().load(this.handle);
    this.#loaded = true;
  }

  attachCpuClock(prog: string, cpu: number, periodNs: number): void {
    load().attachCpuClock(this.handle, prog, cpu, Math.round(periodNs));
  }

  attach(prog: string): void {
    load().attach(this.handle, prog);
  }

  map(name: string): BpfMap {
    return new BpfMap(name, load().mapInfo(this.handle, name));
  }

  /** Every record available in a ring buffer map: u32 length, the bytes, padded to 8 (a copy). */
  ringbufConsume(map: string): Buffer {
    return load().ringbufConsume(this.handle, map);
  }

  progStats(): ProgStat[] {
    return load().progStats(this.handle);
  }

  close(): void {
    if (this.#handle !== undefined) {
      load().close(this.#handle);
      this.#handle = undefined;
    }
  }
}

/** Keeps the kernel's BPF run-time accounting on while this process lives. */
export function enableBpfStats(): void {
  load().enableStats();
}

/** CLOCK_REALTIME − CLOCK_BOOTTIME in ns: a bpf_ktime_get_boot_ns() time plus this is unix time. */
export function bootTimeOffsetNs(): bigint {
  return load().bootTimeOffsetNs();
}

export function numPossibleCpus(): number {
  return load().numPossibleCpus();
}

/** Demangles a C++ (Itanium) or Rust (legacy or v0) symbol; null when it is not mangled. */
export function demangle(symbol: string): string | null {
  return load().demangle(symbol);
}

export function structLayouts(): Record<string, StructLayout> {
  return load().layouts;
}
