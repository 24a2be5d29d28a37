/* `kiln run`: the agent part (collectors → scheduler) into the local store sink and the metrics tee,
 * plus the API and UI over the same store (ARCHITECTURE.md "Composition"). */
import { serve } from '@hono/node-server';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { buildAgent, CollectorLoadError, why } from '../agent/agent.js';
import type { RunConfig } from '../config/config.js';
import { enableBpfStats } from '../native/index.js';
import { Classifier } from '../netcost/classify.js';
import { detectPlacement, type CloudPlacement } from '../netcost/cloud-metadata.js';
import { currentSnapshot } from '../netcost/pricing.js';
import { loadZonesFile, type Topology } from '../netcost/topology.js';
import { teeSink } from '../pipeline/tee.js';
import { preflight } from '../preflight.js';
import { ChdbStore } from '../store/adapters/chdb.js';
import { applySchema } from '../store/schema.js';
import { StoreSink } from '../store/store-sink.js';
import { createApi } from '../web/api.js';
import { KilnMetrics } from '../web/metrics.js';
import { uiRoutes } from '../web/ui.js';
import { isLoopback } from '../web/auth.js';

export type Fail = (line: string) => never;

/** The process holding a data directory, from the engine's own status file (PID: N), if it still runs. */
function dataDirHolder(dataDir: string): string | null {
  let text: string;
  try {
    text = readFileSync(`${dataDir}/status`, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(/^PID:\s*(\d+)/m.exec(text)?.[1]);
  if (!pid || pid === process.pid) return null;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return `process ${pid} (${cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd})`;
  } catch {
    return null; // a stale file: that process is gone
  }
}

/** The embedded store, or one line saying why not (a held data directory names its holder). */
function openStore(dataDir: string, queryTimeoutSeconds: number, fail: Fail): ChdbStore {
  const held = (holder: string) => fail(`kiln: the data directory ${dataDir} is in use by ${holder}: stop it, or pass another --data-dir`);
  const holder = dataDirHolder(dataDir);
  if (holder) held(holder);
  try {
    return new ChdbStore(dataDir, { queryTimeoutSeconds });
  } catch (e) {
    const again = dataDirHolder(dataDir);
    if (again) held(again);
    fail(`kiln: cannot open the embedded store in ${dataDir}: ${String((e as Error).message).split('\n')[0]}`);
  }
}

export async function run(cfg: RunConfig, fail: Fail): Promise<void> {
  const missing = preflight();
  if (missing) fail(missing);
  let topology: Topology = { provider: 'other', zones: [], internet: [], services: [], nat: [] };
  if (cfg.zonesFile) {
    try {
      topology = loadZonesFile(cfg.zonesFile);
    } catch (e) {
      fail(`kiln: --zones: ${(e as Error).message}`);
    }
  }
  const placement: CloudPlacement | null = await detectPlacement(cfg.cloudMetadata);
  if (placement && topology.provider === 'other') topology = { ...topology, provider: placement.provider };

  const store = openStore(cfg.dataDir, cfg.queryTimeoutSeconds, fail);
  await applySchema(store, { retentionDays: cfg.retentionDays });
  const log = (msg: string) => process.stderr.write(`kiln: ${msg}\n`);
  const host = hostname();

  // the sinks: the metrics tee, then the local store (bounded write queue, never waits)
  let agentRef: ReturnType<typeof buildAgent> | undefined;
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

  try {
    enableBpfStats();
  } catch (e) {
    log(`BPF run-time statistics unavailable (${(e as Error).message.split('\n')[0]})`);
  }
  const hostAddresses = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
  const hostZone = placement ? { name: placement.zone, id: placement.zoneId, region: placement.region } : null;
  let agent: ReturnType<typeof buildAgent>;
  try {
    agent = buildAgent({
      settings: {
        host,
        windowSeconds: cfg.windowSeconds,
        sampleHz: cfg.sampleHz,
        debugDirs: cfg.debugDirs,
        unwind: cfg.unwind,
        unwindTableBytes: cfg.unwindTableMiB << 20,
        dnsTimeoutSeconds: cfg.dnsTimeoutSeconds,
        dnsTopDomains: cfg.dnsTopDomains,
        classifier: new Classifier(topology, hostAddresses, hostZone),
      },
      sink: teeSink(metrics.sink(), storeSink),
      runtimeRoot: cfg.runtimeRoot,
      log,
    });
  } catch (e) {
    if (e instanceof CollectorLoadError) fail(`kiln: ${e.message}`);
    throw e;
  }
  agentRef = agent;
  agent.start();

  const snapshot = () => currentSnapshot(topology.provider === 'other' ? 'aws' : topology.provider, cfg.dataDir);
  try {
    snapshot();
  } catch (e) {
    fail(`kiln: the price snapshot is unreadable: ${(e as Error).message}`);
  }

  const api = createApi({
    profiles: storeSink.profiles,
    defaultPeriodNs: Math.round(1e9 / cfg.sampleHz),
    token: cfg.token,
    loopbackOnly: isLoopback(cfg.listen.hostname),
    queryLimits: { maxRunning: cfg.maxConcurrentQueries, maxWaiting: 4 * cfg.maxConcurrentQueries, waitTimeoutMs: cfg.queryTimeoutSeconds * 1000 },
    runq: storeSink.runq,
    dns: storeSink.dns,
    losses: storeSink.losses,
    netcost: {
      repo: storeSink.netcost,
      snapshot,
      report: { provider: topology.provider, accountId: topology.account ?? placement?.accountId ?? 'unknown', host },
    },
    status: () => {
      const s = agent.status() as Record<string, Record<string, unknown>>;
      if (s.profiler) s.profiler = { windowSeconds: cfg.windowSeconds, ...s.profiler };
      return {
        ...s,
        store: storeSink.stats(),
        placement: placement ?? (topology.zones.length ? 'zones file' : 'unknown: no --zones and no cloud metadata'),
      };
    },
    extend: (app) => {
      app.get('/metrics', async (c) => {
        const { body, contentType } = await metrics.text();
        return c.body(body, 200, { 'content-type': contentType });
      });
      uiRoutes(app);
    },
    onError: (e) => log(`api: ${(e as Error).stack ?? e}`),
  });
  const server = serve({ fetch: api.fetch, hostname: cfg.listen.hostname, port: cfg.listen.port });
  server.on('error', (e: NodeJS.ErrnoException) => fail(`kiln: cannot listen on ${cfg.listen.text}: ${e.code ?? e.message}`));
  const profiler = agent.collectors.find((c) => c.name === 'profiler');
  const cpus = (profiler?.health().status.cpus as number | undefined) ?? 0;
  server.on('listening', () =>
    log(`listening on http://${cfg.listen.text} — sampling ${cfg.sampleHz} Hz on ${cpus} CPUs, ${cfg.windowSeconds} s windows, data in ${cfg.dataDir}`),
  );

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: flushing the current window and stopping`);
    server.close();
    try {
      await agent.stop();
    } catch (e) {
      log(`stop: ${why(e)}`);
    }
    await storeSink.close(15_000);
    await store.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
