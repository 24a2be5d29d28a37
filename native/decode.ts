/* Decoding what BPF maps hand back: C strings and per-CPU counter arrays, shared by every collector's
 * layout module (each struct's own decoder lives beside its collector). */
import ipaddr from 'ipaddr.js';
import { numPossibleCpus, type BpfMap } from './index.js';

/** A NUL-terminated string of at most `len` bytes (a task comm). */
export function cString(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

/** A u32 as 4 little-endian bytes: the key of an array map or a hash map keyed by tgid or index. */
export function u32Buffer(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function u64Buffer(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

/** Reads element `index` of a per-CPU u64 counter array, summed over CPUs (one map lookup). */
export function readPerCpuCounter(map: BpfMap, index: number): bigint {
  const v = map.lookup(u32Buffer(index), 8 * numPossibleCpus());
  return v ? sumPerCpu(v) : 0n;
}

/** Reads a per-CPU u64 counter array: element i summed over CPUs, named names[i]. */
export function readPerCpuCounters<N extends string>(map: BpfMap, names: readonly N[]): Record<N, bigint> {
  const out = {} as Record<N, bigint>;
  names.forEach((name, i) => (out[name] = readPerCpuCounter(map, i)));
  return out;
}

/** Sums a per-CPU u64 array value (one 8-byte slot per possible CPU). */
export function sumPerCpu(buf: Buffer): bigint {
  let total = 0n;
  for (let o = 0; o + 8 <= buf.length; o += 8) total += buf.readBigUInt64LE(o);
  return total;
}

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address as the kernel stores it. */
export function address(buf: Buffer, off: number, v4: boolean): string {
  const bytes = [...buf.subarray(off, off + (v4 ? 4 : 16))];
  const a = ipaddr.fromByteArray(bytes);
  // dual-stack sockets carry IPv4 peers as ::ffff:a.b.c.d: one address, one spelling
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address().toString() : a.toString();
}
