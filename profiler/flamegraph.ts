/* Stacks → the d3-flame-graph tree {name, value, children}. */

export interface FlameNode {
  name: string;
  value: number;
  children: FlameNode[];
}

export function buildFlamegraph(rootName: string, stacks: { functions: string[]; samples: number }[]): FlameNode {
  const root: FlameNode = { name: rootName, value: 0, children: [] };
  // children looked up through a per-node map while building, dropped after
  const index = new Map<FlameNode, Map<string, FlameNode>>();
  for (const s of stacks) {
    root.value += s.samples;
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
      child.value += s.samples;
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
