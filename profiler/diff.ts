/* Comparison of two selections (two ranges of one app, or two apps): a differential flamegraph tree
 * and the functions ranked by how much their share of CPU changed. Pure functions over stack rows. */

export interface StackSamples {
  /** root first */
  functions: string[];
  samples: number;
}

export type DiffMode = 'relative' | 'absolute';

export interface DiffNode {
  name: string;
  /** samples in the compared selection (what d3-flame-graph draws) */
  value: number;
  /** samples in the base selection, unscaled */
  base_value: number;
  /** value - base_value * scale: > 0 grew, < 0 shrank */
  delta: number;
  children: DiffNode[];
}

export interface DiffTree extends DiffNode {
  mode: DiffMode;
  /** factor applied to base values: compared total / base total in relative mode, 1 in absolute */
  scale: number;
  total: number;
  base_total: number;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** shares and their changes to 0.01 percentage point */
function share4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

export function diffTrees(rootName: string, compared: StackSamples[], base: StackSamples[], mode: DiffMode): DiffTree {
  const total = compared.reduce((s, x) => s + x.samples, 0);
  const baseTotal = base.reduce((s, x) => s + x.samples, 0);
  // relative: the base scaled to the compared total, so a uniformly busier period shows no change
  const scale = mode === 'relative' ? (baseTotal > 0 ? total / baseTotal : 0) : 1;
  const root: DiffNode = { name: rootName, value: 0, base_value: 0, delta: 0, children: [] };
  const kids = new Map<DiffNode, Map<string, DiffNode>>();
  const add = (s: StackSamples, field: 'value' | 'base_value') => {
    root[field] += s.samples;
    let node = root;
    for (const fn of s.functions) {
      let m = kids.get(node);
      if (!m) {
        m = new Map();
        kids.set(node, m);
      }
      let child = m.get(fn);
      if (!child) {
        child = { name: fn, value: 0, base_value: 0, delta: 0, children: [] };
        m.set(fn, child);
        node.children.push(child);
      }
      child[field] += s.samples;
      node = child;
    }
  };
  for (const s of compared) add(s, 'value');
  for (const s of base) add(s, 'base_value');
  const finish = (n: DiffNode) => {
    n.delta = round(n.value - n.base_value * scale);
    n.children.sort((a, b) => b.value - a.value || b.base_value - a.base_value || (a.name < b.name ? -1 : 1));
    for (const c of n.children) finish(c);
  };
  finish(root);
  return { ...root, mode, scale: round(scale), total, base_total: baseTotal };
}

export interface FunctionChange {
  function: string;
  /** 'changed': the share moved beyond chance (|z| >= 3); 'unchanged': it did not;
   *  'too_few_samples': too little data on both sides to tell, not ranked */
  status: 'changed' | 'unchanged' | 'too_few_samples';
  self_samples: number;
  self_samples_base: number;
  total_samples: number;
  total_samples_base: number;
  /** shares of all samples in the selection, 0..1 */
  self_share: number;
  self_share_base: number;
  total_share: number;
  total_share_base: number;
  self_delta: number;
  total_delta: number;
  /** two-proportion z score of the larger of the two changes */
  z: number;
}

export interface ChangesOptions {
  /** a function needs at least this many samples on the two sides together to be ranked */
  minSamples?: number;
  /** |z| at or above this counts as changed */
  zThreshold?: number;
  limit?: number;
}

function perFunction(stacks: StackSamples[]): Map<string, { self: number; total: number }> {
  const out = new Map<string, { self: number; total: number }>();
  for (const s of stacks) {
    const seen = new Set<string>(); // recursion: count a stack once per function
    s.functions.forEach((fn, i) => {
      let e = out.get(fn);
      if (!e) {
        e = { self: 0, total: 0 };
        out.set(fn, e);
      }
      if (!seen.has(fn)) {
        e.total += s.samples;
        seen.add(fn);
      }
      if (i === s.functions.length - 1) e.self += s.samples;
    });
  }
  return out;
}

function zScore(x1: number, n1: number, x2: number, n2: number): number {
  if (n1 === 0 || n2 === 0) return 0;
  const p = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  return se === 0 ? 0 : (x1 / n1 - x2 / n2) / se;
}

/** Functions ranked by how much their self and total share changed from base to compared. */
export function rankChanges(compared: StackSamples[], base: StackSamples[], opts: ChangesOptions = {}): FunctionChange[] {
  const minSamples = opts.minSamples ?? 20;
  const zThreshold = opts.zThreshold ?? 3;
  const n1 = compared.reduce((s, x) => s + x.samples, 0);
  const n2 = base.reduce((s, x) => s + x.samples, 0);
  const a = perFunction(compared);
  const b = perFunction(base);
  const rows: FunctionChange[] = [];
  for (const fn of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(fn) ?? { self: 0, total: 0 };
    const y = b.get(fn) ?? { self: 0, total: 0 };
    const share = (v: number, n: number) => (n > 0 ? v / n : 0);
    const zSelf = zScore(x.self, n1, y.self, n2);
    const zTotal = zScore(x.total, n1, y.total, n2);
    const z = Math.abs(zSelf) >= Math.abs(zTotal) ? zSelf : zTotal;
    const enough = x.total + y.total >= minSamples && n1 > 0 && n2 > 0;
    rows.push({
      function: fn,
      status: !enough ? 'too_few_samples' : Math.abs(z) >= zThreshold ? 'changed' : 'unchanged',
      self_samples: x.self,
      self_samples_base: y.self,
      total_samples: x.total,
      total_samples_base: y.total,
      self_share: share4(share(x.self, n1)),
      self_share_base: share4(share(y.self, n2)),
      total_share: share4(share(x.total, n1)),
      total_share_base: share4(share(y.total, n2)),
      self_delta: share4((share(x.self, n1) - share(y.self, n2))),
      total_delta: share4((share(x.total, n1) - share(y.total, n2))),
      z: Math.round(z * 100) / 100,
    });
  }
  const rank = { changed: 0, unchanged: 1, too_few_samples: 2 };
  const score = (r: FunctionChange) => Math.max(Math.abs(r.self_delta), Math.abs(r.total_delta));
  // on equal change, growth first: the question is usually "what got slower?"
  rows.sort((p, q) => rank[p.status] - rank[q.status] || score(q) - score(p) || q.total_delta - p.total_delta || Math.abs(q.z) - Math.abs(p.z) || (p.function < q.function ? -1 : 1));
  return rows.slice(0, opts.limit ?? 200);
}
