/* Kiln's collectors alone (no store, no API), for measuring their own CPU and memory: the same agent
 * composition as `kiln run` (agent/agent.ts) into a sink that only counts. Prints one JSON line with
 * the collectors' status on SIGTERM.
 * Args: --sample-hz N --window S [--drain-ms MS] [--only profiler|runq|tcp|dns|none|all|a,b] (default:
 * profiler and runq) [--unwind tables|fp] [--egress-bytes-per-sample N] (default 0: off) */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { buildAgent } from '../agent/agent.js';
import { enableBpfStats } from '../native/index.js';
import { Classifier } from '../netcost/classify.js';
import type { WindowEnvelope, WindowSink } from '../pipeline/contracts.js';

const { values } = parseArgs({ options: { 'sample-hz': { type: 'string', default: '97' }, window: { type: 'string', default: '60' }, 'drain-ms': { type: 'string', default: '1000' }, only: { type: 'string' }, unwind: { type: 'string', default: 'tables' }, 'egress-bytes-per-sample': { type: 'string', default: '0' } } });
if (!process.env.KILN_BENCH_NO_BPF_STATS) enableBpfStats();
const counts = { windows: 0, stacks: 0, waits: 0, flowRows: 0, dnsRows: 0 };
const countingSink: WindowSink = {
  write(w: WindowEnvelope) {
    if (w.kind === 'profile') {
      counts.windows++;
      counts.stacks += w.apps.reduce((s, a) => s + a.stacks.length, 0);
    } else if (w.kind === 'runq') counts.waits += w.rows.reduce((s, r) => s + r.count, 0);
    else if (w.kind === 'netflow') counts.flowRows += w.rows.length;
    else if (w.kind === 'dns') counts.dnsRows += w.rows.length;
  },
  flush: async () => undefined,
  close: async () => undefined,
};
const ONLY: Record<string, string[] | undefined> = { profiler: ['profiler'], runq: ['runq'], tcp: ['tcp'], dns: ['dns'], none: [], all: undefined };
const agent = buildAgent({
  settings: {
    host: hostname(),
    windowSeconds: Number(values.window),
    sampleHz: Number(values['sample-hz']),
    drainIntervalMs: Number(values['drain-ms']),
    unwind: values.unwind === 'fp' ? 'fp' : 'tables',
    egressBytesPerSample: Number(values['egress-bytes-per-sample']),
    dnsTimeoutSeconds: 5,
    dnsTopDomains: 100,
    classifier: new Classifier({ provider: 'other', zones: [], internet: [], services: [], nat: [] }),
  },
  sink: countingSink,
  only: values.only === undefined ? ['profiler', 'runq'] : (ONLY[values.only] ?? values.only.split(',')),
  log: (line) => process.stderr.write(`harness: ${line}\n`),
});
agent.start();
// the collectors' timers are unref()ed; this process exists only to run them
const keepAlive = setInterval(() => {}, 1 << 30);
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  clearInterval(keepAlive);
  await agent.stop();
  const flat: Record<string, unknown> = { ...counts };
  for (const s of Object.values(agent.status())) Object.assign(flat, s);
  process.stdout.write(`${JSON.stringify(flat, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}\n`);
  process.exit(0);
});
