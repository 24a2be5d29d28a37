import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffTrees, rankChanges, type DiffNode, type StackSamples } from './diff.js';

function node(t: DiffNode, ...path: string[]): DiffNode {
  let n = t;
  for (const p of path) {
    const c = n.children.find((x) => x.name === p);
    assert.ok(c, `${path.join(' > ')}: no ${p}`);
    n = c;
  }
  return n;
}

const s = (samples: number, ...functions: string[]): StackSamples => ({ functions, samples });

describe('differential flamegraph', () => {
  const base = [s(50, 'main', 'work', 'parse'), s(50, 'main', 'work', 'encode')];
  const doubled = [s(100, 'main', 'work', 'parse'), s(50, 'main', 'work', 'encode')];

  it('a function that doubles shows a positive delta in both modes', () => {
    const abs = diffTrees('app', doubled, base, 'absolute');
    assert.equal(node(abs, 'main', 'work', 'parse').delta, 50);
    assert.equal(node(abs, 'main', 'work', 'encode').delta, 0);
    assert.equal(abs.scale, 1);
    const rel = diffTrees('app', doubled, base, 'relative');
    // base scaled by 150/100: parse 100 - 75 = +25, encode 50 - 75 = -25
    assert.equal(rel.scale, 1.5);
    assert.equal(node(rel, 'main', 'work', 'parse').delta, 25);
    assert.equal(node(rel, 'main', 'work', 'encode').delta, -25);
    assert.equal(node(rel, 'main').delta, 0);
  });

  it('relative mode: a uniformly busier period changes nothing; absolute mode shows the growth', () => {
    const busier = base.map((x) => ({ ...x, samples: x.samples * 3 }));
    const rel = diffTrees('app', busier, base, 'relative');
    const all = (n: DiffNode): DiffNode[] => [n, ...n.children.flatMap(all)];
    assert.ok(all(rel).every((n) => n.delta === 0), 'no node changed');
    const abs = diffTrees('app', busier, base, 'absolute');
    assert.equal(node(abs, 'main', 'work', 'parse').delta, 100);
  });

  it('keeps nodes found on one side only', () => {
    const t = diffTrees('app', [s(10, 'main', 'new_fn')], [s(10, 'main', 'old_fn')], 'absolute');
    assert.deepEqual(
      { ...node(t, 'main', 'new_fn'), children: undefined },
      { name: 'new_fn', value: 10, base_value: 0, delta: 10, children: undefined },
    );
    assert.deepEqual({ ...node(t, 'main', 'old_fn'), children: undefined }, { name: 'old_fn', value: 0, base_value: 10, delta: -10, children: undefined });
    assert.equal(node(t, 'main', 'new_fn').value, 10);
  });

  it('an empty base scales to nothing instead of dividing by zero', () => {
    const t = diffTrees('app', [s(5, 'main')], [], 'relative');
    assert.equal(t.scale, 0);
    assert.equal(node(t, 'main').delta, 5);
  });
});

describe('changes ranking', () => {
  it('ranks the function whose share changed most first, with shares and samples', () => {
    const base = [s(500, 'main', 'steady'), s(500, 'main', 'hot_a')];
    const compared = [s(300, 'main', 'steady'), s(700, 'main', 'hot_b')];
    const r = rankChanges(compared, base);
    assert.equal(r[0].function, 'hot_b');
    assert.equal(r[0].status, 'changed');
    assert.equal(r[0].total_share, 0.7);
    assert.equal(r[0].total_share_base, 0);
    assert.equal(r[0].self_delta, 0.7);
    assert.equal(r[0].total_samples, 700);
    assert.deepEqual(
      r.map((x) => x.function),
      ['hot_b', 'hot_a', 'steady', 'main'],
    );
    assert.equal(r.find((x) => x.function === 'main')!.status, 'unchanged');
  });

  it('on an exact tie, the function that grew comes first', () => {
    const r = rankChanges([s(100, 'main', 'b')], [s(100, 'main', 'a')]);
    assert.deepEqual(
      r.slice(0, 2).map((x) => x.function),
      ['b', 'a'],
    );
  });

  it('marks a function with too few samples instead of ranking it', () => {
    const base = [s(1000, 'main', 'a'), s(2, 'main', 'rare')];
    const compared = [s(1000, 'main', 'a'), s(6, 'main', 'rare')];
    const rare = rankChanges(compared, base).find((x) => x.function === 'rare')!;
    assert.equal(rare.status, 'too_few_samples');
    assert.equal(rankChanges(compared, base).at(-1)!.function, 'rare', 'listed after the ranked ones');
  });

  it('a uniformly busier period has no changed function', () => {
    const base = [s(400, 'main', 'x'), s(600, 'main', 'y')];
    const busier = base.map((b) => ({ ...b, samples: b.samples * 4 }));
    assert.ok(rankChanges(busier, base).every((r) => r.status === 'unchanged'));
  });

  it('counts a recursive function once per stack for its total', () => {
    const r = rankChanges([s(10, 'main', 'rec', 'rec', 'rec')], [s(10, 'main', 'other')], { minSamples: 1 });
    assert.equal(r.find((x) => x.function === 'rec')!.total_samples, 10);
  });
});
