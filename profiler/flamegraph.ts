/* Stacks → the d3-flame-graph tree {name, value, children}. */

export interface FlameNode {
  name: string;
  value: number;
  children: FlameNode[];
  /** an egress tree's sums per node: dollars and sample points (egress stacks) */
  usd?: number;
  points?: number;
}

type Sum = 'usd' | 'points';

/** @param sums further fields of each stack summed per node beside `value` */
export function buildFlamegraph<S extends { functions: string[]; samples: number } & Partial<Record<Sum, number>>>(rootName: string, stacks: S[], sums: Sum[] = []): FlameNode {
  const root: FlameNode = { name: rootName, value: 0, children: [] };
  const add = (n: FlameNode, s: S) => {
    n.value += s.samples;
    for (const k of sums) n[k] = (n[k] ?? 0) + (s[k] ?? 0);
  };
  // children looked up through a per-node map while building, dropped after
  const index = new Map<FlameNode, Map<string, FlameNode>>();
  for (const s of stacks) {
    add(root, s);
    let node = root;
    for (const fn of s.functions) {
      let kids = index.get(node);
      if (!kids) {
        kids = new Map();
        index.set(node, kids);
      }
      let child = kids.get(fn);
      if (!child) {
        child = { name: fn, value: 0, children: [] };
        kids.set(fn, child);
        node.children.push(child);
      }
      add(child, s);
      node = child;
    }
  }
  sortTree(root);
  return root;
}

function sortTree(n: FlameNode): void {
  n.children.sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : 1));
  for (const c of n.children) sortTree(c);
}
