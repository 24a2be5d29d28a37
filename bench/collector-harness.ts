/* Kiln's collectors alone (no store, no API), for measuring their own CPU and memory.
 * Prints one JSON line with stats on SIGTERM.
 * Args: --sample-hz N --window S [--drain-ms MS] [--only profiler|runq|tcp|dns|none] */
import { parseArgs } from 'node:util';
import { enableBpfStats } from '../native/index.js';
import { defaultProviders } from '../host/app-naming.js';
import { CgroupResolver } from '../host/cgroup-resolver.js';
import { ProfileCollector } from '../profiler/collector.js';
import { RunqCollector } from '../runq/collector.js';
import { ProcessTable } from '../host/process-table.js';
import { Classifier } from '../netcost/classify.js';
import { FlowCollector } from '../netcost/flows.js';
import { DnsCollector } from '../dns/collector.js';

const { values } = parseArgs({ options: { 'sample-hz': { type: 'string', default: '97' }, window: { type: 'string', default: '60' }, 'drain-ms': { type: 'string', default: '1000' }, only: { type: 'string' } } });
if (!process.env.KILN_BENCH_NO_BPF_STATS) enableBpfStats();
let windows = 0;
let stacks = 0;
let waits = 0;
let flowRows = 0;
const flows =
  values.only === 'tcp'
    ? new FlowCollector({
        windowSeconds: Number(values.window),
        host: 'bench',
        classifier: new Classifier({ provider: 'other', zones: [], internet: [], services: [], nat: [] }),
        cgroups: new CgroupResolver(defaultProviders()),
        processes: new ProcessTable(),
        onWindow: async (w) => {
          flowRows += w.rows.length;
        },
      })
    : null;
flows?.start();
let dnsRecords = 0;
const dns =
  values.only === 'dns'
    ? new DnsCollector({
        windowSeconds: Number(values.window),
        host: 'bench',
        cgroups: new CgroupResolver(defaultProviders()),
        processes: new ProcessTable(),
        onWindow: async () => {},
        onRecord: () => dnsRecords++,
      })
    : null;
dns?.start();
const runq =
  values.only === 'profiler' || values.only === 'tcp' || values.only === 'dns' || values.only === 'none'
    ? null
    : new RunqCollector({
        windowSeconds: Number(values.window),
        host: 'bench',
        resolver: new CgroupResolver(defaultProviders()),
        onWindow: async (w) => {
          waits += w.rows.reduce((s, r) => s + r.count, 0);
        },
      });
runq?.start();
const c = values.only === 'runq' || values.only === 'tcp' || values.only === 'dns' || values.only === 'none' ? null : new ProfileCollector({
  sampleHz: Number(values['sample-hz']),
  windowSeconds: Number(values.window),
  drainIntervalMs: Number(values['drain-ms']),
  onWindow: async (w) => {
    windows++;
    stacks += w.apps.reduce((s, a) => s + a.stacks.length, 0);
  },
});
c?.start();
// the collector's timers are unref()ed; this process exists only to run it
const keepAlive = setInterval(() => {}, 1 << 30);
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  clearInterval(keepAlive);
  await c?.stop();
  await runq?.stop();
  await flows?.stop();
  const dnsStats = dns?.stats();
  await dns?.stop();
  const s = { ...(c?.stats() ?? {}), ...(flows ? { flowRows, ...flows.stats() } : {}), ...(dnsStats ? { dnsRecords, ...dnsStats } : {}) };
  process.stdout.write(`${JSON.stringify({ windows, stacks, waits, ...Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])) })}\n`);
  process.exit(0);
});
