/* Window envelopes ↔ kiln.ingest.v1 messages (ARCHITECTURE.md "Many hosts"). A profile window becomes
 * tables of strings, mappings and stacks referred to by index, so a batch carries every stack and mapping
 * it uses once. Decoding checks every index and enum: a malformed batch is refused whole (BatchError). */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { WindowEnvelope } from '../pipeline/contracts.js';
import type { Frame, MappingDesc } from '../profiler/types.js';
import type { DnsTransport } from '../dns/tracker.js';
import type { TrafficClass } from '../netcost/classify.js';
import type { Direction } from '../netcost/flows.js';
import {
  HostSchema,
  PushRequestSchema,
  WindowSchema,
  type Host,
  type PushRequest,
  type Window,
} from './gen/kiln/ingest/v1/ingest_pb.js';

/** A batch that does not decode or refers outside its own tables. */
export class BatchError extends Error {
  override name = 'BatchError';
}

/** A host as its agent registers it: the fields of kiln.ingest.v1.Host. */
export type HostInfo = Omit<Host, '$typeName' | '$unknown'>;

export interface Batch {
  agentId: string;
  sequence: bigint;
  host: HostInfo;
  windows: WindowEnvelope[];
  spooledAtMs: number;
}

const CLASSES = new Set<TrafficClass>(['same-host', 'same-zone', 'cross-az', 'cross-region', 'internet', 'unknown']);
const DIRECTIONS = new Set<Direction>(['outbound', 'inbound', 'unknown']);
const TRANSPORTS = new Set<DnsTransport>(['udp', 'tcp', 'udp+tcp']);

function windowToProto(w: WindowEnvelope): Window {
  const base = { start: BigInt(w.start), seconds: w.seconds };
  switch (w.kind) {
    case 'profile': {
      const strings: string[] = [];
      const stringIdx = new Map<string, number>();
      const str = (s: string) => {
        let i = stringIdx.get(s);
        if (i === undefined) {
          i = strings.length;
          strings.push(s);
          stringIdx.set(s, i);
        }
        return i;
      };
      const mappings: { file: number; buildId: number; start: bigint; limit: bigint; offset: bigint }[] = [];
      const mappingIdx = new Map<MappingDesc, number>();
      const mappingByKey = new Map<string, number>();
      const mapping = (m: MappingDesc) => {
        let i = mappingIdx.get(m);
        if (i !== undefined) return i;
        const key = `${m.file}\0${m.buildId}\0${m.start}\0${m.limit}\0${m.offset}`;
        i = mappingByKey.get(key);
        if (i === undefined) {
          i = mappings.length;
          mappings.push({ file: str(m.file), buildId: str(m.buildId), start: m.start, limit: m.limit, offset: m.offset });
          mappingByKey.set(key, i);
        }
        mappingIdx.set(m, i);
        return i;
      };
      const stacks: { names: number[]; addresses: bigint[]; mappings: number[] }[] = [];
      const stackIdx = new Map<string, number>();
      const stackOf = (frames: Frame[]): number => {
        const names = frames.map((f) => str(f.name));
        const addresses = frames.map((f) => f.address);
        const maps = frames.map((f) => mapping(f.mapping));
        const key = `${names.join(',')}|${addresses.join(',')}|${maps.join(',')}`;
        let i = stackIdx.get(key);
        if (i === undefined) {
          i = stacks.length;
          stacks.push({ names, addresses, mappings: maps });
          stackIdx.set(key, i);
        }
        return i;
      };
      const apps = w.apps.map((a) => {
        const idx = a.stacks.map((s) => stackOf(s.frames));
        const counts = a.stacks.map((s) => BigInt(s.count));
        return { app: a.app, containerId: a.containerId, stacks: idx, counts, pid: a.pid ?? 0, exe: a.exe ?? '', cmdline: a.cmdline ?? '' };
      });
      const egress = (w.egress?.profiles ?? []).map((p) => ({
        app: p.app,
        containerId: p.containerId,
        pid: p.pid,
        exe: p.exe,
        cmdline: p.cmdline,
        peerAddress: p.peerAddress,
        peerPort: p.peerPort,
        stacks: p.stacks.map((s) => stackOf(s.frames)),
        points: p.stacks.map((s) => BigInt(s.count)),
      }));
      return create(WindowSchema, {
        ...base,
        body: {
          case: 'profile',
          value: {
            periodNs: BigInt(w.periodNs),
            truncatedSamples: BigInt(w.truncatedSamples),
            strings,
            mappings,
            stacks,
            apps,
            egress,
            egressBytesPerSample: w.egress?.bytesPerSample ?? 0,
            egressFoldedPoints: BigInt(w.egress?.foldedPoints ?? 0),
          },
        },
      });
    }
    case 'runq':
      return create(WindowSchema, {
        ...base,
        body: {
          case: 'runq',
          value: {
            rows: w.rows.map((r) => ({ app: r.app, containerId: r.containerId, cgroupId: r.cgroupId, cgroupPath: r.cgroupPath, slots: r.slots.map(BigInt), totalNs: BigInt(r.totalNs), count: BigInt(r.count) })),
          },
        },
      });
    case 'netflow':
      return create(WindowSchema, {
        ...base,
        body: {
          case: 'flows',
          value: {
            rows: w.rows.map((r) => ({
              app: r.app,
              containerId: r.containerId,
              direction: r.direction,
              localAddress: r.localAddress,
              peerAddress: r.peerAddress,
              port: r.port,
              peerApp: r.peerApp,
              class: r.class,
              viaNat: r.viaNat,
              localZone: r.localZone,
              peerZone: r.peerZone,
              region: r.region,
              bytesSent: BigInt(r.bytesSent),
              bytesReceived: BigInt(r.bytesReceived),
              retransmits: BigInt(r.retransmits),
              connections: BigInt(r.connections),
              failedConnects: BigInt(r.failedConnects),
            })),
          },
        },
      });
    case 'dns':
      return create(WindowSchema, {
        ...base,
        body: {
          case: 'dns',
          value: {
            folded: BigInt(w.folded),
            rows: w.rows.map((r) => ({
              app: r.app,
              containerId: r.containerId,
              domain: r.domain,
              qtype: r.qtype,
              requests: BigInt(r.requests),
              noerror: BigInt(r.noerror),
              nxdomain: BigInt(r.nxdomain),
              servfail: BigInt(r.servfail),
              refused: BigInt(r.refused),
              otherErrors: BigInt(r.otherErrors),
              noAnswer: BigInt(r.noAnswer),
              timeouts: BigInt(r.timeouts),
              unreachable: BigInt(r.unreachable),
              latencyBins: [...r.latency.keys()],
              latencyCounts: [...r.latency.values()].map(BigInt),
              latencySumMs: r.latencySumMs,
              nameservers: r.nameservers,
              transports: r.transports,
            })),
          },
        },
      });
    case 'losses':
      return create(WindowSchema, { ...base, body: { case: 'losses', value: { rows: w.rows.map((r) => ({ collector: r.collector, reason: r.reason, count: BigInt(r.count) })) } } });
  }
}

const num = (v: bigint, what: string): number => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BatchError(`${what} out of range (${v})`);
  return Number(v);
};

function windowFromProto(w: Window, host: string): WindowEnvelope {
  const start = num(w.start, 'window start');
  const seconds = w.seconds;
  if (seconds <= 0 || seconds > 86_400 || start % seconds !== 0) throw new BatchError(`window of ${seconds} s starting at ${start}: not a window`);
  const base = { start, seconds, host };
  const b = w.body;
  switch (b.case) {
    case 'profile': {
      const p = b.value;
      const str = (i: number) => {
        const s = p.strings[i];
        if (s === undefined) throw new BatchError(`profile: string ${i} of ${p.strings.length}`);
        return s;
      };
      const mappings: MappingDesc[] = p.mappings.map((m) => ({ file: str(m.file), buildId: str(m.buildId), start: m.start, limit: m.limit, offset: m.offset }));
      const stacks: Frame[][] = p.stacks.map((s, si) => {
        if (s.addresses.length !== s.names.length || s.mappings.length !== s.names.length) throw new BatchError(`profile: stack ${si} has ${s.names.length} names, ${s.addresses.length} addresses, ${s.mappings.length} mappings`);
        return s.names.map((n, i) => {
          const mapping = mappings[s.mappings[i]];
          if (!mapping) throw new BatchError(`profile: stack ${si} refers to mapping ${s.mappings[i]} of ${mappings.length}`);
          return { name: str(n), address: s.addresses[i], mapping };
        });
      });
      /** stack indexes with their counts, as frames: an index past the table is refused */
      const counted = (owner: string, idx: number[], counts: bigint[], what: string) =>
        idx.map((si, i) => {
          const frames = stacks[si];
          if (!frames) throw new BatchError(`profile: ${owner} refers to stack ${si} of ${stacks.length}`);
          return { frames, count: num(counts[i], what) };
        });
      const apps = p.apps.map((a) => {
        if (a.counts.length !== a.stacks.length) throw new BatchError(`profile: app ${a.app} has ${a.stacks.length} stacks and ${a.counts.length} counts`);
        return {
          app: a.app,
          containerId: a.containerId,
          pid: a.pid,
          exe: a.exe,
          cmdline: a.cmdline,
          stacks: counted(`app ${a.app}`, a.stacks, a.counts, 'sample count'),
        };
      });
      const egress = p.egress.map((e) => {
        if (e.points.length !== e.stacks.length) throw new BatchError(`profile: egress of ${e.app} has ${e.stacks.length} stacks and ${e.points.length} point counts`);
        if (e.peerPort > 65535) throw new BatchError(`profile: egress of ${e.app} has peer port ${e.peerPort}`);
        return {
          app: e.app,
          containerId: e.containerId,
          pid: e.pid,
          exe: e.exe,
          cmdline: e.cmdline,
          peerAddress: e.peerAddress,
          peerPort: e.peerPort,
          stacks: counted(`egress of ${e.app}`, e.stacks, e.points, 'egress points'),
        };
      });
      if (egress.length > 0 && !(p.egressBytesPerSample > 0 && Number.isFinite(p.egressBytesPerSample))) throw new BatchError(`profile: egress points without bytes per sample (${p.egressBytesPerSample})`);
      return {
        kind: 'profile',
        ...base,
        periodNs: num(p.periodNs, 'period'),
        truncatedSamples: num(p.truncatedSamples, 'truncated samples'),
        apps,
        ...(egress.length > 0 ? { egress: { bytesPerSample: p.egressBytesPerSample, profiles: egress, foldedPoints: num(p.egressFoldedPoints, 'egress folded points') } } : {}),
      };
    }
    case 'runq':
      return {
        kind: 'runq',
        ...base,
        rows: b.value.rows.map((r) => ({ app: r.app, containerId: r.containerId, cgroupId: r.cgroupId, cgroupPath: r.cgroupPath, slots: r.slots.map((s) => num(s, 'runq slot')), totalNs: num(r.totalNs, 'runq total'), count: num(r.count, 'runq count') })),
      };
    case 'flows':
      return {
        kind: 'netflow',
        ...base,
        rows: b.value.rows.map((r) => {
          if (!CLASSES.has(r.class as TrafficClass)) throw new BatchError(`flow: class "${r.class}"`);
          if (!DIRECTIONS.has(r.direction as Direction)) throw new BatchError(`flow: direction "${r.direction}"`);
          if (r.port > 65_535) throw new BatchError(`flow: port ${r.port}`);
          return {
            app: r.app,
            containerId: r.containerId,
            direction: r.direction as Direction,
            localAddress: r.localAddress,
            peerAddress: r.peerAddress,
            port: r.port,
            peerApp: r.peerApp,
            class: r.class as TrafficClass,
            viaNat: r.viaNat,
            localZone: r.localZone,
            peerZone: r.peerZone,
            region: r.region,
            bytesSent: num(r.bytesSent, 'bytes sent'),
            bytesReceived: num(r.bytesReceived, 'bytes received'),
            retransmits: num(r.retransmits, 'retransmits'),
            connections: num(r.connections, 'connections'),
            failedConnects: num(r.failedConnects, 'failed connects'),
          };
        }),
      };
    case 'dns':
      return {
        kind: 'dns',
        ...base,
        folded: num(b.value.folded, 'folded'),
        rows: b.value.rows.map((r) => {
          if (r.latencyBins.length !== r.latencyCounts.length) throw new BatchError(`dns: ${r.latencyBins.length} latency bins, ${r.latencyCounts.length} counts`);
          for (const t of r.transports) if (!TRANSPORTS.has(t as DnsTransport)) throw new BatchError(`dns: transport "${t}"`);
          return {
            app: r.app,
            containerId: r.containerId,
            domain: r.domain,
            qtype: r.qtype,
            requests: num(r.requests, 'requests'),
            noerror: num(r.noerror, 'noerror'),
            nxdomain: num(r.nxdomain, 'nxdomain'),
            servfail: num(r.servfail, 'servfail'),
            refused: num(r.refused, 'refused'),
            otherErrors: num(r.otherErrors, 'other errors'),
            noAnswer: num(r.noAnswer, 'no answer'),
            timeouts: num(r.timeouts, 'timeouts'),
            unreachable: num(r.unreachable, 'unreachable'),
            latency: new Map(r.latencyBins.map((bin, i) => [bin, num(r.latencyCounts[i], 'latency count')])),
            latencySumMs: r.latencySumMs,
            nameservers: r.nameservers,
            transports: r.transports as DnsTransport[],
          };
        }),
      };
    case 'losses':
      return { kind: 'losses', ...base, rows: b.value.rows.map((r) => ({ collector: r.collector, reason: r.reason, count: num(r.count, 'loss count') })) };
    default:
      throw new BatchError('a window with no body (sent by a newer agent?)');
  }
}

export function hostToProto(h: HostInfo): Host {
  return create(HostSchema, h);
}

/** One batch as protobuf bytes. */
export function encodeBatch(b: Batch): Uint8Array {
  return toBinary(
    PushRequestSchema,
    create(PushRequestSchema, { agentId: b.agentId, sequence: b.sequence, host: hostToProto(b.host), windows: b.windows.map(windowToProto), spooledAtMs: BigInt(b.spooledAtMs) }),
  );
}

/** The request as its message (what the gRPC service hands over). */
export function requestToBatch(r: PushRequest): Batch {
  checkAgentId(r.agentId);
  if (r.sequence < 1n) throw new BatchError('sequence 0: sequences start at 1');
  const host = hostFromProto(r.host);
  return { agentId: r.agentId, sequence: r.sequence, host, windows: r.windows.map((w) => windowFromProto(w, host.name)), spooledAtMs: Number(r.spooledAtMs) };
}

/** An agent id: what the agent keeps in its data directory and the server checks. */
export const isAgentId = (id: string): boolean => /^[A-Za-z0-9_-]{8,64}$/.test(id);

export function checkAgentId(id: string): void {
  if (!isAgentId(id)) throw new BatchError(`agent id "${id.slice(0, 80)}": 8-64 letters, digits, - or _`);
}

/** A registered host, checked: a name (as DNS bounds it), at most 256 addresses. */
export function hostFromProto(h: Host | undefined): HostInfo {
  if (!h || !h.name) throw new BatchError('no host name');
  if (h.name.length > 253) throw new BatchError(`host name of ${h.name.length} characters (at most 253)`);
  if (h.addresses.length > 256) throw new BatchError(`${h.addresses.length} host addresses (at most 256)`);
  return { name: h.name, addresses: h.addresses, zone: h.zone, zoneId: h.zoneId, region: h.region, provider: h.provider, agentVersion: h.agentVersion };
}

export function decodeBatch(bytes: Uint8Array): Batch {
  let r: PushRequest;
  try {
    r = fromBinary(PushRequestSchema, bytes);
  } catch (e) {
    throw new BatchError(`not a kiln.ingest.v1 batch: ${(e as Error).message}`);
  }
  return requestToBatch(r);
}

/** Rows in a batch (samples' stacks for profiles), for acknowledgements and metrics. */
export function batchRows(b: Batch): number {
  let n = 0;
  for (const w of b.windows) n += w.kind === 'profile' ? w.apps.reduce((m, a) => m + a.stacks.length, 0) : w.rows.length;
  return n;
}
