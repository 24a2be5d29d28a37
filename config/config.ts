/* Flags and environment of every command, validated into one typed configuration (ARCHITECTURE.md
 * "Composition"). A bad value is a UsageError with one line naming the flag, what it must be and what
 * was given; `--help` on any command prints that command's help. */
import { normalizeScope } from '../host/scope.js';
import { operatorCpuPrice, type CpuPrice } from '../profiler/cpu-cost.js';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isLoopback } from '../web/auth.js';
import { parseClickHouseUrl } from '../store/clickhouse-url.js';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** `kiln server --clickhouse-cluster NAME --print-ddl`: print the layout, do nothing else. */
export class PrintDdl extends Error {
  constructor(
    readonly cluster: string,
    readonly retentionDays: number,
  ) {
    super('print ddl');
  }
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Thrown when a command was asked for its help: the text to print, exit 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help');
  }
}

export const HELP = `kiln — continuous eBPF CPU profiler and network-cost analyzer

Usage:
  kiln run [options]        collectors + embedded ClickHouse (chDB) + API/UI on this host
  kiln agent --server HOST:PORT [options]
                            the collectors only, pushing every window to a kiln server over gRPC
  kiln server [options]     gRPC ingest from many agents + store + API/UI
  kiln report --month YYYY-MM [--format focus|csv|json] [--url URL] [--token T]
                            the month's network-cost report from a running Kiln (default
                            http://127.0.0.1:7070), printed to stdout
  kiln pricing refresh --provider aws --region R [--data-dir DIR] [--endpoint URL]
                            fetch current AWS data-transfer prices (Price List API, needs AWS
                            credentials) into DIR/pricing; on failure the old snapshot stays
  kiln COMMAND --help       the options of one command
  kiln --help`;

export const RUN_HELP = `kiln run [options] — collectors + embedded ClickHouse (chDB) + API/UI on this host

Options:
  --listen HOST:PORT        API and UI address (default 127.0.0.1:7070)
  --token TOKEN             bearer token for the API and UI (or KILN_TOKEN); required when
                            --listen is not a loopback address. Any local user can read a
                            command line: prefer --token-file or KILN_TOKEN
  --token-file FILE         the token from a file readable only by its owner (chmod 600)
  --data-dir DIR            embedded store directory (default ./data)
  --window SECONDS          aggregation window (default 60)
  --sample-hz N             CPU sampling rate per CPU (default 97)
  --retention-days N        how long data is kept (default 7)
  --cpu-price-usd-per-core-hour P
                            what a core-hour of CPU costs (on-premises, reserved, spot): flamegraphs,
                            changes and pprof then show dollars and the month's projection
  --debug-dir DIR           separate debug files (repeatable; default /usr/lib/debug)
  --unwind MODE             user stacks: tables (default: each binary's .eh_frame/.debug_frame, frame
                            pointers where it has none) or fp (frame pointers only)
  --unwind-table-mb N       kernel memory for unwind tables, in MiB (default 32: 4 Mi rows; one binary
                            may take half)
  --egress-bytes-per-sample N
                            egress stacks: the code path that sends TCP bytes is recorded once every N
                            bytes per connection on average (default 4194304; 0: off). Smaller N is a
                            finer split between code paths sending to one peer, at more walks
  --runtime-root DIR        where container runtime state is found (default /; e.g. /host in a container)
  --zones FILE              where hosts are: regions, zones (name, id), CIDRs, internet (JSON or YAML;
                            see README). Without it the zone comes from cloud metadata, if any
  --cloud-metadata MODE     auto (default: ask the instance metadata service only when DMI names
                            AWS, GCP or Azure), off, or a base URL to ask (e.g. http://169.254.169.254)
  --dns-timeout SECONDS     a DNS query with no answer after this long is a timeout (default 5)
  --dns-top-domains N       domains per application and window that keep their name; the rest
                            are reported as ~other (default 100)
  --cgroup PATH             collect only processes at or below this cgroup v2 path (e.g.
                            /kubepods.slice); the rest is left out and counted (*OutOfScope)
  --query-timeout SECONDS   a store query running longer is stopped, the request gets 503 (default 30)
  --max-concurrent-queries N  API requests querying the store at once (default 4); 4×N more wait
                            up to --query-timeout, the rest get 429
  --clickhouse-url URL      ClickHouse server instead of the embedded store (kiln server)

Needs root (CAP_BPF, CAP_PERFMON), kernel BTF (/sys/kernel/btf/vmlinux), Linux 5.8+.`;

export const REPORT_HELP = `kiln report --month YYYY-MM [--format focus|csv|json] [--url URL] [--token T]

Prints the month's network-cost report, fetched from a running Kiln's API (its embedded store belongs
to that process). --format: focus (FOCUS 1.2 CSV, default), csv or json. --url: default
http://127.0.0.1:7070. --token or KILN_TOKEN when that Kiln has one.`;

export const PRICING_HELP = `kiln pricing refresh --provider aws --region R [--data-dir DIR] [--endpoint URL]

Fetches current AWS data-transfer prices through the Price List API (needs AWS credentials) into
DIR/pricing/snapshot-aws.json, and the region's EC2 on-demand instance prices (Linux, shared tenancy:
what a CPU-hour costs per instance type) into DIR/pricing/snapshot-aws-ec2.json. On any failure the
previous snapshot stays.`;

export interface Listen {
  hostname: string;
  port: number;
  text: string;
}

/** What the collectors take: the same in `kiln run` and `kiln agent`. */
export interface CollectorConfig {
  windowSeconds: number;
  sampleHz: number;
  debugDirs: string[] | undefined;
  unwind: 'tables' | 'fp';
  unwindTableMiB: number;
  runtimeRoot: string;
  zonesFile: string | undefined;
  cloudMetadata: string;
  dnsTimeoutSeconds: number;
  dnsTopDomains: number;
  /** --cgroup: only processes at or below this cgroup v2 path are collected */
  cgroupScope: string | undefined;
  /** --egress-bytes-per-sample: mean bytes between egress stack samples (0: off) */
  egressBytesPerSample: number;
}

/** What serves the API over a store: the same in `kiln run` and `kiln server`. */
export interface ApiConfig {
  listen: Listen;
  token: string | undefined;
  dataDir: string;
  retentionDays: number;
  queryTimeoutSeconds: number;
  maxConcurrentQueries: number;
  /** --cpu-price-usd-per-core-hour: dollars beside CPU time (null: none) */
  cpuPrice: CpuPrice | null;
}

export interface RunConfig extends CollectorConfig, ApiConfig {}

function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** parseArgs with its errors as UsageErrors (e.g. "Unknown option '--bogus'"). */
function parse(argv: string[], options: ParseArgsOptionsConfig): { values: Record<string, string | boolean | (string | boolean)[] | undefined> } {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function intFlag(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

/** the default of --egress-bytes-per-sample: a code path per 4 MiB sent, on average (bench: ~0.5 µs of BPF
 *  time per MB sent, the walk being most of it) */
export const EGRESS_BYTES_PER_SAMPLE = 4 << 20;

/** --egress-bytes-per-sample: 0 (off) or 4096..2^32 */
function egressFlag(v: string | undefined): number {
  if (v === '0') return 0;
  return intFlag('egress-bytes-per-sample', v, EGRESS_BYTES_PER_SAMPLE, 4096, 2 ** 32);
}

export function parseListen(v: string): Listen {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen must be HOST:PORT, got "${v}"`);
  return { hostname: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), text: v };
}

/** A token from a file (first line, trimmed): not on the command line, where any user reads it in
 *  /proc/PID/cmdline. The file must not be readable by group or others. */
function readTokenFile(path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    throw new UsageError(`--token-file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if ((mode & 0o077) !== 0) throw new UsageError(`--token-file ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
  const token = readFileSync(path, 'utf8').split('\n')[0].trim();
  if (!token) throw new UsageError(`--token-file ${path} is empty`);
  return token;
}

const COLLECTOR_OPTIONS: ParseArgsOptionsConfig = {
  window: { type: 'string' },
  'sample-hz': { type: 'string' },
  'egress-bytes-per-sample': { type: 'string' },
  'debug-dir': { type: 'string', multiple: true },
  unwind: { type: 'string', default: 'tables' },
  'unwind-table-mb': { type: 'string' },
  'runtime-root': { type: 'string', default: '/' },
  zones: { type: 'string' },
  'cloud-metadata': { type: 'string', default: 'auto' },
  'dns-timeout': { type: 'string' },
  'dns-top-domains': { type: 'string' },
  cgroup: { type: 'string' },
};

const TOKEN_OPTIONS: ParseArgsOptionsConfig = { token: { type: 'string' }, 'token-file': { type: 'string' } };

const API_OPTIONS: ParseArgsOptionsConfig = {
  'data-dir': { type: 'string', default: './data' },
  'retention-days': { type: 'string' },
  'query-timeout': { type: 'string' },
  'max-concurrent-queries': { type: 'string' },
  'cpu-price-usd-per-core-hour': { type: 'string' },
};

type Values = Record<string, string | string[] | undefined>;

function collectorConfig(v: Values): CollectorConfig {
  const str = (k: string) => v[k] as string | undefined;
  const dnsTimeoutSeconds = Number(str('dns-timeout') ?? 5);
  if (!Number.isFinite(dnsTimeoutSeconds) || dnsTimeoutSeconds < 0.1 || dnsTimeoutSeconds > 300) throw new UsageError(`--dns-timeout must be a number of seconds from 0.1 to 300, got "${str('dns-timeout')}"`);
  const unwind = str('unwind')!;
  if (unwind !== 'tables' && unwind !== 'fp') throw new UsageError(`--unwind must be tables or fp, got "${unwind}"`);
  const cloudMetadata = str('cloud-metadata')!;
  if (cloudMetadata !== 'auto' && cloudMetadata !== 'off' && !/^https?:\/\/[^/]+/.test(cloudMetadata)) throw new UsageError(`--cloud-metadata must be auto, off or an http(s) base URL, got "${cloudMetadata}"`);
  return {
    windowSeconds: intFlag('window', str('window'), 60, 1, 3600),
    sampleHz: intFlag('sample-hz', str('sample-hz'), 97, 1, 10000),
    debugDirs: v['debug-dir'] as string[] | undefined,
    unwind,
    unwindTableMiB: intFlag('unwind-table-mb', str('unwind-table-mb'), 32, 1, 1024),
    runtimeRoot: str('runtime-root')!,
    zonesFile: str('zones'),
    cloudMetadata,
    dnsTimeoutSeconds,
    dnsTopDomains: intFlag('dns-top-domains', str('dns-top-domains'), 100, 1, 10000),
    cgroupScope: flagValue(str('cgroup'), normalizeScope, undefined),
    egressBytesPerSample: egressFlag(str('egress-bytes-per-sample')),
  };
}

function tokenConfig(v: Values, env: NodeJS.ProcessEnv): string | undefined {
  const str = (k: string) => v[k] as string | undefined;
  if (str('token') !== undefined && str('token-file') !== undefined) throw new UsageError('give --token or --token-file, not both');
  const token = str('token-file') !== undefined ? readTokenFile(str('token-file')!) : (str('token') ?? env.KILN_TOKEN ?? undefined);
  if (token !== undefined && token.length < 8) throw new UsageError('--token must be at least 8 characters');
  return token;
}

function apiConfig(v: Values, env: NodeJS.ProcessEnv): ApiConfig {
  const str = (k: string) => v[k] as string | undefined;
  const listen = parseListen(str('listen')!);
  const token = tokenConfig(v, env);
  if (!isLoopback(listen.hostname) && !token) throw new UsageError(`refusing to serve on ${listen.text} (not loopback) without a token: pass --token or set KILN_TOKEN`);
  return {
    listen,
    token,
    dataDir: resolve(str('data-dir')!),
    retentionDays: intFlag('retention-days', str('retention-days'), 7, 1, 3650),
    queryTimeoutSeconds: intFlag('query-timeout', str('query-timeout'), 30, 1, 3600),
    maxConcurrentQueries: intFlag('max-concurrent-queries', str('max-concurrent-queries'), 4, 1, 256),
    cpuPrice: flagValue(str('cpu-price-usd-per-core-hour'), operatorCpuPrice, null),
  };
}

/** A flag's parser whose error is the flag's one-line reason (--cgroup, --cpu-price-usd-per-core-hour:
 *  checked before anything starts, so a data directory is not created for a bad one). */
function flagValue<T, D>(text: string | undefined, parse: (text: string) => T, absent: D): T | D {
  if (text === undefined) return absent;
  try {
    return parse(text);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function runConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): RunConfig {
  if (wantsHelp(argv)) throw new HelpRequested(RUN_HELP);
  const { values } = parse(argv, { listen: { type: 'string', default: '127.0.0.1:7070' }, ...COLLECTOR_OPTIONS, ...TOKEN_OPTIONS, ...API_OPTIONS, 'clickhouse-url': { type: 'string' } });
  const v = values as Values;
  if (v['clickhouse-url']) throw new UsageError('--clickhouse-url is for `kiln server` (ClickHouse server adapter); `kiln run` uses the embedded store');
  return { ...apiConfig(v, env), ...collectorConfig(v) };
}

/** TLS files of the ingest connection, read at start (a missing file is one line). */
export interface TlsFiles {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
}

const TLS_OPTIONS: ParseArgsOptionsConfig = { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' }, insecure: { type: 'boolean', default: false } };

function tlsFiles(v: Values): TlsFiles | undefined {
  const read = (flag: string): Buffer | undefined => {
    const path = v[flag] as string | undefined;
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new UsageError(`--${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const t = { cert: read('tls-cert'), key: read('tls-key'), ca: read('tls-ca') };
  if (!!t.cert !== !!t.key) throw new UsageError('--tls-cert and --tls-key go together');
  return t.cert || t.ca ? t : undefined;
}

export interface AgentConfig extends CollectorConfig {
  /** host:port of kiln server's ingest */
  server: string;
  token: string | undefined;
  tls: TlsFiles | undefined;
  listen: Listen;
  dataDir: string;
  hostName: string | undefined;
  /** the addresses the agent registers (default: every interface's but loopback) */
  hostAddresses: string[] | undefined;
  spoolMaxBytes: number;
  spoolMaxAgeSeconds: number;
}

export const AGENT_HELP = `kiln agent --server HOST:PORT [options] — the collectors of this host, pushing every window to
a kiln server over gRPC (kiln.ingest.v1), through a durable spool

Options:
  --server HOST:PORT        kiln server's ingest address (its --ingest-listen)
  --token TOKEN             bearer token the server requires (or KILN_TOKEN, or --token-file FILE)
  --tls-ca FILE             TLS: the CA that signed the server's certificate (PEM)
  --tls-cert FILE --tls-key FILE
                            TLS: this agent's certificate and key, for a server that requires them (mTLS)
  --insecure                plaintext to a server that is not on loopback (default: refused)
  --data-dir DIR            the agent id and the spool (default ./data-agent)
  --spool-max-bytes N       spool bound; past it the oldest batches are dropped and counted
                            (default 1073741824: 1 GiB, ~17 hours of a busy host's minutes)
  --spool-max-age SECONDS   batches older than this are dropped and counted (default 86400)
  --listen HOST:PORT        the agent's /metrics and /api/v1/status (default 127.0.0.1:7072)
  --host-name NAME          the host's name in every window (default: the system's host name)
  --host-address ADDR       an address the server knows this host by (repeatable; default: every
                            interface's address but loopback); its zone comes from --zones
  and the collector options of kiln run: --window, --sample-hz, --debug-dir, --unwind,
  --unwind-table-mb, --runtime-root, --zones, --cloud-metadata, --dns-timeout, --dns-top-domains, --cgroup`;

export const SERVER_HELP = `kiln server [options] — gRPC ingest from kiln agents + the API and UI over the store

Options:
  --ingest-listen HOST:PORT agents push here (default 127.0.0.1:7171); messages up to 64 MiB, gzip
  --listen HOST:PORT        API and UI address (default 127.0.0.1:7070)
  --token TOKEN             bearer token for agents and for the API (or KILN_TOKEN, --token-file FILE);
                            required when either listener is not a loopback address
  --tls-cert FILE --tls-key FILE
                            TLS for the ingest listener (PEM)
  --tls-ca FILE             with TLS: require agents' client certificates signed by this CA (mTLS)
  --insecure                plaintext ingest on an address that is not loopback (default: refused)
  --max-concurrent-pushes N pushes being stored at once; more get UNAVAILABLE and retry (default 256)
  --data-dir DIR            embedded store and the ingest journal (default ./data)
  --clickhouse-url URL      store in a ClickHouse server instead: http(s)://[user@]host:port[/database]
                            (password in the URL or KILN_CLICKHOUSE_PASSWORD); the journal stays in --data-dir
  --clickhouse-cluster NAME with --clickhouse-url: Replicated tables on every shard of cluster NAME (ON
                            CLUSTER, {shard}/{replica} macros) and Distributed tables over them
  --print-ddl               with --clickhouse-cluster: print the cluster layout's statements and exit
  --zones FILE              the provider for prices (see kiln run --help)
  --retention-days N, --query-timeout SECONDS, --max-concurrent-queries N,
  --cpu-price-usd-per-core-hour P: as kiln run`;

export function agentConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  if (wantsHelp(argv)) throw new HelpRequested(AGENT_HELP);
  const { values } = parse(argv, {
    server: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:7072' },
    'data-dir': { type: 'string', default: './data-agent' },
    'host-name': { type: 'string' },
    'host-address': { type: 'string', multiple: true },
    'spool-max-bytes': { type: 'string' },
    'spool-max-age': { type: 'string' },
    ...COLLECTOR_OPTIONS,
    ...TOKEN_OPTIONS,
    ...TLS_OPTIONS,
  });
  const v = values as Values;
  const server = v.server as string | undefined;
  if (!server) throw new UsageError('--server HOST:PORT is required (the ingest address of kiln server)');
  const target = parseListen(server);
  const tls = tlsFiles(v);
  if (!tls && !isLoopback(target.hostname) && !v.insecure) throw new UsageError(`refusing to push in plaintext to ${server} (not loopback): give --tls-ca (TLS), or --insecure`);
  const listen = parseListen(v.listen as string);
  const token = tokenConfig(v, env);
  if (!isLoopback(listen.hostname) && !token) throw new UsageError(`refusing to serve on ${listen.text} (not loopback) without a token: pass --token or set KILN_TOKEN`);
  return {
    ...collectorConfig(v),
    server,
    token,
    tls,
    listen,
    dataDir: resolve(v['data-dir'] as string),
    hostName: v['host-name'] as string | undefined,
    hostAddresses: v['host-address'] as string[] | undefined,
    spoolMaxBytes: intFlag('spool-max-bytes', v['spool-max-bytes'] as string | undefined, 1 << 30, 1 << 16, 2 ** 44),
    spoolMaxAgeSeconds: intFlag('spool-max-age', v['spool-max-age'] as string | undefined, 86_400, 60, 90 * 86_400),
  };
}

export interface ServerConfig extends ApiConfig {
  ingestListen: Listen;
  tls: TlsFiles | undefined;
  maxConcurrentPushes: number;
  zonesFile: string | undefined;
  /** a ClickHouse server instead of the embedded store */
  clickhouseUrl?: string;
  /** KILN_CLICKHOUSE_PASSWORD, when the URL has none */
  clickhousePassword?: string;
  /** the cluster layout (Replicated + Distributed tables, store/cluster.ts) on this cluster */
  clickhouseCluster?: string;
}

export function serverConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  if (wantsHelp(argv)) throw new HelpRequested(SERVER_HELP);
  const { values } = parse(argv, {
    listen: { type: 'string', default: '127.0.0.1:7070' },
    'ingest-listen': { type: 'string', default: '127.0.0.1:7171' },
    'max-concurrent-pushes': { type: 'string' },
    zones: { type: 'string' },
    'clickhouse-url': { type: 'string' },
    'clickhouse-cluster': { type: 'string' },
    'print-ddl': { type: 'boolean' },
    ...TOKEN_OPTIONS,
    ...API_OPTIONS,
    ...TLS_OPTIONS,
  });
  const v = values as Values;
  const clickhouseUrl = v['clickhouse-url'] as string | undefined;
  const clickhouseCluster = v['clickhouse-cluster'] as string | undefined;
  if (clickhouseCluster !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(clickhouseCluster)) throw new UsageError(`--clickhouse-cluster must be a cluster name from the servers' remote_servers, got "${clickhouseCluster}"`);
  if (v['print-ddl']) {
    if (clickhouseCluster === undefined) throw new UsageError('--print-ddl prints the cluster layout: give --clickhouse-cluster NAME');
    throw new PrintDdl(clickhouseCluster, intFlag('retention-days', v['retention-days'] as string | undefined, 7, 1, 3650));
  }
  if (clickhouseCluster !== undefined && !clickhouseUrl) throw new UsageError('--clickhouse-cluster needs --clickhouse-url (the cluster\'s servers; the embedded store is one node)');
  if (clickhouseUrl !== undefined) {
    try {
      parseClickHouseUrl(clickhouseUrl);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const api = apiConfig(v, env);
  const ingestListen = parseListen(v['ingest-listen'] as string);
  const tls = tlsFiles(v);
  if (tls && !tls.cert) throw new UsageError('--tls-ca needs --tls-cert and --tls-key (the server\'s own certificate)');
  if (!tls && !isLoopback(ingestListen.hostname) && !v.insecure) throw new UsageError(`refusing plaintext ingest on ${ingestListen.text} (not loopback): give --tls-cert and --tls-key, or --insecure`);
  if (!isLoopback(ingestListen.hostname) && !api.token) throw new UsageError(`refusing ingest on ${ingestListen.text} (not loopback) without a token: pass --token or set KILN_TOKEN`);
  return {
    ...api,
    ingestListen,
    tls,
    maxConcurrentPushes: intFlag('max-concurrent-pushes', v['max-concurrent-pushes'] as string | undefined, 256, 1, 100_000),
    zonesFile: v.zones as string | undefined,
    ...(clickhouseUrl ? { clickhouseUrl, clickhousePassword: env.KILN_CLICKHOUSE_PASSWORD } : {}),
    ...(clickhouseCluster ? { clickhouseCluster } : {}),
  };
}

export interface ReportConfig {
  month: string;
  format: string;
  url: string;
  token: string | undefined;
}

export function reportConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ReportConfig {
  if (wantsHelp(argv)) throw new HelpRequested(REPORT_HELP);
  const { values } = parse(argv, { month: { type: 'string' }, format: { type: 'string', default: 'focus' }, url: { type: 'string', default: 'http://127.0.0.1:7070' }, token: { type: 'string' } });
  const v = values as Record<string, string | undefined>;
  if (!v.month) throw new UsageError('--month YYYY-MM is required');
  return { month: v.month, format: v.format!, url: v.url!, token: v.token ?? env.KILN_TOKEN };
}

export interface PricingConfig {
  provider: string;
  region: string;
  dataDir: string;
  endpoint: string | undefined;
}

export function pricingConfig(argv: string[]): PricingConfig {
  if (wantsHelp(argv)) throw new HelpRequested(PRICING_HELP);
  const [sub, ...rest] = argv;
  if (sub !== 'refresh') throw new UsageError('the only subcommand is `refresh` (kiln pricing refresh --provider aws --region R)');
  const { values } = parse(rest, { provider: { type: 'string', default: 'aws' }, region: { type: 'string' }, 'data-dir': { type: 'string', default: './data' }, endpoint: { type: 'string' } });
  const v = values as Record<string, string | undefined>;
  if (v.provider !== 'aws') throw new UsageError(`only --provider aws has a price API client here; ${v.provider} prices come from the bundled snapshot`);
  if (!v.region) throw new UsageError('--region is required (e.g. us-east-1)');
  return { provider: v.provider, region: v.region, dataDir: resolve(v['data-dir']!), endpoint: v.endpoint };
}
