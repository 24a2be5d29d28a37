/* The parts the commands compose (ARCHITECTURE.md "Composition"): the collectors of this host into a
 * sink (`kiln run`, `kiln agent`), the embedded store, and the API and UI over a store (`kiln run`,
 * `kiln server`). Each fails with one line. */
import { serve } from '@hono/node-server';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Hono } from 'hono';
import { buildAgent, CollectorLoadError, why, type Agent } from '../agent/agent.js';
import type { ApiConfig, CollectorConfig } from '../config/config.js';
import { enableBpfStats } from '../native/index.js';
import { Classifier } from '../netcost/classify.js';
import { detectPlacement, type CloudPlacement } from '../netcost/cloud-metadata.js';
import { currentSnapshot } from '../netcost/pricing.js';
import { loadZonesFile, type Topology } from '../netcost/topology.js';
import type { WindowSink } from '../pipeline/contracts.js';
import { preflight } from '../preflight.js';
import type { ChdbStore } from '../store/adapters/chdb.js';
import type { ClickHouseStore } from '../store/adapters/clickhouse.js';
import type { Store } from '../store/store.js';
import { applySchema, SchemaTooNewError } from '../store/schema.js';
import { DnsRepository } from '../store/tables/dns-windows.js';
import { LossRepository } from '../store/tables/collector-losses.js';
import { NetcostRepository } from '../store/tables/net-flows.js';
import { ProfileRepository } from '../store/tables/profiles.js';
import { RunqRepository } from '../store/tables/runq-windows.js';
import { createApi } from '../web/api.js';
import { isLoopback } from '../web/auth.js';
import { uiRoutes } from '../web/ui.js';

export type Fail = (line: string) => never;
export type Log = (line: string) => void;

export const stderrLog: Log = (msg) => process.stderr.write(`kiln: ${msg}\n`);

/** The topology of --zones (or none), fails with one line. */
export function loadTopology(zonesFile: string | undefined, fail: Fail): Topology {
  if (!zonesFile) return { provider: 'other', zones: [], internet: [], services: [], nat: [] };
  try {
    return loadZonesFile(zonesFile);
  } catch (e) {
    fail(`kiln: --zones: ${(e as Error).message}`);
  }
}

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

/** A ClickHouse server through @clickhouse/client, or one line saying why not (it must answer now:
 *  a server that is not there is a start-up failure, not a stream of failed writes). */
export async function openClickHouse(url: string, queryTimeoutSeconds: number, fail: Fail, password?: string, cluster?: string): Promise<ClickHouseStore> {
  const { ClickHouseStore } = await import('../store/adapters/clickhouse.js');
  let store: ClickHouseStore;
  try {
    store = new ClickHouseStore({ url, queryTimeoutSeconds, password, cluster });
  } catch (e) {
    fail(`kiln: ${(e as Error).message}`);
  }
  const ping = await store.ping();
  if (!ping.ok) {
    await store.close();
    fail(`kiln: the ClickHouse server at ${store.endpoint} does not answer: ${ping.why}`);
  }
  try {
    await store.query('SELECT 1');
    if (cluster) {
      const [shards] = await store.query<{ n: string | number }>('SELECT count() AS n FROM system.clusters WHERE cluster = {c:String}', { c: cluster });
      if (Number(shards.n) === 0) throw new Error(`it has no cluster "${cluster}" in its remote_servers`);
    }
  } catch (e) {
    await store.close();
    fail(`kiln: the ClickHouse server at ${store.endpoint} refused: ${String((e as Error).message).split('\n')[0]}`);
  }
  return store;
}

/** This kiln's version (package.json), recorded with the schema version it brings a store to. */
export function kilnVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '';
  }
}

/** Creates or upgrades the store's schema (versioned, see store/schema.ts); a store a newer kiln wrote is
 *  refused with one line, before anything is written. */
export async function prepareStore(store: Store, retentionDays: number, fail: Fail, log: Log = stderrLog, cluster?: string): Promise<void> {
  try {
    const { from, to } = await applySchema(store, { retentionDays, kilnVersion: kilnVersion(), ...(cluster ? { cluster: { cluster } } : {}) });
    if (from !== 0 && from < to) log(`store: schema upgraded from version ${from} to ${to}`);
  } catch (e) {
    if (!(e instanceof SchemaTooNewError)) throw e;
    await store.close().catch(() => undefined);
    fail(`kiln: ${e.message}`);
  }
}

/** The embedded store, or one line saying why not (a held data directory names its holder). Loaded
 *  only here: `kiln agent` has no store and does not map the engine's library (~200 MB). */
export async function openStore(dataDir: string, queryTimeoutSeconds: number, fail: Fail, log: Log = stderrLog): Promise<ChdbStore> {
  const { ChdbStore } = await import('../store/adapters/chdb.js');
  const held = (holder: string) => fail(`kiln: the data directory ${dataDir} is in use by ${holder}: stop it, or pass another --data-dir`);
  const holder = dataDirHolder(dataDir);
  if (holder) held(holder);
  try {
    return new ChdbStore(dataDir, {
      queryTimeoutSeconds,
      onStall: (what, seconds) => log(`store: one call has run for ${seconds.toFixed(0)} s, past the ${queryTimeoutSeconds} s query limit, and every write waits behind it: ${what}`),
    });
  } catch (e) {
    const again = dataDirHolder(dataDir);
    if (again) held(again);
    fail(`kiln: cannot open the embedded store in ${dataDir}: ${String((e as Error).message).split('\n')[0]}`);
  }
}

/** The zone this host is in, by name: cloud metadata's, else the zones file's zone holding one of its
 *  addresses; undefined when neither says (FOCUS AvailabilityZone). */
export function hostZoneName(topology: Topology, placement: CloudPlacement | null, addresses = hostAddresses()): string | undefined {
  if (placement?.zone) return placement.zone;
  const classifier = new Classifier(topology);
  for (const a of addresses) {
    const z = classifier.locate(a).zone;
    if (z) return z.name;
  }
  return undefined;
}

/** This host's own addresses (every interface but loopback). Link-local addresses (fe80::/10,
 *  169.254/16) are left out unless asked for: every host may have the same one, so the server could not
 *  tell hosts apart by them. */
export function hostAddresses(withLoopback = false, withLinkLocal = withLoopback): string[] {
  return Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .filter((a) => withLoopback || !a.internal)
    .filter((a) => withLinkLocal || !/^(fe[89ab][0-9a-f]:|169\.254\.)/i.test(a.address))
    .map((a) => a.address);
}

export interface CollectorsStarted {
  agent: Agent;
  topology: Topology;
  placement: CloudPlacement | null;
}

/** Preflight, topology and placement, then every collector into `sink`, started. */
export async function startCollectors(cfg: CollectorConfig, host: string, sink: WindowSink, log: Log, fail: Fail): Promise<CollectorsStarted> {
  const missing = preflight();
  if (missing) fail(missing);
  let topology = loadTopology(cfg.zonesFile, fail);
  const placement: CloudPlacement | null = await detectPlacement(cfg.cloudMetadata);
  if (placement && topology.provider === 'other') topology = { ...topology, provider: placement.provider };
  try {
    enableBpfStats();
  } catch (e) {
    log(`BPF run-time statistics unavailable (${(e as Error).message.split('\n')[0]})`);
  }
  const hostZone = placement ? { name: placement.zone, id: placement.zoneId, region: placement.region } : null;
  let agent: Agent;
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
        cgroupScope: cfg.cgroupScope,
        egressBytesPerSample: cfg.egressBytesPerSample,
        classifier: new Classifier(topology, hostAddresses(true), hostZone),
      },
      sink,
      runtimeRoot: cfg.runtimeRoot,
      log,
    });
  } catch (e) {
    if (e instanceof CollectorLoadError) fail(`kiln: ${e.message}`);
    throw e;
  }
  agent.start();
  return { agent, topology, placement };
}

/** The repositories the API reads. */
export function repositories(store: Store) {
  return { profiles: new ProfileRepository(store), runq: new RunqRepository(store), dns: new DnsRepository(store), netcost: new NetcostRepository(store), losses: new LossRepository(store) };
}

export interface ApiParts {
  repos: ReturnType<typeof repositories>;
  defaultPeriodNs: number;
  topology: Topology;
  placement: CloudPlacement | null;
  host: string;
  /** the zone of the host whose flows the store holds (FOCUS AvailabilityZone); none for a fleet */
  zone?: string;
  status: () => Record<string, unknown>;
  metrics: () => Promise<{ body: string; contentType: string }>;
}

/** The API and UI over a store, listening; `onListening` once bound. */
export function serveApi(cfg: Pick<ApiConfig, 'listen' | 'token' | 'dataDir' | 'queryTimeoutSeconds' | 'maxConcurrentQueries' | 'cpuPrice'>, p: ApiParts, log: Log, fail: Fail, onListening: () => void): { close(): void } {
  const snapshot = () => currentSnapshot(p.topology.provider === 'other' ? 'aws' : p.topology.provider, cfg.dataDir);
  try {
    snapshot();
  } catch (e) {
    fail(`kiln: the price snapshot is unreadable: ${(e as Error).message}`);
  }
  const api = createApi({
    profiles: p.repos.profiles,
    defaultPeriodNs: p.defaultPeriodNs,
    cpuPrice: cfg.cpuPrice,
    token: cfg.token,
    loopbackOnly: isLoopback(cfg.listen.hostname),
    queryLimits: { maxRunning: cfg.maxConcurrentQueries, maxWaiting: 4 * cfg.maxConcurrentQueries, waitTimeoutMs: cfg.queryTimeoutSeconds * 1000 },
    runq: p.repos.runq,
    dns: p.repos.dns,
    losses: p.repos.losses,
    netcost: {
      repo: p.repos.netcost,
      snapshot,
      report: { provider: p.topology.provider, accountId: p.topology.account ?? p.placement?.accountId ?? 'unknown', host: p.host, zone: p.zone },
    },
    status: p.status,
    extend: (app: Hono) => {
      app.get('/metrics', async (c) => {
        const { body, contentType } = await p.metrics();
        return c.body(body, 200, { 'content-type': contentType });
      });
      uiRoutes(app);
    },
    onError: (e) => log(`api: ${(e as Error).stack ?? e}`),
  });
  return listenHttp(api.fetch, cfg.listen, fail, onListening);
}

/** An HTTP listener for `fetch`, failing with one line when the address is taken. */
export function listenHttp(fetch: (req: Request) => Response | Promise<Response>, listen: ApiConfig['listen'], fail: Fail, onListening: () => void): { close(): void } {
  const server = serve({ fetch, hostname: listen.hostname, port: listen.port });
  server.on('error', (e: NodeJS.ErrnoException) => fail(`kiln: cannot listen on ${listen.text}: ${e.code ?? e.message}`));
  server.on('listening', onListening);
  return { close: () => server.close() };
}

/** How long closing the store may take on stop, after the last writes went in. */
export const STORE_CLOSE_DEADLINE_MS = 20_000;

/**
 * Closes the store within a deadline. Writes are in by then; what can still run is a query the engine
 * does not stop (stats().running says which). Past the deadline the process exits without the clean
 * close, says so, and exits non-zero: the data written stays, the engine's own start-up recovers.
 */
export async function closeStore(store: ChdbStore | ClickHouseStore, log: Log, deadlineMs = STORE_CLOSE_DEADLINE_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([store.close().then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), deadlineMs)))]);
  clearTimeout(timer);
  if (!closed) {
    const r = 'stats' in store ? store.stats().running : null;
    log(`stop: the store did not close within ${deadlineMs / 1000} s${r ? ` (a call has run for ${r.seconds.toFixed(0)} s: ${r.what})` : ''}; exiting without a clean close`);
    process.exitCode = 1;
  }
}

/** Stops on SIGINT/SIGTERM, once; exits with process.exitCode (non-zero when the stop fell short). */
export function onSignals(stop: (sig: string) => Promise<void>): void {
  let stopping = false;
  const once = (sig: string) => {
    if (stopping) return;
    stopping = true;
    void stop(sig).finally(() => process.exit());
  };
  process.on('SIGINT', () => once('SIGINT'));
  process.on('SIGTERM', () => once('SIGTERM'));
}

export { why };
