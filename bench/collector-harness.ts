/* The CPU profiler collectors alone (no store, no API), for measuring their own CPU and memory.
 * Prints one JSON line with stats on SIGTERM. Args: --sample-hz N --window S */
import { parseArgs } from 'node:util';
import { enableBpfStats } from '../native/index.js';
import { ProfileCollector } from '../profiler/collector.js';

const { values } = parseArgs({ options: { 'sample-hz': { type: 'string', default: '97' }, window: { type: 'string', default: '60' }, 'drain-ms': { type: 'string', default: '1000' } } });
enableBpfStats();
let windows = 0;
let stacks = 0;
const c = new ProfileCollector({
  sampleHz: Number(values['sample-hz']),
  windowSeconds: Number(values.window),
  drainIntervalMs: Number(values['drain-ms']),
  onWindow: async (w) => {
    windows++;
    stacks += w.apps.reduce((s, a) => s + a.stacks.length, 0);
  },
});
c.start();
// the collector's timers are unref()ed; this process exists only to run it
const keepAlive = setInterval(() => {}, 1 << 30);
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  clearInterval(keepAlive);
  await c.stop();
  const s = c.stats();
  process.stdout.write(`${JSON.stringify({ windows, stacks, ...Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])) })}\n`);
  process.exit(0);
});
