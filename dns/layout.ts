/* Decoder for the ring buffer records of bpf/dns.bpf.c (struct dns_event in bpf/dns.h); offsets are
 * checked against the C header by dns.test.ts (the addon exports offsetof() of every field). */
import { cString } from '../native/decode.js';
import { address } from '../native/decode.js';

export const DNS_EVENT = {
  ts_ns: 0,
  sock: 8,
  cgroup_id: 16,
  tgid: 24,
  pid: 28,
  len: 32,
  caplen: 36,
  dir: 38,
  proto: 39,
  family: 40,
  port: 42,
  flags: 44,
  addr: 52,
  comm: 68,
  data: 84,
} as const;

/** Indexes of the per-CPU dns_stats array (enum dns_stat). */
export const DNS_STATS = ['ringbufFull', 'argsMapFull', 'sockRegisterFailed', 'partsNotRead'] as const;
export const DNS_FLAG_IOV_TRUNC = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;

export interface DnsEvent {
  /** CLOCK_MONOTONIC nanoseconds */
  tsNs: bigint;
  /** the socket (its cookie): identity for matching and stream reassembly */
  sock: bigint;
  cgroupId: bigint;
  tgid: number;
  pid: number;
  /** bytes the kernel moved; `data` holds the first of them */
  len: number;
  /** `unreachable`: a call on the socket failed with ECONNREFUSED (ICMP port unreachable); no data */
  dir: 'send' | 'recv' | 'unreachable';
  transport: 'udp' | 'tcp';
  /** nameserver address and port ('' when unknown) */
  peer: string;
  port: number;
  flags: number;
  comm: string;
  data: Buffer;
}

function peerAddress(buf: Buffer, off: number, family: number): string {
  return family === AF_INET || family === AF_INET6 ? address(buf, off, family === AF_INET) : '';
}

/**
 * Splits a buffer of ring buffer records (u32 length, bytes, padded to 8: native ringbufConsume) into
 * events. A record too short for its header is counted in `malformed`, not thrown.
 */
export function decodeDnsEvents(buf: Buffer, out: DnsEvent[] = []): { events: DnsEvent[]; malformed: number } {
  let malformed = 0;
  for (let off = 0; off + 4 <= buf.length; ) {
    const n = buf.readUInt32LE(off);
    const rec = buf.subarray(off + 4, off + 4 + n);
    off += 4 + ((n + 7) & ~7);
    if (rec.length < DNS_EVENT.data) {
      malformed++;
      continue;
    }
    const caplen = Math.min(rec.readUInt16LE(DNS_EVENT.caplen), rec.length - DNS_EVENT.data);
    out.push({
      tsNs: rec.readBigUInt64LE(DNS_EVENT.ts_ns),
      sock: rec.readBigUInt64LE(DNS_EVENT.sock),
      cgroupId: rec.readBigUInt64LE(DNS_EVENT.cgroup_id),
      tgid: rec.readUInt32LE(DNS_EVENT.tgid),
      pid: rec.readUInt32LE(DNS_EVENT.pid),
      len: rec.readUInt32LE(DNS_EVENT.len),
      dir: rec[DNS_EVENT.dir] === 0 ? 'send' : rec[DNS_EVENT.dir] === 2 ? 'unreachable' : 'recv',
      transport: rec[DNS_EVENT.proto] === IPPROTO_TCP ? 'tcp' : 'udp',
      peer: peerAddress(rec, DNS_EVENT.addr, rec.readUInt16LE(DNS_EVENT.family)),
      port: rec.readUInt16LE(DNS_EVENT.port),
      flags: rec[DNS_EVENT.flags],
      comm: cString(rec, DNS_EVENT.comm, 16),
      data: Buffer.from(rec.subarray(DNS_EVENT.data, DNS_EVENT.data + caplen)),
    });
  }
  return { events: out, malformed };
}
