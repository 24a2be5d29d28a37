/* `kiln run`: the agent part (collectors → scheduler) into the local store sink and the metrics tee,
 * plus the API and UI over the same store (ARCHITECTURE.md "Composition"). */
import { currentInstancePrices, instanceCpuPrice } from '../profiler/cpu-cost.js';
import { hostname } from 'node:os';
import type { Agent } from '../agent/agent.js';
import type { RunConfig } from '../config/config.js';
import { teeSink } from '../pipeline/tee.js';
import { StoreSink } from '../store/store-sink.js';
import { KilnMetrics } from '../web/metrics.js';
import { preflight } from '../preflight.js';
import { closeStore, prepareStore, hostZoneName, onSignals, openStore, serveApi, startCollectors, stderrLog as log, why, type Fail } from './parts.js';

export type { Fail };

export async function run(cfg: RunConfig, fail: Fail): Promise<void> {
  // what the kernel lacks is said before the data directory is opened or its schema changed
  const missing = preflight();
  if (missing) fail(missing);
  const store = await openStore(cfg.dataDir, cfg.queryTimeoutSeconds, fail);
  await prepareStore(store, cfg.retentionDays, fail);
  const host = hostname();

  // the sinks: the metrics tee, then the local store (bounded write queue, never waits)
  let agentRef: Agent | undefined;
  const storeSink = new StoreSink(store, {
    onWritten: (kind) => metrics.windowWritten(kind),
    onError: (kind, e, first) => {
      metrics.storeError(kind);
      if (first) log(`store: writing a ${kind} window failed; retrying with backoff, collection goes on: ${why(e)}`);
    },
    onDropped: (kind, reason, start, rows) =>
      log(`store: dropped a ${kind} window (${new Date(start * 1000).toISOString()}, ${rows} rows): ${reason === 'queue_full' ? 'the write queue is full' : 'stopping'}`),
  });
  const metrics = new KilnMetrics({
    losses: () => [...(agentRef?.losses() ?? []), ...storeSink.drops()],
    programs: () => agentRef?.programs() ?? [],
    unwind: () => agentRef?.unwind() ?? null,
  });
  const { agent, topology, placement } = await startCollectors(cfg, host, teeSink(metrics.sink(), storeSink), log, fail);
  agentRef = agent;

  // a core-hour's price: the operator's, else the instance type's on-demand price from the bundled snapshot
  const cpuPrice = cfg.cpuPrice ?? (placement ? instanceCpuPrice(placement, currentInstancePrices(cfg.dataDir)) : null);
  const profiler = agent.collectors.find((c) => c.name === 'profiler');
  const cpus = (profiler?.health().status.cpus as number | undefined) ?? 0;
  const server = serveApi(
    { ...cfg, cpuPrice },
    {
      repos: { profiles: storeSink.profiles, runq: storeSink.runq, dns: storeSink.dns, netcost: storeSink.netcost, losses: storeSink.losses },
      defaultPeriodNs: Math.round(1e9 / cfg.sampleHz),
      topology,
      placement,
      host,
      zone: hostZoneName(topology, placement),
      status: () => {
        const s = agent.status() as Record<string, Record<string, unknown>>;
        if (s.profiler) s.profiler = { windowSeconds: cfg.windowSeconds, ...s.profiler };
        return {
          ...s,
          store: { ...storeSink.stats(), engine: store.stats() },
          placement: placement ?? (topology.zones.length ? 'zones file' : 'unknown: no --zones and no cloud metadata'),
          cpu_price: cpuPrice
            ? { usd_per_core_hour: cpuPrice.usdPerCoreHour, instance_type: cpuPrice.instanceType, source: cpuPrice.source }
            : `none: ${placement?.instanceType ? `${placement.instanceType} in ${placement.region} is not in the bundled price snapshot; ` : ''}pass --cpu-price-usd-per-core-hour to show dollars beside CPU time`,
        };
      },
      metrics: () => metrics.text(),
    },
    log,
    fail,
    () => log(`listening on http://${cfg.listen.text} — sampling ${cfg.sampleHz} Hz on ${cpus} CPUs, ${cfg.windowSeconds} s windows, data in ${cfg.dataDir}`),
  );

  onSignals(async (sig) => {
    log(`${sig}: flushing the current window and stopping`);
    const t0 = Date.now();
    server.close();
    try {
      await agent.stop();
    } catch (e) {
      log(`stop: ${why(e)}`);
    }
    const t1 = Date.now();
    await storeSink.close(15_000);
    const t2 = Date.now();
    await closeStore(store, log);
    log(`stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s (collectors ${((t1 - t0) / 1000).toFixed(1)} s, store writes ${((t2 - t1) / 1000).toFixed(1)} s, store ${((Date.now() - t2) / 1000).toFixed(1)} s)`);
  });
}
