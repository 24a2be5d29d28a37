#!/usr/bin/env -S node --no-memory-reducer
/* kiln: the one binary. `kiln run` = collectors + embedded store + API/UI on one host. */
import { serve } from '@hono/node-server';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { enableBpfStats, isNativeError } from './native/index.js';
import { preflight } from './preflight.js';
import { hostname } from 'node:os';
import { defaultProviders } from './host/app-naming.js';
import { CgroupResolver } from './host/cgroup-resolver.js';
import { ProfileCollector } from './profiler/collector.js';
import { RunqCollector } from './runq/collector.js';
import { RunqRepository } from './store/runq.js';
import { DnsRepository } from './store/dns.js';
import { DnsCollector } from './dns/collector.js';
import { KilnMetrics } from './web/metrics.js';
import { ChdbStore } from './store/chdb-store.js';
import { ProfileRepository } from './store/profiles.js';
import { LossLedger, LossRepository, type LossRecord } from './store/losses.js';
import type { TableInsert } from './store/store.js';
import { WindowWriteQueue } from './store/write-queue.js';
import { schemaStatements } from './store/schema.js';
import { createApi } from './web/api.js';
import { isLoopback } from './web/auth.js';
import { uiRoutes } from './web/ui.js';
import { networkInterfaces } from 'node:os';
import { Classifier } from './netcost/classify.js';
import { detectPlacement, type CloudPlacement } from './netcost/cloud-metadata.js';
import { FlowCollector } from './netcost/flows.js';
import { currentSnapshot } from './netcost/pricing.js';
import { loadZonesFile, type Topology } from './netcost/topology.js';
import { NetcostRepository } from './store/netcost.js';

const HELP = `kiln — continuous eBPF CPU profiler and network-cost analyzer

Usage:
  kiln run [options]        collectors + embedded ClickHouse (chDB) + API/UI on this host
  kiln report --month YYYY-MM [--format focus|csv|json] [--url URL] [--token T]
                            the month's network-cost report from a running Kiln (default
                            http://127.0.0.1:7070), printed to stdout
  kiln pricing refresh --provider aws --region R [--data-dir DIR] [--endpoint URL]
                            fetch current AWS data-transfer prices (Price List API, needs AWS
                            credentials) into DIR/pricing; on failure the old snapshot stays
  kiln --help

Options (run):
  --listen HOST:PORT        API and UI address (default 127.0.0.1:7070)
  --token TOKEN             bearer token for the API and UI (or KILN_TOKEN); required when
                            --listen is not a loopback address. Any local user can read a
                            command line: prefer --token-file or KILN_TOKEN
  --token-file FILE         the token from a file readable only by its owner (chmod 600)
  --query-timeout SECONDS   a store query running longer is stopped, the request gets 503 (default 30)
  --max-concurrent-queries N  API requests querying the store at once (default 4); 4×N more wait
                            up to --query-timeout, the rest get 429
  --data-dir DIR            embedded store directory (default ./data)
  --window SECONDS          aggregation window (default 60)
  --sample-hz N             CPU sampling rate per CPU (default 97)
  --retention-days N        how long data is kept (default 7)
  --debug-dir DIR           separate debug files (repeatable; default /usr/lib/debug)
  --runtime-root DIR        where container runtime state is found (default /; e.g. /host in a container)
  --zones FILE              where hosts are: regions, zones (name, id), CIDRs, internet (JSON or YAML;
                            see README). Without it the zone comes from cloud metadata, if any
  --cloud-metadata MODE     auto (default: ask the instance metadata service only when DMI names
                            AWS, GCP or Azure), off, or a base URL to ask (e.g. http://169.254.169.254)
  --dns-timeout SECONDS     a DNS query with no answer after this long is a timeout (default 5)
  --dns-top-domains N       domains per application and window that keep their name; the rest
                            are reported as ~other (default 100)
  --clickhouse-url URL      ClickHouse server instead of the embedded store (kiln server)

Needs root (CAP_BPF, CAP_PERFMON), kernel BTF (/sys/kernel/btf/vmlinux), Linux 5.8+.`;

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

function intFlag(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail(`kiln: --${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

/** A token from a file (first line, trimmed): not on the command line, where any user reads it in
 *  /proc/PID/cmdline. The file must not be readable by group or others. */
function readTokenFile(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    fail(`kiln: --token-file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if ((st.mode & 0o077) !== 0) fail(`kiln: --token-file ${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${path}`);
  const token = readFileSync(path, 'utf8').split('\n')[0].trim();
  if (!token) fail(`kiln: --token-file ${path} is empty`);
  return token;
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

/** The embedded store, or one line saying why not (a held data directory names its holder). */
function openStore(dataDir: string, queryTimeoutSeconds: number): ChdbStore {
  const holder = dataDirHolder(dataDir);
  if (holder) fail(`kiln: the data directory ${dataDir} is in use by ${holder}: stop it, or pass another --data-dir`);
  try {
    return new ChdbStore(dataDir, { queryTimeoutSeconds });
  } catch (e) {
    const again = dataDirHolder(dataDir);
    if (again) fail(`kiln: the data directory ${dataDir} is in use by ${again}: stop it, or pass another --data-dir`);
    fail(`kiln: cannot open the embedded store in ${dataDir}: ${String((e as Error).message).split('\n')[0]}`);
  }
}

function parseListen(v: string): { hostname: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(v);
  if (!m || Number(m[2]) > 65535) fail(`kiln: --listen must be HOST:PORT, got "${v}"`);
  return { hostname: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: '127.0.0.1:7070' },
      'data-dir': { type: 'string', default: './data' },
      window: { type: 'string' },
      'sample-hz': { type: 'string' },
      'retention-days': { type: 'string' },
      'debug-dir': { type: 'string', multiple: true },
      'runtime-root': { type: 'string', default: '/' },
      zones: { type: 'string' },
      'cloud-metadata': { type: 'string', default: 'auto' },
      'clickhouse-url': { type: 'string' },
      'dns-timeout': { type: 'string' },
      'dns-top-domains': { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'query-timeout': { type: 'string' },
      'max-concurrent-queries': { type: 'string' },
    },
    strict: true,
  });
  const windowSeconds = intFlag('window', values.window, 60, 1, 3600);
  const sampleHz = intFlag('sample-hz', values['sample-hz'], 97, 1, 10000);
  const retentionDays = intFlag('retention-days', values['retention-days'], 7, 1, 3650);
  const dnsTimeout = Number(values['dns-timeout'] ?? 5);
  if (!Number.isFinite(dnsTimeout) || dnsTimeout < 0.1 || dnsTimeout > 300) fail(`kiln: --dns-timeout must be a number of seconds from 0.1 to 300, got "${values['dns-timeout']}"`);
  const dnsTopDomains = intFlag('dns-top-domains', values['dns-top-domains'], 100, 1, 10000);
  const listen = parseListen(values.listen!);
  if (values.token !== undefined && values['token-file'] !== undefined) fail('kiln: give --token or --token-file, not both');
  const token = values['token-file'] !== undefined ? readTokenFile(values['token-file']) : (values.token ?? process.env.KILN_TOKEN ?? undefined);
  const queryTimeout = intFlag('query-timeout', values['query-timeout'], 30, 1, 3600);
  const maxQueries = intFlag('max-concurrent-queries', values['max-concurrent-queries'], 4, 1, 256);
  if (token !== undefined && token.length < 8) fail('kiln: --token must be at least 8 characters');
  if (!isLoopback(listen.hostname) && !token) {
    fail(`kiln: refusing to serve on ${values.listen} (not loopback) without a token: pass --token or set KILN_TOKEN`);
  }
  if (values['clickhouse-url']) fail('kiln: --clickhouse-url is for `kiln server` (ClickHouse server adapter); `kiln run` uses the embedded store');

  const missing = preflight();
  if (missing) fail(missing);
  let topology: Topology = { provider: 'other', zones: [], internet: [], services: [], nat: [] };
  if (values.zones) {
    try {
      topology = loadZonesFile(values.zones);
    } catch (e) {
      fail(`kiln: --zones: ${(e as Error).message}`);
    }
  }
  const metadataSetting = values['cloud-metadata']!;
  if (metadataSetting !== 'auto' && metadataSetting !== 'off' && !/^https?:\/\/[^/]+/.test(metadataSetting)) {
    fail(`kiln: --cloud-metadata must be auto, off or an http(s) base URL, got "${metadataSetting}"`);
  }
  const placement: CloudPlacement | null = await detectPlacement(metadataSetting);
  if (placement && topology.provider === 'other') topology = { ...topology, provider: placement.provider };

  const dataDir = resolve(values['data-dir']!);
  const store = openStore(dataDir, queryTimeout);
  for (const sql of schemaStatements({ retentionDays })) await store.exec(sql);
  const profiles = new ProfileRepository(store);
  const runqRepo = new RunqRepository(store);
  const dnsRepo = new DnsRepository(store);
  const netRepo = new NetcostRepository(store);
  const log = (msg: string) => process.stderr.write(`kiln: ${msg}\n`);
  /** an error with its cause chain, one line per link: the user sees why, not only what */
  const why = (e: unknown): string => {
    const parts: string[] = [];
    for (let c: unknown = e; c !== undefined && parts.length < 4; c = (c as Error | undefined)?.cause) parts.push(c instanceof Error ? c.message : String(c));
    return parts.join(': ');
  };
  const host = hostname();
  const lossRepo = new LossRepository(store);
  const ledger = new LossLedger();
  /** what a queued window held, to count it as lost if the queue drops it */
  interface QueuedWindow {
    collector: string;
    start: number;
    seconds: number;
    /** samples for profile windows, rows for the others */
    count: number;
    losses: LossRecord[];
  }
  // Collectors never wait for the store: windows go through a bounded queue, written in order by one
  // worker; a failed insert is retried, a full queue drops its oldest window and counts it.
  const queue = new WindowWriteQueue(store, {
    onWritten: (kind) => metrics.windowWritten(kind),
    onError: (kind, e, first) => {
      metrics.storeError(kind);
      if (first) log(`store: writing a ${kind} window failed; retrying with backoff, collection goes on: ${why(e)}`);
    },
    onDropped: (kind, reason, rows, meta) => {
      const m = meta as QueuedWindow | undefined;
      if (!m) return;
      ledger.add(m.losses);
      ledger.add([{ start: m.start, seconds: m.seconds, host, collector: m.collector, reason: `store_${reason}`, count: m.count }]);
      log(`store: dropped a ${kind} window (${new Date(m.start * 1000).toISOString()}, ${rows} rows): ${reason === 'queue_full' ? 'the write queue is full' : 'stopping'}`);
    },
  });
  const COLLECTOR_OF: Record<string, string> = { profile: 'profiler', runq: 'runq', netflow: 'tcp', dns: 'dns' };
  /** A collector's window sink: counted in /metrics, queued for the store with the losses noticed so far. */
  const sink =
    <W extends { start: number; seconds: number }>(kind: string, observe: (w: W) => void, prepare: (w: W) => TableInsert[], count: (w: W) => number) =>
    async (w: W): Promise<void> => {
      observe(w);
      const losses = ledger.take();
      const meta: QueuedWindow = { collector: COLLECTOR_OF[kind] ?? kind, start: w.start, seconds: w.seconds, count: count(w), losses };
      queue.enqueue(kind, [...prepare(w), ...lossRepo.prepare(losses)], meta);
    };
  // set once the collectors exist; /metrics reads them at scrape time
  let health: { profiler?: ProfileCollector; runq?: RunqCollector; flows?: FlowCollector; dns?: DnsCollector } = {};
  const metrics = new KilnMetrics({
    losses: () => {
      const out: { collector: string; reason: string; value: number }[] = [];
      if (health.profiler) {
        const s = health.profiler.stats();
        out.push(
          { collector: 'profiler', reason: 'counts_map_full', value: Number(s.countsFull) },
          { collector: 'profiler', reason: 'stack_map_full', value: Number(s.stacksFull) },
          { collector: 'profiler', reason: 'stack_evicted', value: Number(s.stacksMissing) },
        );
      }
      if (health.runq) {
        const l = health.runq.losses();
        out.push({ collector: 'runq', reason: 'start_map_full', value: Number(l.startMapFull) }, { collector: 'runq', reason: 'hist_map_full', value: Number(l.histMapFull) });
      }
      if (health.flows) {
        const f = health.flows.stats();
        out.push({ collector: 'tcp', reason: 'conns_map_full', value: f.connsMapFull }, { collector: 'tcp', reason: 'closed_map_full', value: f.closedMapFull });
      }
      if (health.dns) {
        const d = health.dns.stats();
        out.push(
          { collector: 'dns', reason: 'ringbuf_full', value: d.ringbufFull },
          { collector: 'dns', reason: 'args_map_full', value: d.argsMapFull },
          { collector: 'dns', reason: 'socket_not_registered', value: d.sockRegisterFailed },
          { collector: 'dns', reason: 'messages_not_read', value: d.messagesNotRead },
          { collector: 'dns', reason: 'queries_evicted', value: d.pendingEvicted },
          { collector: 'dns', reason: 'streams_dropped', value: d.streamsDropped },
        );
      }
      for (const [key, n] of Object.entries(queue.stats().dropped)) {
        const [kind, reason] = key.split(':');
        out.push({ collector: COLLECTOR_OF[kind] ?? kind, reason: `store_${reason}`, value: n });
      }
      return out;
    },
    programs: () => [...(health.profiler?.sampler.bpf.progStats() ?? []), ...(health.runq?.bpf.progStats() ?? []), ...(health.flows?.tcp.bpf.progStats() ?? []), ...(health.dns?.bpf.progStats() ?? [])],
  });

  try {
    enableBpfStats();
  } catch (e) {
    log(`BPF run-time statistics unavailable (${(e as Error).message.split('\n')[0]})`);
  }
  let collector: ProfileCollector;
  try {
    collector = new ProfileCollector({
      sampleHz,
      windowSeconds,
      symbolizer: { debugDirs: values['debug-dir'] },
      processes: { runtimeRoot: values['runtime-root'] },
      host,
      onWindow: sink(
        'profile',
        (w) => metrics.observeProfileWindow(w),
        (w) => profiles.prepareWindow(w),
        (w) => w.apps.reduce((n, a) => n + a.stacks.reduce((m, x) => m + x.count, 0), 0),
      ),
      onError: (e) => log(`profiler: ${why(e)}`),
      onLoss: (l, w) => {
        const at = { start: w.start, seconds: w.seconds, host, collector: 'profiler' };
        ledger.add([
          { ...at, reason: 'counts_map_full', count: Number(l.samplesDropped) },
          { ...at, reason: 'stack_map_full', count: Number(l.stacksMapFull) },
          { ...at, reason: 'stack_evicted', count: Number(l.stacksEvicted) },
        ]);
        log(`profiler lost data since the last window: ${l.samplesDropped} samples dropped (count map full), ${l.stacksDropped} stacks dropped (stack map full or evicted), ${l.stackWalkErrors} stack walk errors`);
      },
    });
  } catch (e) {
    if (isNativeError(e)) fail(`kiln: the kernel refused the CPU profiler's BPF program (${e.code}): ${e.message.split('\n')[0]}`);
    throw e;
  }
  collector.start();

  let runq: RunqCollector;
  try {
    runq = new RunqCollector({
      windowSeconds,
      host,
      resolver: new CgroupResolver(defaultProviders(values['runtime-root'])),
      onWindow: sink('runq', (w) => metrics.observeRunqWindow(w), (w) => runqRepo.prepareWindow(w), (w) => w.rows.length),
      onError: (e) => log(`runq: ${why(e)}`),
    });
  } catch (e) {
    if (isNativeError(e)) fail(`kiln: the kernel refused the run-queue BPF program (${e.code}): ${e.message.split('\n')[0]}`);
    throw e;
  }
  runq.start();

  const hostAddresses = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
  const hostZone = placement ? { name: placement.zone, id: placement.zoneId, region: placement.region } : null;
  const classifier = new Classifier(topology, hostAddresses, hostZone);
  let flows: FlowCollector;
  try {
    flows = new FlowCollector({
      windowSeconds,
      host,
      classifier,
      cgroups: new CgroupResolver(defaultProviders(values['runtime-root'])),
      processes: collector.processes,
      onWindow: sink('netflow', (w) => metrics.observeFlowWindow(w), (w) => netRepo.prepareWindow(w), (w) => w.rows.length),
      onError: (e) => log(`tcp: ${why(e)}`),
    });
  } catch (e) {
    if (isNativeError(e)) fail(`kiln: the kernel refused the TCP collector's BPF program (${e.code}): ${e.message.split('\n')[0]}`);
    throw e;
  }
  flows.start();
  let dns: DnsCollector;
  try {
    dns = new DnsCollector({
      windowSeconds,
      host,
      timeoutSeconds: dnsTimeout,
      topDomains: dnsTopDomains,
      cgroups: new CgroupResolver(defaultProviders(values['runtime-root'])),
      processes: collector.processes,
      onWindow: sink('dns', (w) => metrics.observeDnsWindow(w), (w) => dnsRepo.prepareWindow(w), (w) => w.rows.length),
      onError: (e) => log(`dns: ${why(e)}`),
    });
  } catch (e) {
    if (isNativeError(e)) fail(`kiln: the kernel refused the DNS collector's BPF program (${e.code}): ${e.message.split('\n')[0]}`);
    fail(`kiln: the DNS collector cannot start: ${(e as Error).message}`);
  }
  dns.start();
  health = { profiler: collector, runq, flows, dns };
  const snapshot = () => currentSnapshot(topology.provider === 'other' ? 'aws' : topology.provider, dataDir);
  try {
    snapshot();
  } catch (e) {
    fail(`kiln: the price snapshot is unreadable: ${(e as Error).message}`);
  }

  const api = createApi({
    profiles,
    defaultPeriodNs: Math.round(1e9 / sampleHz),
    token,
    loopbackOnly: isLoopback(listen.hostname),
    queryLimits: { maxRunning: maxQueries, maxWaiting: 4 * maxQueries, waitTimeoutMs: queryTimeout * 1000 },
    runq: runqRepo,
    dns: dnsRepo,
    losses: lossRepo,
    netcost: {
      repo: netRepo,
      snapshot,
      report: { provider: topology.provider, accountId: topology.account ?? placement?.accountId ?? 'unknown', host },
    },
    status: () => ({
      profiler: { sampleHz, windowSeconds, cpus: collector.sampler.cpus.length, ...collector.stats() },
      runq: { windowsFlushed: runq.windowsFlushed, windowErrors: runq.windowErrors, waitsRecorded: runq.waitsRecorded, ...runq.losses() },
      tcp: flows.stats(),
      dns: { timeoutSeconds: dnsTimeout, topDomains: dnsTopDomains, ...dns.stats() },
      store: queue.stats(),
      placement: placement ?? (topology.zones.length ? 'zones file' : 'unknown: no --zones and no cloud metadata'),
    }),
    extend: (app) => {
      app.get('/metrics', async (c) => {
        const { body, contentType } = await metrics.text();
        return c.body(body, 200, { 'content-type': contentType });
      });
      uiRoutes(app);
    },
    onError: (e) => log(`api: ${(e as Error).stack ?? e}`),
  });
  const server = serve({ fetch: api.fetch, hostname: listen.hostname, port: listen.port });
  server.on('error', (e: NodeJS.ErrnoException) => fail(`kiln: cannot listen on ${values.listen}: ${e.code ?? e.message}`));
  server.on('listening', () =>
    log(`listening on http://${values.listen} — sampling ${sampleHz} Hz on ${collector.sampler.cpus.length} CPUs, ${windowSeconds} s windows, data in ${dataDir}`),
  );

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: flushing the current window and stopping`);
    server.close();
    for (const c of [collector, runq, flows, dns]) {
      try {
        await c.stop();
      } catch (e) {
        log(`stop: ${(e as Error).message}`);
      }
    }
    // the last windows, and any losses noticed while stopping
    const last = ledger.take();
    if (last.length) queue.enqueue('losses', lossRepo.prepare(last));
    await queue.close(15_000);
    await store.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** `kiln report`: the monthly report, fetched from a running Kiln's API (the embedded store belongs to it). */
async function report(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { month: { type: 'string' }, format: { type: 'string', default: 'focus' }, url: { type: 'string', default: 'http://127.0.0.1:7070' }, token: { type: 'string' } },
    strict: true,
  });
  if (!values.month) fail('kiln report: --month YYYY-MM is required');
  const token = values.token ?? process.env.KILN_TOKEN;
  const url = `${values.url!.replace(/\/+$/, '')}/api/v1/reports/monthly?month=${encodeURIComponent(values.month)}&format=${encodeURIComponent(values.format!)}`;
  let r: Response;
  try {
    r = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (e) {
    fail(`kiln report: cannot reach Kiln at ${values.url} (${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message}); start it with \`npm start\` or pass --url`);
  }
  const body = await r.text();
  if (!r.ok) fail(`kiln report: ${r.status}: ${(() => { try { return (JSON.parse(body) as { error: string }).error; } catch { return body; } })()}`);
  process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
}

/** `kiln pricing refresh`: a new AWS snapshot from the Price List API; the old one stays on any failure. */
async function pricing(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'refresh') fail('kiln pricing: the only subcommand is `refresh` (kiln pricing refresh --provider aws --region R)');
  const { values } = parseArgs({
    args: rest,
    options: { provider: { type: 'string', default: 'aws' }, region: { type: 'string' }, 'data-dir': { type: 'string', default: './data' }, endpoint: { type: 'string' } },
    strict: true,
  });
  if (values.provider !== 'aws') fail(`kiln pricing refresh: only --provider aws has a price API client here; ${values.provider} prices come from the bundled snapshot`);
  if (!values.region) fail('kiln pricing refresh: --region is required (e.g. us-east-1)');
  const { refreshAwsSnapshot } = await import('./netcost/aws-pricing.js');
  const out = await refreshAwsSnapshot({ region: values.region, dataDir: resolve(values['data-dir']!), endpoint: values.endpoint });
  if ('error' in out) fail(`kiln pricing refresh: ${out.error}; the previous snapshot is kept`);
  process.stdout.write(`kiln: wrote ${out.path} (${out.summary})\n`);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (cmd === 'run') return run(rest);
  if (cmd === 'report') return report(rest);
  if (cmd === 'pricing') return pricing(rest);
  fail(`kiln: unknown command "${cmd}" (try kiln --help)`);
}

main().catch((e) => {
  if (e instanceof TypeError && 'code' in e && String((e as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) fail(`kiln: ${e.message}`);
  fail(`kiln: ${(e as Error).stack ?? e}`);
});
