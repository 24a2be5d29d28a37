import assert from 'node:assert/strict';
import { test } from 'node:test';
import { structLayouts } from '../native/index.js';
import { RUNQ_HIST, RUNQ_KEY, RUNQ_SLOTS, decodeRunqKey, quantileUs, slotBoundsUs, slotOf } from './layout.js';

test('the runq_hist decoder uses the offsets of bpf/runq.h', () => {
  assert.deepEqual({ ...structLayouts().runq_hist }, { ...RUNQ_HIST });
  assert.deepEqual({ ...structLayouts().runq_key }, { ...RUNQ_KEY });
  const k = Buffer.alloc(RUNQ_KEY.size);
  k.writeBigUInt64LE(99n, RUNQ_KEY.cgroup_id);
  k.writeUInt32LE(4321, RUNQ_KEY.tgid);
  k.writeUInt32LE(1, RUNQ_KEY.flags);
  k.write('postgres\0thread', RUNQ_KEY.comm);
  assert.deepEqual(decodeRunqKey(k, 0), { cgroupId: 99n, tgid: 4321, kthread: true, comm: 'postgres' });
});

test('buckets: under 1 us, then four per power of two, contiguous up to the open last one', () => {
  assert.deepEqual(slotBoundsUs(0), [0, 1]);
  assert.deepEqual(slotBoundsUs(1), [1, 1.25]);
  assert.deepEqual(slotBoundsUs(5), [2, 2.5]);
  assert.deepEqual(slotBoundsUs(4 * 10 + 1), [1024, 1280]);
  for (let s = 1; s < RUNQ_SLOTS - 1; s++) assert.equal(slotBoundsUs(s)[1], slotBoundsUs(s + 1)[0], `slot ${s}`);
  assert.equal(slotBoundsUs(RUNQ_SLOTS - 1)[1], Infinity);
  // every integer microsecond lands in the slot whose bounds contain it (as the BPF program computes)
  for (const us of [1, 2, 3, 5, 7, 100, 1023, 1024, 1279, 1280, 4000, 999_999]) {
    const [lo, hi] = slotBoundsUs(slotOf(us));
    assert.ok(us >= lo && us < hi, `${us} us in [${lo}, ${hi})`);
  }
});

test('quantiles interpolate inside the bucket that holds the rank', () => {
  const slots = new Array(RUNQ_SLOTS).fill(0);
  slots[slotOf(1024)] = 100; // [1024, 1280)
  assert.equal(quantileUs(slots, 0.5), 1152);
  slots[slotOf(10)] = 100; // [10, 12): now half the waits are short
  assert.ok(quantileUs(slots, 0.25)! >= 10 && quantileUs(slots, 0.25)! < 12);
  assert.ok(quantileUs(slots, 0.99)! >= 1024 && quantileUs(slots, 0.99)! < 1280);
  assert.equal(quantileUs(new Array(RUNQ_SLOTS).fill(0), 0.5), null);
});
