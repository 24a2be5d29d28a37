import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildFlamegraph } from './flamegraph.js';
import type { Frame } from './types.js';
import { windowStart } from '../pipeline/scheduler.js';
import { MAX_PROCESSES_PER_APP, OTHER_PROCESSES, TRUNCATED_FRAME, WindowAggregator } from './window.js';

const m = { file: '/bin/x', buildId: '', start: 0n, limit: 0x1000n, offset: 0n };
const frames = (...names: string[]): Frame[] => names.map((name, i) => ({ name, mapping: m, address: BigInt(i) }));

test('aggregates per app and container into wall-clock-aligned windows', () => {
  assert.equal(windowStart(125.7, 60), 120);
  const agg = new WindowAggregator(60, 'h', 10_000_000);
  agg.add(121, 'a', 'c1', frames('main', 'f'), 2);
  agg.add(150, 'a', 'c1', frames('main', 'f'), 3);
  agg.add(150, 'a', 'c2', frames('main', 'f'), 1);
  agg.add(185, 'a', 'c1', frames('main', 'g'), 4);
  assert.deepEqual(agg.takeCompleted(179), []);
  const [w] = agg.takeCompleted(180);
  assert.equal(w.start, 120);
  assert.deepEqual(
    w.apps.map((a) => [a.app, a.containerId, a.stacks.map((s) => s.count)]),
    [
      ['a', 'c1', [5]],
      ['a', 'c2', [1]],
    ],
  );
  assert.equal(agg.takeAll()[0].start, 180);
});

test('beyond the distinct-stack limit, samples go to a counted [truncated] stack, none lost', () => {
  const agg = new WindowAggregator(60, 'h', 1, 2);
  agg.add(0, 'a', '', frames('s1'), 1);
  agg.add(0, 'a', '', frames('s2'), 1);
  agg.add(0, 'a', '', frames('s3'), 5);
  agg.add(0, 'a', '', frames('s4'), 2);
  const [w] = agg.takeAll();
  assert.equal(w.truncatedSamples, 7);
  const total = w.apps[0].stacks.reduce((s, x) => s + x.count, 0);
  assert.equal(total, 9);
  assert.ok(w.apps[0].stacks.some((s) => s.frames[0].name === TRUNCATED_FRAME && s.count === 7));
});

test('builds a d3-flame-graph tree with values summed along paths', () => {
  const t = buildFlamegraph('app', [
    { functions: ['main', 'a'], samples: 3 },
    { functions: ['main', 'b'], samples: 1 },
    { functions: ['main'], samples: 1 },
  ]);
  assert.deepEqual(t, {
    name: 'app',
    value: 5,
    children: [
      {
        name: 'main',
        value: 5,
        children: [
          { name: 'a', value: 3, children: [] },
          { name: 'b', value: 1, children: [] },
        ],
      },
    ],
  });
});

test('samples carry their process; past MAX_PROCESSES_PER_APP an app files the rest under [other processes], counted', () => {
  const agg = new WindowAggregator(60, 'h', 1);
  const proc = (pid: number) => ({ pid, exe: '/usr/bin/python3', cmdline: `python3 worker.py --id ${pid}` });
  for (let pid = 1; pid <= MAX_PROCESSES_PER_APP + 10; pid++) agg.add(0, 'python3', '', frames('main'), 2, undefined, proc(pid));
  agg.add(0, 'python3', '', frames('main'), 1, undefined, proc(1));
  agg.add(0, 'node', '', frames('main'), 1, undefined, proc(5000));
  const [w] = agg.takeAll();
  const py = w.apps.filter((a) => a.app === 'python3');
  assert.equal(py.length, MAX_PROCESSES_PER_APP + 1);
  assert.deepEqual(
    py.filter((a) => a.pid === 1).map((a) => [a.cmdline, a.stacks[0].count]),
    [['python3 worker.py --id 1', 3]],
  );
  const other = py.find((a) => a.cmdline === OTHER_PROCESSES.cmdline);
  assert.equal(other?.stacks[0].count, 20);
  assert.equal(w.otherProcessSamples, 20);
  // another application has its own bound
  assert.deepEqual(
    w.apps.filter((a) => a.app === 'node').map((a) => a.pid),
    [5000],
  );
  const total = w.apps.reduce((s, a) => s + a.stacks.reduce((t, x) => t + x.count, 0), 0);
  assert.equal(total, 2 * (MAX_PROCESSES_PER_APP + 10) + 2);
});
