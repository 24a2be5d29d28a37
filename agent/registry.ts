/* Every collector Kiln runs, one line each (ARCHITECTURE.md "Adding a collector"). A factory gets the
 * agent's context (settings, host identity, where to log) and returns a Collector. */
import { HostIdentity } from '../host/identity.js';
import type { Collector } from '../pipeline/contracts.js';
import { ProfileCollector } from '../profiler/collector.js';
import type { EgressShare, UnwindMode } from '../profiler/sampler.js';
import { RunqCollector } from '../runq/collector.js';
import { FlowCollector } from '../netcost/flows.js';
import type { Classifier } from '../netcost/classify.js';
import { DnsCollector } from '../dns/collector.js';

export interface AgentSettings {
  host: string;
  windowSeconds: number;
  sampleHz: number;
  /** the agent's clock: how often every collector reads its maps (default 1000 ms; sizes the profiler's) */
  drainIntervalMs?: number;
  debugDirs?: string[];
  /** how user stacks are walked (default tables) and the kernel memory for the tables */
  unwind?: UnwindMode;
  unwindTableBytes?: number;
  dnsTimeoutSeconds: number;
  dnsTopDomains: number;
  classifier: Classifier;
  /** a cgroup v2 path: collect only what processes at or below it do (host/scope.ts) */
  cgroupScope?: string;
  /** egress stacks: mean bytes sent between two sample points (0 or absent: off) */
  egressBytesPerSample?: number;
}

export interface CollectorContext {
  settings: AgentSettings;
  identity: HostIdentity;
  /** what one collector hands a later one in this list: the profiler's maps for the TCP collector's
   *  egress stacks (ARCHITECTURE.md "Egress stacks") */
  shared: { egress?: EgressShare | null };
  /** logs one line about this collector */
  onError: (e: unknown) => void;
}

export interface CollectorFactory {
  name: string;
  /** what the kernel refused when loading fails, for the one-line message */
  what: string;
  create(ctx: CollectorContext): Collector;
}

export const COLLECTORS: CollectorFactory[] = [
  {
    name: 'profiler',
    what: "the CPU profiler's BPF program",
    create: ({ settings: s, identity, shared, onError }) => {
      const c = new ProfileCollector({
        sampleHz: s.sampleHz,
        windowSeconds: s.windowSeconds,
        drainIntervalMs: s.drainIntervalMs,
        host: s.host,
        symbolizer: { debugDirs: s.debugDirs },
        unwind: s.unwind,
        unwindTableBytes: s.unwindTableBytes,
        processes: identity.processes,
        inScope: identity.scope ? (id) => identity.inScope(id) : undefined,
        egressBytesPerSample: s.egressBytesPerSample,
        onError,
      });
      shared.egress = c.sampler.egressShare();
      return c;
    },
  },
  { name: 'runq', what: 'the run-queue BPF program', create: ({ settings: s, identity, onError }) => new RunqCollector({ host: s.host, identity, onError }) },
  {
    name: 'tcp',
    what: "the TCP collector's BPF program",
    create: ({ settings: s, identity, shared, onError }) => new FlowCollector({ windowSeconds: s.windowSeconds, host: s.host, classifier: s.classifier, identity, egress: shared.egress, onError }),
  },
  {
    name: 'dns',
    what: "the DNS collector's BPF programs",
    create: ({ settings: s, identity, onError }) =>
      new DnsCollector({ windowSeconds: s.windowSeconds, host: s.host, timeoutSeconds: s.dnsTimeoutSeconds, topDomains: s.dnsTopDomains, identity, onError }),
  },
];
