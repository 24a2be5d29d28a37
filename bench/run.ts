/* npm run bench [-- NAME...]: profiler-overhead, query, memory (default: all). Prints figures. */
import { memory } from './memory.js';
import { profilerOverhead } from './profiler-overhead.js';
import { queryLatency } from './query.js';
import { runqOverhead } from './runq-overhead.js';
import { uiRender } from './ui-render.js';
import { tcpOverhead } from './tcp-overhead.js';
import { dnsOverhead } from './dns-overhead.js';

const benches: Record<string, () => Promise<void>> = {
  'profiler-overhead': () => profilerOverhead(),
  query: () => queryLatency(),
  memory: () => memory(),
  'ui-render': () => uiRender(),
  'runq-overhead': () => runqOverhead(),
  'tcp-overhead': () => tcpOverhead(),
  'dns-overhead': () => dnsOverhead(),
};

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(benches);
for (const n of names) {
  if (!benches[n]) {
    console.error(`unknown benchmark ${n}; one of: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
}
if (process.geteuid?.() !== 0) {
  console.error('bench: needs root (loads BPF, runs perf record -a)');
  process.exit(1);
}
console.log(`kiln bench — ${new Date().toISOString()} — ${process.version}`);
for (const n of names) await benches[n]();
process.exit(0);
