import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EgressAggregator, FOLDED_FRAME } from './egress.js';
import { egressGaps } from './sampler.js';
import { stackKey } from './window.js';
import { UNKNOWN_MAPPING, type Frame } from './types.js';

const frames = (name: string): Frame[] => [{ name: 'main', mapping: UNKNOWN_MAPPING, address: 1n }, { name, mapping: UNKNOWN_MAPPING, address: 2n }];
const proc = { pid: 7, exe: '/usr/bin/x', cmdline: 'x' };

test('egress gaps are exponential quantiles whose mean is the stated bytes per sample', () => {
  const { gaps, mean } = egressGaps(1 << 20);
  assert.equal(gaps.length, 1024);
  assert.ok(gaps.every((g) => g >= 1n));
  assert.equal(mean, gaps.reduce((s, g) => s + Number(g), 0) / gaps.length);
  // the midpoint quantiles of an exponential: mean within 0.1% of N, median near N ln 2
  assert.ok(Math.abs(mean / (1 << 20) - 1) < 0.001, String(mean));
  const sorted = [...gaps].sort((a, b) => Number(a - b));
  assert.ok(Math.abs(Number(sorted[512]) / ((1 << 20) * Math.LN2) - 1) < 0.01);
});

test('an application keeps at most its stack limit per window; the rest is folded and counted, no point lost', () => {
  const agg = new EgressAggregator(10, 1 << 20, 3);
  let total = 0;
  for (let i = 0; i < 8; i++) {
    const f = frames(`send_${i}`);
    agg.add(105, 'api', '', proc, '10.0.0.1', 443, f, stackKey(f), i + 1);
    total += i + 1;
  }
  // another application has a limit of its own
  const g = frames('other');
  agg.add(101, 'worker', '', proc, '10.0.0.2', 80, g, stackKey(g), 5);
  const [w] = agg.take(110);
  assert.equal(w.start, 100);
  assert.equal(w.bytesPerSample, 1 << 20);
  const api = w.profiles.filter((p) => p.app === 'api').flatMap((p) => p.stacks);
  assert.equal(api.length, 4); // three kept, one folded
  assert.equal(api.reduce((s, x) => s + x.count, 0), total);
  const folded = api.find((s) => s.frames[0].name === FOLDED_FRAME)!;
  assert.equal(folded.count, 4 + 5 + 6 + 7 + 8);
  assert.equal(w.foldedPoints, folded.count);
  assert.equal(w.profiles.find((p) => p.app === 'worker')!.stacks[0].count, 5);
});

test('windows are handed over once they have ended, one profile per process and peer', () => {
  const agg = new EgressAggregator(10, 4096);
  const f = frames('send');
  agg.add(95, 'api', '', proc, '10.0.0.1', 443, f, stackKey(f), 1);
  agg.add(105, 'api', '', proc, '10.0.0.1', 443, f, stackKey(f), 2);
  agg.add(106, 'api', '', proc, '10.0.0.9', 443, f, stackKey(f), 3);
  assert.deepEqual(agg.take(100).map((w) => w.start), [90]);
  assert.deepEqual(agg.take(109), []);
  const [w] = agg.take(Infinity);
  assert.deepEqual(w.profiles.map((p) => `${p.peerAddress}:${p.stacks[0].count}`).sort(), ['10.0.0.1:2', '10.0.0.9:3']);
});
