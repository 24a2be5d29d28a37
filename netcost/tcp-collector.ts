/* The kernel half of network cost: bpf/tcp.bpf.c's per-connection cumulative counters turned into
 * deltas since the previous collect() (cumulative -> delta, closed connections included exactly once). */
import { BpfObject, type BpfMap } from '../native/index.js';
import { readPerCpuCounter, readPerCpuCounters, u32Buffer, u64Buffer } from '../native/decode.js';
import type { EgressShare } from '../profiler/sampler.js';
import { TCP_CONN, TCP_LOSS_STATS, TCP_STATS, decodeTcpConn, type TcpConn } from './tcp-layout.js';

export interface TcpDelta extends Omit<TcpConn, 'bytesSent' | 'bytesReceived' | 'retransmits'> {
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  closed: boolean;
  /** first time this connection is reported (a new connection since the previous call) */
  opened: boolean;
}

interface Seen {
  sent: bigint;
  received: bigint;
  retransmits: bigint;
}

export class TcpCollector {
  readonly bpf: BpfObject;
  readonly #conns: BpfMap;
  readonly #closed: BpfMap;
  readonly #stats: BpfMap;
  #closedSeen = -1n;
  /** last cumulative values per connection (socket address + open time) */
  #seen = new Map<string, Seen>();

  /** @param egress the profiler's maps for egress stacks (its sampler's egressShare()): the send program
   *  then counts down bytes per connection and walks the sender's stack at each sample point */
  constructor(opts: { maxConnections?: number; maxClosedPerCollect?: number; egress?: EgressShare | null } = {}) {
    const e = opts.egress ?? null;
    // without egress stacks the shared maps are never touched (their code is dead): one entry each
    const unused: Record<string, number> = e ? {} : { profile_stacks: 1, unwind_rows: 1, unwind_tables: 1, unwind_procs: 1, unwind_requests: 1, egress_gaps: 1, egress_counts0: 1, egress_counts1: 1 };
    const [obj, maps] = BpfObject.load(
      'tcp',
      { tcp_conns: opts.maxConnections ?? 65536, tcp_closed: opts.maxClosedPerCollect ?? 65536, ...unused },
      (o) => {
        for (const p of ['tcp_state', 'tcp_send', 'tcp_recv', 'tcp_retransmit']) o.attach(p);
        return { conns: o.map('tcp_conns'), closed: o.map('tcp_closed'), stats: o.map('tcp_stats') };
      },
      e ? { egress_bytes_per_sample: u64Buffer(BigInt(e.bytesPerSample)), unwind_with_tables: u32Buffer(e.tables ? 1 : 0) } : {},
      e?.maps ?? {},
    );
    this.bpf = obj;
    this.#conns = maps.conns;
    this.#closed = maps.closed;
    this.#stats = maps.stats;
  }

  /**
   * Bytes and retransmits of every connection since the previous call: open ones as they go, closed
   * ones drained from their map (which must not fill between two calls).
   */
  collect(): TcpDelta[] {
    const out: TcpDelta[] = [];
    const zero: Seen = { sent: 0n, received: 0n, retransmits: 0n };
    const emit = (c: TcpConn, prev: Seen | undefined, closed: boolean) => {
      const p = prev ?? zero;
      const d = { sent: c.bytesSent - p.sent, received: c.bytesReceived - p.received, retransmits: c.retransmits - p.retransmits };
      if (d.sent > 0n || d.received > 0n || d.retransmits > 0n || (closed && c.failed)) {
        out.push({ ...c, bytesSent: Number(d.sent), bytesReceived: Number(d.received), retransmits: Number(d.retransmits), closed, opened: prev === undefined });
      }
      // a connection reported without activity yet stays "unseen", so it counts as opened once
      return prev !== undefined || d.sent > 0n || d.received > 0n || d.retransmits > 0n;
    };
    // open connections first (read, not deleted), then the closed ones (drained). A connection that
    // closes between the two reads shows in both: its closed delta starts where the open one ended.
    const next = new Map<string, Seen>();
    const dump = this.#conns.dump();
    for (let i = 0; i < dump.count; i++) {
      const c = decodeTcpConn(dump.values, i * TCP_CONN.size);
      const id = `${dump.keys.readBigUInt64LE(i * 8)}:${c.openedNs}`;
      if (emit(c, this.#seen.get(id), false)) next.set(id, { sent: c.bytesSent, received: c.bytesReceived, retransmits: c.retransmits });
    }
    const before = this.#seen;
    this.#seen = next;
    // Draining a hash map walks every bucket (65,536 by default): only when a close was counted since
    // the last drain. A close counted after this read waits for the next call, whose `before` still
    // holds its last open values.
    const closedCount = readPerCpuCounter(this.#stats, TCP_STATS.indexOf('closed'));
    if (closedCount === this.#closedSeen) return out;
    this.#closedSeen = closedCount;
    const closed = this.#closed.drain();
    for (let i = 0; i < closed.count; i++) {
      const c = decodeTcpConn(closed.values, i * TCP_CONN.size);
      const id = `${closed.keys.readBigUInt64LE(i * 16)}:${c.openedNs}`;
      // its last values: from this call's dump, or (closed since the previous dump) from before it
      emit(c, this.#seen.get(id) ?? before.get(id), true);
      this.#seen.delete(id);
    }
    return out;
  }

  /** Connections in the kernel map right now, all or those with `port` at either end (reads the map:
   *  tests, soak bench). */
  openConnections(port?: number): number {
    const dump = this.#conns.dump();
    if (port === undefined) return dump.count;
    let n = 0;
    for (let i = 0; i < dump.count; i++) {
      const c = decodeTcpConn(dump.values, i * TCP_CONN.size);
      if (c.localPort === port || c.remotePort === port) n++;
    }
    return n;
  }

  losses(): Record<(typeof TCP_LOSS_STATS)[number], bigint> {
    return readPerCpuCounters(this.#stats, TCP_LOSS_STATS);
  }


  close(): void {
    this.bpf.close();
  }
}
