import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapSizes, parseCpuList } from './sampler.js';

test('parses kernel CPU lists', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  assert.deepEqual(parseCpuList('0'), [0]);
  assert.throws(() => parseCpuList('x'));
});

test('sizes maps for the worst case between drains, within floors and caps', () => {
  // 2 CPUs at 97 Hz drained every second: small host, floors apply
  assert.deepEqual(mapSizes(2, 97, 1000), { counts: 4096, stacks: 2048 });
  // 64 CPUs at 99 Hz: 6336 samples per drain -> 2x keys, 4x stacks, rounded to powers of two
  assert.deepEqual(mapSizes(64, 99, 1000), { counts: 16384, stacks: 32768 });
  // absurd rates stay capped
  const big = mapSizes(512, 10000, 5000);
  assert.equal(big.counts, 1 << 18);
  assert.equal(big.stacks, 1 << 16);
});
