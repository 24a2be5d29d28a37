import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { bpfTest, makeCgroup, randomHex, removeCgroup } from '../testing/testkit.js';
import { defaultProviders } from './app-naming.js';
import { CgroupResolver, cgroup2Root } from './cgroup-resolver.js';
import { CgroupScope, normalizeScope } from './scope.js';

const idOf = (dir: string) => statSync(dir, { bigint: true }).ino;

describe("an agent's cgroup scope", bpfTest(), () => {
  const top = `kiln-scope-${randomHex(3)}`;
  const made: string[] = [];
  const make = (rel: string) => {
    made.unshift(rel);
    return makeCgroup(rel);
  };
  after(() => {
    for (const rel of made) removeCgroup(rel);
  });

  it('holds its cgroup and every one below it, including one made later; not a sibling with the same prefix, nor the root', () => {
    const inside = make(`${top}/team.slice`);
    const below = make(`${top}/team.slice/app-1.scope`);
    const sibling = make(`${top}/team.slice-other`);
    const scope = new CgroupScope(normalizeScope(`/${top}/team.slice/`), new CgroupResolver(defaultProviders('/')));
    assert.equal(scope.path, `/${top}/team.slice`);
    assert.equal(scope.contains(idOf(inside)), true);
    assert.equal(scope.contains(idOf(below)), true);
    assert.equal(scope.contains(idOf(sibling)), false, 'a path prefix is not a parent');
    assert.equal(scope.contains(idOf(cgroup2Root())), false);
    assert.equal(scope.contains(0n), false, 'no cgroup (a socket without an owner)');
    // a container started after the agent: found by the resolver's next walk
    const later = make(`${top}/team.slice/app-2.scope`);
    assert.equal(scope.contains(idOf(later)), true);
  });

  it('refuses a path that is not a cgroup of this host, or not absolute, with one line', () => {
    assert.throws(() => normalizeScope(`/${top}/no-such.slice`), /^Error: --cgroup \/kiln-scope-\w+\/no-such\.slice: no such cgroup under \S+ \(ENOENT\)$/);
    assert.throws(() => normalizeScope('team.slice'), /give the cgroup v2 path from the hierarchy's root/);
  });
});
