/* cgroup v2 id -> cgroup path -> application. The id the kernel reports (kernfs node id, also what
 * bpf_get_current_cgroup_id() returns) is the inode number of the cgroup's directory in cgroup2fs,
 * so a walk of the hierarchy indexes them. Ids stay known after their cgroup is removed (bounded LRU),
 * so a container that exited before its window was written is still named. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { nameApp, parseCgroupPath, type AppIdentity, type ContainerMetadataProvider } from './app-naming.js';

/** The cgroup v2 mount: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
export function cgroup2Root(): string {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return '/sys/fs/cgroup';
  if (existsSync('/sys/fs/cgroup/unified/cgroup.procs')) return '/sys/fs/cgroup/unified';
  throw new Error('no cgroup v2 hierarchy mounted (looked at /sys/fs/cgroup and /sys/fs/cgroup/unified)');
}

export interface CgroupIdentity extends AppIdentity {
  path: string;
}

/** A cgroup that is not a container or unit is named by its path, e.g. `cgroup:/user.slice/user-0.slice`. */
export function identityForPath(path: string, providers: ContainerMetadataProvider[]): CgroupIdentity {
  const cg = parseCgroupPath(path);
  if (!cg) return { app: `cgroup:${path}`, containerId: '', path };
  return { ...nameApp(cg, `cgroup:${path}`, providers), path };
}

export class CgroupResolver {
  readonly #known = new LRUCache<string, CgroupIdentity>({ max: 16384 });
  #scannedAt = -Infinity;
  readonly #tried = new LRUCache<string, true>({ max: 4096 });

  constructor(
    private readonly providers: ContainerMetadataProvider[],
    private readonly root = cgroup2Root(),
    /** at most one walk of the hierarchy per this many ms, however many unknown ids arrive */
    private readonly rescanIntervalMs = 2000,
    private readonly maxDirs = 100_000,
  ) {}

  lookup(id: bigint): CgroupIdentity {
    const key = id.toString();
    let hit = this.#known.get(key);
    // a new id gets one walk at once (a container that just started, whose processes may be gone
    // before the next periodic walk); an id a walk did not find waits for the next interval
    if (!hit && (!this.#tried.has(key) || performance.now() - this.#scannedAt >= this.rescanIntervalMs)) {
      this.#tried.set(key, true);
      this.scan();
      hit = this.#known.get(key);
    }
    return hit ?? { app: `cgroup-id:${key}`, containerId: '', path: '' };
  }

  /** Walks the hierarchy and indexes every cgroup by id. */
  scan(): void {
    this.#scannedAt = performance.now();
    const stack: string[] = ['/'];
    let seen = 0;
    while (stack.length > 0 && seen < this.maxDirs) {
      const rel = stack.pop()!;
      const dir = join(this.root, rel);
      let ino: bigint;
      try {
        ino = statSync(dir, { bigint: true }).ino;
      } catch {
        continue; // removed while walking
      }
      seen++;
      const key = ino.toString();
      if (!this.#known.has(key)) this.#known.set(key, rel === '/' ? { app: 'cgroup:/', containerId: '', path: '/' } : identityForPath(rel, this.providers));
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) if (e.isDirectory()) stack.push(join(rel, e.name));
    }
  }
}
