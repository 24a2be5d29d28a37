/* Query time of the flamegraph and pprof endpoints for one application over 24 h of 60 s windows.
 * The data is generated: 1440 windows, each 97 Hz x 60 s of samples over 400 of a 3000-stack pool. */
import { ProfileRepository } from '../store/tables/profiles.js';
import { ChdbStore } from '../store/adapters/chdb.js';
import { schemaStatements } from '../store/schema.js';
import { tempDir } from '../testing/testkit.js';
import { createApi } from '../web/api.js';
import type { Frame, MappingDesc } from '../profiler/types.js';
import { median, percentile } from './common.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function syntheticStacks(count: number, seed = 1): Frame[][] {
  const rand = rng(seed);
  const maps: MappingDesc[] = ['/usr/bin/app', '/usr/lib/x86_64-linux-gnu/libc.so.6', '[kernel.kallsyms]'].map((file, i) => ({
    file,
    buildId: `${i}`.repeat(40),
    start: 0x1000n,
    limit: 0x400000n,
    offset: 0n,
  }));
  const fns = Array.from({ length: 1500 }, (_, i) => `pkg${i % 40}::Module${i % 97}::function_${i}`);
  const stacks: Frame[][] = [];
  for (let i = 0; i < count; i++) {
    const depth = 10 + Math.floor(rand() * 30);
    const frames: Frame[] = [];
    for (let d = 0; d < depth; d++) {
      // shallow frames shared widely (a real call tree), deep ones spread out
      const fi = Math.floor(rand() ** (3 / (d + 1)) * Math.min(fns.length, 5 + d * 60));
      frames.push({ name: fns[fi], mapping: maps[d > depth - 4 ? 2 : d % 5 === 4 ? 1 : 0], address: 0x1000n + BigInt(fi * 16 + d) });
    }
    stacks.push(frames);
  }
  return stacks;
}

export async function queryLatency(runs = 10): Promise<void> {
  const store = new ChdbStore(tempDir('bench-query'));
  for (const s of schemaStatements({ retentionDays: 7 })) await store.exec(s);
  const repo = new ProfileRepository(store);
  const pool = syntheticStacks(3000);
  const rand = rng(7);
  const end = Math.floor(Date.now() / 60_000) * 60;
  const start = end - 86400;
  const t0 = performance.now();
  let rows = 0;
  for (let ts = start; ts < end; ts += 60) {
    const picked = new Map<number, number>();
    for (let i = 0; i < 97 * 60; i++) {
      const k = Math.floor(rand() ** 2 * 400 + (ts / 60) % 2600);
      picked.set(k, (picked.get(k) ?? 0) + 1);
    }
    const stacks = [...picked].map(([k, count]) => ({ frames: pool[k % pool.length], count }));
    rows += stacks.length;
    await repo.writeWindow({ start: ts, seconds: 60, host: 'bench', periodNs: 10309278, truncatedSamples: 0, apps: [{ app: 'bench-app', containerId: '', stacks }] });
  }
  const loadS = (performance.now() - t0) / 1000;
  await store.exec('OPTIMIZE TABLE profile_samples FINAL');
  console.log(`\nQuery latency: 1440 windows (24 h), ${rows} sample rows, ${pool.length} distinct stacks; generated and stored in ${loadS.toFixed(1)} s`);
  const api = createApi({ profiles: repo, defaultPeriodNs: 10309278 });
  for (const [label, path] of [
    ['flamegraph 24 h', `/api/v1/profile/flamegraph?app=bench-app&from=${start}&to=${end}`],
    ['pprof 24 h', `/api/v1/profile/pprof?app=bench-app&from=${start}&to=${end}`],
    ['flamegraph 1 h', `/api/v1/profile/flamegraph?app=bench-app&from=${end - 3600}&to=${end}`],
  ]) {
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < runs + 1; i++) {
      const t = performance.now();
      const r = await api.request(path);
      bytes = (await r.arrayBuffer()).byteLength;
      if (r.status !== 200) throw new Error(`${label}: HTTP ${r.status}`);
      if (i > 0) times.push(performance.now() - t); // first run warms caches
    }
    console.log(`  ${label.padEnd(16)} median ${median(times).toFixed(0).padStart(4)} ms   p95 ${percentile(times, 95).toFixed(0).padStart(4)} ms   (${(bytes / 1024).toFixed(0)} KiB response)`);
  }
  await store.close();
}
