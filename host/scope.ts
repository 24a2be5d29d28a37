/* An agent's scope (ARCHITECTURE.md "Host identity"): with `--cgroup PATH` every collector keeps only
 * what processes in that cgroup v2 subtree did, so one kernel can carry several agents, each reporting
 * one slice of the machine as a host of its own (a node's tenants, or two test hosts). Collectors ask
 * at their intake, before anything is named or counted; what they leave out is counted, not lost
 * silently. */
import { statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { LRUCache } from 'lru-cache';
import { cgroup2Root, type CgroupResolver } from './cgroup-resolver.js';

/** cgroup ids whose answer is remembered: a busy node has a few thousand cgroups */
const MAX_REMEMBERED_IDS = 16384;

/** The scope path as the cgroup v2 hierarchy names it ('/a/b'); throws a one-line reason when the
 *  path is not a cgroup of this host. */
export function normalizeScope(path: string, root = cgroup2Root()): string {
  if (!path.startsWith('/')) throw new Error(`--cgroup ${path}: give the cgroup v2 path from the hierarchy's root, e.g. /kubepods.slice or /system.slice/foo.service`);
  const norm = posix.normalize(path).replace(/\/+$/, '') || '/';
  try {
    if (!statSync(join(root, norm)).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new Error(`--cgroup ${path}: no such cgroup under ${root} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return norm;
}

export class CgroupScope {
  readonly #answers = new LRUCache<bigint, boolean>({ max: MAX_REMEMBERED_IDS });

  constructor(
    /** normalized: '/a/b' */
    readonly path: string,
    private readonly cgroups: CgroupResolver,
  ) {}

  /** Whether the cgroup with this id is the scope's cgroup or one below it. An id the hierarchy does
   *  not (yet) show is outside, and asked again later (the resolver walks at most every 2 s). */
  contains(cgroupId: bigint): boolean {
    const hit = this.#answers.get(cgroupId);
    if (hit !== undefined) return hit;
    const { path } = this.cgroups.lookup(cgroupId);
    if (path === '') return false;
    const inside = this.path === '/' || path === this.path || path.startsWith(`${this.path}/`);
    this.#answers.set(cgroupId, inside);
    return inside;
  }
}
