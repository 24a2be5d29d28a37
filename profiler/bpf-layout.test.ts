import assert from 'node:assert/strict';
import { test } from 'node:test';
import { structLayouts } from '../native/index.js';
import { EGRESS_KEY, PROFILE_KEY, PROFILE_STACK, UNWIND_MAPPING, UNWIND_PROC, UNWIND_REQUEST_VALUE, UNWIND_ROW, UNWIND_TABLE, decodeProfileKey, decodeProfileStack } from './bpf-layout.js';

test('TypeScript decoders use the offsets of the C structs in bpf/profile.h', () => {
  const c = structLayouts();
  assert.deepEqual({ ...c.profile_key }, { ...PROFILE_KEY });
  assert.deepEqual({ ...c.profile_stack }, { ...PROFILE_STACK });
  assert.deepEqual({ ...c.egress_key }, { ...EGRESS_KEY });
  assert.deepEqual({ ...c.unwind_row }, { ...UNWIND_ROW });
  assert.deepEqual({ ...c.unwind_table }, { ...UNWIND_TABLE });
  assert.deepEqual({ ...c.unwind_mapping }, { ...UNWIND_MAPPING });
  assert.deepEqual({ ...c.unwind_proc }, { ...UNWIND_PROC });
  assert.deepEqual({ ...c.unwind_request_value }, { ...UNWIND_REQUEST_VALUE });
});

test('decodes a profile_key and a profile_stack written at those offsets', () => {
  const k = Buffer.alloc(PROFILE_KEY.size);
  k.writeUInt32LE(4242, PROFILE_KEY.tgid);
  k.writeUInt32LE(1, PROFILE_KEY.flags);
  k.writeBigUInt64LE(77n, PROFILE_KEY.cgroup_id);
  k.writeBigUInt64LE(0xfeedn, PROFILE_KEY.user_stack_hash);
  k.writeBigUInt64LE(0xbeefn, PROFILE_KEY.kernel_stack_hash);
  k.writeBigUInt64LE(123456789n, PROFILE_KEY.exe_ino);
  k.writeBigUInt64LE(0x7ffd1000n, PROFILE_KEY.start_stack);
  k.writeUInt32LE(98765, PROFILE_KEY.unix_sec);
  k.write('worker\0garbage', PROFILE_KEY.comm);
  assert.deepEqual(decodeProfileKey(k, 0), {
    tgid: 4242,
    kthread: true,
    cgroupId: 77n,
    userStackHash: 0xfeedn,
    kernelStackHash: 0xbeefn,
    exeIno: 123456789n,
    startStack: 0x7ffd1000n,
    unixSec: 98765,
    comm: 'worker',
  });

  const s = Buffer.alloc(PROFILE_STACK.size, 0xaa); // slots past depth hold garbage
  s.writeBigUInt64LE(0x401000n, 0);
  s.writeBigUInt64LE(0x401234n, 8);
  s.writeUInt32LE(2, PROFILE_STACK.depth);
  assert.deepEqual([...decodeProfileStack(s, 0)], [0x401000n, 0x401234n]);
});
