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

/** 30 days of one application's 60 s windows (43,200), generated as above but inserted a day at a time;
 *  the flamegraph, a diff of two 15-day halves and the pprof over the whole range, each through the
 *  rollups and through raw windows only (the peer), totals checked equal. */
export async function queryLatency30d(runs = 5): Promise<void> {
  const store = new ChdbStore(tempDir('bench-query-30d'));
  for (const s of schemaStatements({ retentionDays: 60 })) await store.exec(s);
  const repo = new ProfileRepository(store);
  const rawRepo = new ProfileRepository(store, { rollups: false });
  const pool = syntheticStacks(3000);
  const rand = rng(11);
  const end = Math.floor(Date.now() / 86_400_000) * 86400 + 3 * 3600 + 1800; // mid-hour: raw edges too
  const start = end - 30 * 86400;
  const t0 = performance.now();
  // the stacks and mappings once, through the repository (ids as it computes them)
  await repo.writeWindow({ start: start - 86400 * 2, seconds: 60, host: 'bench', periodNs: 10309278, truncatedSamples: 0, apps: [{ app: 'warm', containerId: '', stacks: pool.map((frames) => ({ frames, count: 1 })) }] });
  const ids = repo.prepareWindow({ start, seconds: 60, host: 'bench', periodNs: 10309278, truncatedSamples: 0, apps: [{ app: 'x', containerId: '', stacks: pool.map((frames) => ({ frames, count: 1 })) }] }).find((i) => i.table === 'profile_samples')!.rows.map((r) => r.stack_id as string);
  let rows = 0;
  for (let day = start; day < end; day += 86400) {
    const batch: Record<string, unknown>[] = [];
    for (let ts = day; ts < Math.min(day + 86400, end); ts += 60) {
      const picked = new Map<number, number>();
      for (let i = 0; i < 97 * 60; i++) {
        const k = Math.floor(rand() ** 2 * 400 + (ts / 60) % 2600);
        picked.set(k, (picked.get(k) ?? 0) + 1);
      }
      for (const [k, n] of picked) batch.push({ ts, window_seconds: 60, host: 'bench', app: 'bench-app', container_id: '', stack_id: ids[k % pool.length], samples: n, period_ns: 10309278 });
    }
    rows += batch.length;
    await store.insert('profile_samples', batch);
    const windows: Record<string, unknown>[] = [];
    for (let ts = day; ts < Math.min(day + 86400, end); ts += 60) windows.push({ ts, window_seconds: 60, host: 'bench', app: 'bench-app', container_id: '', source: 'profiler' });
    await store.insert('app_windows', windows);
  }
  const loadS = (performance.now() - t0) / 1000;
  console.log(`\nQuery latency over 30 days: 43,200 windows, ${rows} sample rows, ${pool.length} distinct stacks; generated and stored in ${loadS.toFixed(0)} s`);
  const mid = end - 15 * 86400;
  for (const [label, path] of [
    ['flamegraph 30 d', `/api/v1/profile/flamegraph?app=bench-app&from=${start}&to=${end}`],
    ['diff 15 d vs 15 d', `/api/v1/profile/diff?app=bench-app&from=${mid}&to=${end}&base_from=${start}&base_to=${mid}`],
    ['pprof 30 d', `/api/v1/profile/pprof?app=bench-app&from=${start}&to=${end}`],
  ]) {
    const line: string[] = [];
    const totals: number[] = [];
    for (const [name, r] of [
      ['rollups', repo],
      ['raw windows', rawRepo],
    ] as const) {
      const api = createApi({ profiles: r, defaultPeriodNs: 10309278 });
      const times: number[] = [];
      for (let i = 0; i < runs + 1; i++) {
        const t = performance.now();
        const res = await api.request(path);
        const body = await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${label}: HTTP ${res.status}`);
        if (i > 0) times.push(performance.now() - t);
        if (i === 0 && path.includes('flamegraph')) totals.push((JSON.parse(Buffer.from(body).toString()) as { value: number }).value);
      }
      line.push(`${name} median ${median(times).toFixed(0).padStart(5)} ms`);
    }
    const check = totals.length === 2 ? `; totals ${totals[0]} = ${totals[1]}: ${totals[0] === totals[1] ? 'equal' : 'DIFFERENT'}` : '';
    console.log(`  ${label.padEnd(18)} ${line.join('   ')}${check}`);
  }
  await store.close();
}

