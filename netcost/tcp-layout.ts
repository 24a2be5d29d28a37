/* Decoder for struct tcp_conn in bpf/tcp.h; offsets checked against the C header by tcp.test.ts. */
import { address, cString } from '../native/decode.js';

export const TCP_CONN = {
  size: 112,
  tgid: 0,
  flags: 4,
  cgroup_id: 8,
  comm: 16,
  saddr: 32,
  daddr: 48,
  sport: 64,
  dport: 66,
  family: 68,
  bytes_sent: 72,
  bytes_received: 80,
  retransmits: 88,
  opened_ns: 96,
  egress_left: 104,
} as const;

export const TCP_INBOUND = 1;
export const TCP_ESTABLISHED = 2;
export const TCP_FAILED = 8;
export const TCP_STATS = ['connsMapFull', 'closedMapFull', 'closed'] as const;
/** the counters that are losses */
export const TCP_LOSS_STATS = ['connsMapFull', 'closedMapFull'] as const;
const AF_INET = 2;

export interface TcpConn {
  tgid: number;
  inbound: boolean;
  /** watched since the connection was established (or since its connect) */
  established: boolean;
  /** a connect that closed without being established (refused, timed out, reset) */
  failed: boolean;
  cgroupId: bigint;
  comm: string;
  family: 4 | 6;
  localAddress: string;
  remoteAddress: string;
  localPort: number;
  remotePort: number;
  bytesSent: bigint;
  bytesReceived: bigint;
  retransmits: bigint;
  openedNs: bigint;
}

export function decodeTcpConn(buf: Buffer, off: number): TcpConn {
  const v4 = buf.readUInt16LE(off + TCP_CONN.family) === AF_INET;
  const flags = buf.readUInt32LE(off + TCP_CONN.flags);
  return {
    tgid: buf.readUInt32LE(off + TCP_CONN.tgid),
    inbound: (flags & TCP_INBOUND) !== 0,
    established: (flags & TCP_ESTABLISHED) !== 0,
    failed: (flags & TCP_FAILED) !== 0,
    cgroupId: buf.readBigUInt64LE(off + TCP_CONN.cgroup_id),
    comm: cString(buf, off + TCP_CONN.comm, 16),
    family: v4 ? 4 : 6,
    localAddress: address(buf, off + TCP_CONN.saddr, v4),
    remoteAddress: address(buf, off + TCP_CONN.daddr, v4),
    localPort: buf.readUInt16LE(off + TCP_CONN.sport),
    remotePort: buf.readUInt16LE(off + TCP_CONN.dport),
    bytesSent: buf.readBigUInt64LE(off + TCP_CONN.bytes_sent),
    bytesReceived: buf.readBigUInt64LE(off + TCP_CONN.bytes_received),
    retransmits: buf.readBigUInt64LE(off + TCP_CONN.retransmits),
    openedNs: buf.readBigUInt64LE(off + TCP_CONN.opened_ns),
  };
}
