/* The OpenAPI 3.1 document of the API, served at /api/v1/openapi.json. Parameters come from the same
 * zod schemas that validate requests, so the two cannot drift apart. */
import { z } from 'zod';
import { querySchemas } from './schemas.js';

type Schema = z.ZodObject<z.ZodRawShape>;

const TIME_DOC = 'unix seconds, RFC 3339, or now / now-<N><s|m|h|d|w>';

const DESCRIPTIONS: Record<string, string> = {
  app: "Kiln's application name (see /api/v1/apps); for /api/v1/runq and /api/v1/dns optional (all apps)",
  from: `start of the range, inclusive (${TIME_DOC}); default: one hour before to`,
  to: `end of the range, exclusive (${TIME_DOC}); default: now`,
  base_app: 'the application to compare against (default: app)',
  base_from: `start of the base range (${TIME_DOC}); default: from when base_app is given`,
  base_to: `end of the base range (${TIME_DOC}); default: to when base_app is given`,
  host: 'only samples of this host (process labels, all exact matches)',
  container_id: "only samples of this container ('' outside containers)",
  pid: 'only samples of this process id',
  exe: "only samples of this executable's path",
  cmdline: 'only samples of processes with this command line, as GET /api/v1/processes lists it',
  base_host: 'base side: only samples of this host (default: host when comparing ranges of one app)',
  base_container_id: 'base side: only samples of this container (default: container_id when comparing ranges of one app)',
  base_pid: 'base side: only samples of this process id (default: pid when comparing ranges of one app)',
  base_exe: "base side: only samples of this executable's path (default: exe when comparing ranges of one app)",
  base_cmdline: 'base side: only samples with this command line (default: cmdline when comparing ranges of one app)',
  mode: 'relative: the base is scaled to the compared total, so a uniformly busier period shows no change; absolute: raw sample counts',
  limit: 'how many functions to return',
  min_samples: 'a function needs this many samples on the two sides together to be ranked',
};

function parameters(schema: Schema, required: string[] = []): unknown[] {
  const json = z.toJSONSchema(schema, { io: 'input' }) as { properties: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties).map(([name, s]) => ({
    name,
    in: 'query',
    required: required.includes(name) || (json.required ?? []).includes(name),
    description: DESCRIPTIONS[name],
    schema: s,
  }));
}

const error = { description: 'the reason', content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } } } };

const flameNode = {
  type: 'object',
  properties: { name: { type: 'string' }, value: { type: 'number', description: 'samples' }, children: { type: 'array', items: { $ref: '#/components/schemas/FlameNode' } } },
  required: ['name', 'value', 'children'],
};

const diffNode = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    value: { type: 'number', description: 'samples in the compared selection' },
    base_value: { type: 'number', description: 'samples in the base selection, unscaled' },
    delta: { type: 'number', description: 'value - base_value * scale; > 0 grew, < 0 shrank' },
    children: { type: 'array', items: { $ref: '#/components/schemas/DiffNode' } },
  },
  required: ['name', 'value', 'base_value', 'delta', 'children'],
};

function op(summary: string, params: unknown[], ok: unknown, okType = 'application/json') {
  return {
    get: {
      summary,
      parameters: params,
      responses: {
        '200': { description: 'OK', content: { [okType]: { schema: ok } } },
        '400': error,
        '401': error,
        '404': error,
        '500': error,
      },
    },
  };
}

let doc: unknown;

export function openApiDocument(): unknown {
  doc ??= {
    openapi: '3.1.0',
    info: { title: 'Kiln API', version: '1', description: 'Continuous eBPF CPU profiles, network cost, DNS and run-queue latency.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'required when Kiln listens on a non-loopback address; ?token= works too' } },
      schemas: { FlameNode: flameNode, DiffNode: diffNode },
    },
    security: [{ bearer: [] }, {}],
    paths: {
      '/api/v1/apps': op('Applications seen in a range, the most CPU first', parameters(querySchemas.range), {
        type: 'array',
        items: {
          type: 'object',
          properties: { app: { type: 'string' }, container_id: { type: 'string' }, host: { type: 'string' }, first_seen: { type: 'string', format: 'date-time' }, last_seen: { type: 'string', format: 'date-time' }, cpu_seconds: { type: 'number', description: 'CPU time sampled in the range' } },
          required: ['app', 'host', 'first_seen', 'last_seen', 'cpu_seconds'],
        },
      }),
      '/api/v1/profile/series': op("An application's CPU over a range, in cores per step (at least its longest window; at most 2,000 points)", parameters(querySchemas.series), {
        type: 'object',
        properties: { app: { type: 'string' }, from: { type: 'number' }, to: { type: 'number' }, step: { type: 'number' }, points: { type: 'array', items: { type: 'object', properties: { t: { type: 'number' }, cores: { type: 'number' } } } } },
      }),
      '/api/v1/processes': op("An application's processes over a range (host, container, pid, executable, command line), the most CPU first; at most 500", parameters(querySchemas.processes), {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            host: { type: 'string' },
            container_id: { type: 'string' },
            pid: { type: 'integer', description: "0: samples no process was named for, or '[other processes]' (an app's processes past 64 in one window)" },
            exe: { type: 'string' },
            cmdline: { type: 'string', description: 'arguments joined by spaces, at most 256 characters' },
            cpu_seconds: { type: 'number' },
            samples: { type: 'integer' },
          },
          required: ['host', 'container_id', 'pid', 'exe', 'cmdline', 'cpu_seconds', 'samples'],
        },
      }),
      '/api/v1/profile/flamegraph': op('CPU flamegraph of an application (d3-flame-graph tree)', parameters(querySchemas.selection), { $ref: '#/components/schemas/FlameNode' }),
      '/api/v1/profile/diff': op('Differential flamegraph: two ranges of one app, or two apps', parameters(querySchemas.comparison), {
        allOf: [{ $ref: '#/components/schemas/DiffNode' }],
        properties: { mode: { enum: ['relative', 'absolute'] }, scale: { type: 'number' }, total: { type: 'number' }, base_total: { type: 'number' } },
      }),
      '/api/v1/profile/changes': op('Functions ranked by how much their self and total share changed', parameters(querySchemas.changes), {
        type: 'object',
        properties: {
          total: { type: 'number' },
          base_total: { type: 'number' },
          functions: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                function: { type: 'string' },
                status: { enum: ['changed', 'unchanged', 'too_few_samples'] },
                self_share: { type: 'number' },
                self_share_base: { type: 'number' },
                total_share: { type: 'number' },
                total_share_base: { type: 'number' },
                self_delta: { type: 'number' },
                total_delta: { type: 'number' },
                self_samples: { type: 'number' },
                self_samples_base: { type: 'number' },
                total_samples: { type: 'number' },
                total_samples_base: { type: 'number' },
                z: { type: 'number' },
              },
            },
          },
        },
      }),
      '/api/v1/profile/egress': op(
        'egress stacks: the code paths that sent TCP bytes, as a flamegraph of bytes with dollars per node (format=pprof: bytes and micro-dollars)',
        parameters(querySchemas.egress),
        { type: 'object' },
      ),
      '/api/v1/profile/pprof': op('pprof profile (gzipped profile.proto) of a selection', parameters(querySchemas.selection), { type: 'string', format: 'binary' }, 'application/octet-stream'),
      '/api/v1/runq': op('Run-queue latency per application: histogram (log2 us, quartered), p50/p95/p99, total delay', parameters(querySchemas.runq), {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            app: { type: 'string' },
            p50_us: { type: ['number', 'null'] },
            p95_us: { type: ['number', 'null'] },
            p99_us: { type: ['number', 'null'] },
            waits: { type: 'number' },
            total_delay_seconds: { type: 'number' },
            delay_seconds_per_second: { type: 'number', description: 'total delay over the seconds of the range' },
            cpu_seconds: { type: ['number', 'null'], description: "the application's CPU time in the range, from the profiler's samples" },
            delay_seconds_per_cpu_second: { type: ['number', 'null'], description: 'total delay per second of the application\'s own CPU time: does not change with the range' },
            buckets: { type: 'array', items: { type: 'object', properties: { le_us: { type: ['number', 'null'] }, count: { type: 'number' } } } },
          },
        },
      }),
      '/api/v1/dns': op('DNS per application × domain × qtype: requests, outcomes (rcodes, no answer, timeouts), latency p50/p95/p99 of answered queries', parameters(querySchemas.dns), {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            app: { type: 'string' },
            domain: { type: 'string', description: 'lower case, no trailing dot; ~other for the domains past the top N of the app' },
            qtype: { type: 'string' },
            requests: { type: 'number' },
            noerror: { type: 'number' },
            nxdomain: { type: 'number' },
            servfail: { type: 'number' },
            refused: { type: 'number' },
            other_errors: { type: 'number' },
            no_answer: { type: 'number', description: 'NOERROR with no answer records' },
            timeouts: { type: 'number' },
            unreachable: { type: 'number', description: 'queries refused by ICMP port unreachable: the client failed at once' },
            p50_ms: { type: ['number', 'null'] },
            p95_ms: { type: ['number', 'null'] },
            p99_ms: { type: ['number', 'null'] },
            mean_ms: { type: ['number', 'null'] },
            nameservers: { type: 'array', items: { type: 'string' } },
            transports: { type: 'array', items: { enum: ['udp', 'tcp', 'udp+tcp'] } },
          },
        },
      }),
      '/api/v1/netcost': op('Network cost rows: bytes, class, billed bytes, unit price, tier and price source; cost_usd = billed_bytes / pricing_unit_bytes × unit_price_usd', parameters(querySchemas.netcost), {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            app: { type: 'string' },
            peer: { type: 'string' },
            port: { type: 'number' },
            peer_app: { type: ['string', 'null'] },
            class: { enum: ['same-host', 'same-zone', 'cross-az', 'cross-region', 'internet', 'unknown'] },
            charge: { enum: ['data-transfer', 'nat-gateway-processing'], description: 'NAT gateway rows carry billed bytes only: bytes_sent and bytes_received are 0' },
            direction: { enum: ['outbound', 'inbound', 'unknown'] },
            region: { type: ['string', 'null'] },
            month: { type: 'string' },
            bytes_sent: { type: 'number' },
            bytes_received: { type: 'number' },
            billed_bytes: { type: 'number' },
            billed_direction: { enum: ['none', 'egress', 'egress+ingress'] },
            cost_usd: { type: 'number' },
            unit_price_usd: { type: 'number' },
            pricing_unit: { type: 'string' },
            pricing_unit_bytes: { type: 'number' },
            tier: { type: 'string' },
            price_source: { type: 'string' },
          },
        },
      }),
      '/api/v1/netcost/series': op('Network cost per application per time step', parameters(querySchemas.netcostSeries), { type: 'object' }),
      '/api/v1/reports/monthly': op('Monthly network-cost report: JSON, CSV, or FOCUS 1.2 CSV', parameters(querySchemas.monthly), { type: 'string' }, 'text/csv'),
      '/api/v1/losses': op('What the collectors lost in a range (samples, stacks, windows), per collector and reason, with what each reason means', parameters(querySchemas.losses), { type: 'array' }),
      '/api/v1/status': op("The collectors' counters (samples, losses, windows)", [], { type: 'object' }),
      '/api/v1/openapi.json': op('This document', [], { type: 'object' }),
    },
  };
  return doc;
}
