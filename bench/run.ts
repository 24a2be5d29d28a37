/* npm run bench [-- NAME...]: profiler-overhead, query, memory, ... (default: all but soak). Prints figures. */
import { memory } from './memory.js';
import { profilerOverhead } from './profiler-overhead.js';
import { queryLatency, queryLatency30d } from './query.js';
import { runqOverhead } from './runq-overhead.js';
import { uiRender } from './ui-render.js';
import { tcpOverhead } from './tcp-overhead.js';
import { dnsOverhead } from './dns-overhead.js';
import { soak } from './soak.js';
import { unwindBench } from './unwind.js';
import { overhead } from './overhead.js';
import { ingestBench } from './ingest.js';

const benches: Record<string, () => Promise<void>> = {
  overhead: () => overhead(),
  'profiler-overhead': () => profilerOverhead(),
  query: () => queryLatency(),
  'query-30d': () => queryLatency30d(),
  memory: () => memory(),
  'ui-render': () => uiRender(),
  'runq-overhead': () => runqOverhead(),
  'tcp-overhead': () => tcpOverhead(),
  'dns-overhead': () => dnsOverhead(),
  unwind: () => unwindBench(),
  ingest: () => ingestBench(),
  soak: () => soak(),
};

// the soak runs 30 minutes: only when asked for by name
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(benches).filter((n) => n !== 'soak');
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
