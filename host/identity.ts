/* Who a process is, for every collector (ARCHITECTURE.md "Host identity"): built once by the
 * composition root and shared, so no collector depends on another. Containers and units are named from
 * the cgroup id, which still resolves after the process (or the container) is gone; other processes by
 * their executable, through the process table (their comm when they exited before we saw them). */
import { defaultProviders } from './app-naming.js';
import { CgroupResolver } from './cgroup-resolver.js';
import { KERNEL_APP, ProcessTable, type ProcessTableOptions } from './process-table.js';
import { CgroupScope, normalizeScope } from './scope.js';

export interface ProcessRef {
  tgid: number;
  cgroupId: bigint;
  /** the process's (or the sampled thread's) comm, used when /proc no longer has it */
  comm: string;
  kthread?: boolean;
}

export interface AppIdentity {
  app: string;
  containerId: string;
}

/** The application of a process: its container or unit, else its executable. */
export function appOf(p: ProcessRef, cgroups: CgroupResolver, processes: ProcessTable): AppIdentity {
  if (p.kthread) return { app: KERNEL_APP, containerId: '' };
  const cg = cgroups.lookup(p.cgroupId);
  if (!cg.app.startsWith('cgroup:') && !cg.app.startsWith('cgroup-id:')) return { app: cg.app, containerId: cg.containerId };
  const e = processes.lookup(p.tgid, p.cgroupId, p.comm, false);
  return { app: e.app, containerId: e.containerId };
}

export class HostIdentity {
  constructor(
    readonly processes: ProcessTable,
    readonly cgroups: CgroupResolver,
    /** the agent's cgroup subtree (--cgroup); null: the whole host */
    readonly scope: CgroupScope | null = null,
  ) {}

  /** @param cgroupScope a cgroup v2 path: only processes at or below it are collected (throws a
   *  one-line reason when it is not a cgroup of this host) */
  static create(opts: { runtimeRoot?: string; cgroupScope?: string } & ProcessTableOptions = {}): HostIdentity {
    const cgroups = new CgroupResolver(defaultProviders(opts.runtimeRoot ?? '/'));
    const scope = opts.cgroupScope !== undefined ? new CgroupScope(normalizeScope(opts.cgroupScope), cgroups) : null;
    return new HostIdentity(new ProcessTable({ cgroupPathOf: (id) => cgroups.lookup(id).path || null, ...opts }), cgroups, scope);
  }

  /** Whether what a process in this cgroup did is this agent's to collect. */
  inScope(cgroupId: bigint): boolean {
    return this.scope === null || this.scope.contains(cgroupId);
  }

  appOf(p: ProcessRef): AppIdentity {
    return appOf(p, this.cgroups, this.processes);
  }
}
