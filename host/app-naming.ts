/* Application names from cgroup paths (ARCHITECTURE.md "Host identity", README.md "Application naming"): containers of the
 * recognised runtimes and systemd units get a name from their cgroup and the runtime's metadata;
 * anything else is named by its executable's base name, kernel threads are `kernel`. */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

export type Runtime = 'kubernetes' | 'docker' | 'containerd' | 'crio' | 'podman' | 'systemd';

export interface CgroupInfo {
  runtime: Runtime;
  containerId?: string;
  podUid?: string;
  unit?: string;
}

const ID64 = '[0-9a-f]{64}';

/** Recognises the cgroup v2 path of a container or systemd unit; null for anything else. */
export function parseCgroupPath(path: string): CgroupInfo | null {
  const segs = path.split('/').filter(Boolean);
  const last = segs[segs.length - 1] ?? '';
  let containerId: string | undefined;
  let runtime: Runtime | undefined;
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^cri-containerd-(${ID64})\\.scope$`).exec(last))) [runtime, containerId] = ['containerd', m[1]];
  else if ((m = new RegExp(`^crio-(?:conmon-)?(${ID64})\\.scope$`).exec(last))) [runtime, containerId] = ['crio', m[1]];
  else if ((m = new RegExp(`^docker-(${ID64})\\.scope$`).exec(last))) [runtime, containerId] = ['docker', m[1]];
  else if ((m = new RegExp(`^libpod-(?:conmon-)?(${ID64})\\.scope$`).exec(last))) [runtime, containerId] = ['podman', m[1]];
  else if ((m = new RegExp(`^(${ID64})$`).exec(last))) {
    containerId = m[1];
    const parent = segs[segs.length - 2] ?? '';
    runtime = parent === 'docker' ? 'docker' : parent === 'libpod_parent' ? 'podman' : 'containerd';
  }
  const pod = /(?:^|[-/])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?:\/|$)/.exec(path);
  if (pod && path.includes('kubepods')) {
    return { runtime: 'kubernetes', podUid: pod[1].replace(/_/g, '-'), containerId };
  }
  if (containerId && runtime) return { runtime, containerId };
  if (last.endsWith('.service')) return { runtime: 'systemd', unit: last };
  return null;
}

/** The cgroup v2 path in /proc/PID/cgroup ("0::/path"), or null (pure v1 host). */
export function cgroupV2Path(procCgroup: string): string | null {
  for (const line of procCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3);
  }
  return null;
}

export interface ContainerMetadata {
  name?: string;
  podName?: string;
  namespace?: string;
}

/** A source of container names: a runtime's on-disk state. Returns null when it does not know the id. */
export interface ContainerMetadataProvider {
  readonly name: string;
  lookup(containerId: string): ContainerMetadata | null;
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function annotations(spec: Record<string, unknown> | null): Record<string, string> {
  const a = spec?.annotations;
  return a && typeof a === 'object' ? (a as Record<string, string>) : {};
}

/** Docker: /var/lib/docker/containers/<id>/config.v2.json (Name, and kubelet labels under dockershim). */
export function dockerProvider(root: string): ContainerMetadataProvider {
  return {
    name: 'docker',
    lookup(id) {
      const cfg = readJson(join(root, 'var/lib/docker/containers', id, 'config.v2.json'));
      if (!cfg) return null;
      const labels = ((cfg.Config as Record<string, unknown> | undefined)?.Labels ?? {}) as Record<string, string>;
      if (labels['io.kubernetes.pod.name']) {
        return { name: labels['io.kubernetes.container.name'], podName: labels['io.kubernetes.pod.name'], namespace: labels['io.kubernetes.pod.namespace'] };
      }
      return typeof cfg.Name === 'string' ? { name: cfg.Name.replace(/^\//, '') } : null;
    },
  };
}

/** containerd: the OCI bundle of a running task, /run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/config.json. */
export function containerdProvider(root: string): ContainerMetadataProvider {
  const base = join(root, 'run/containerd/io.containerd.runtime.v2.task');
  return {
    name: 'containerd',
    lookup(id) {
      let namespaces: string[];
      try {
        namespaces = readdirSync(base);
      } catch {
        return null;
      }
      for (const ns of namespaces) {
        const spec = readJson(join(base, ns, id, 'config.json'));
        if (!spec) continue;
        const a = annotations(spec);
        return {
          name: a['io.kubernetes.cri.container-name'] ?? a['io.kubernetes.container.name'],
          podName: a['io.kubernetes.cri.sandbox-name'] ?? a['io.kubernetes.pod.name'],
          namespace: a['io.kubernetes.cri.sandbox-namespace'] ?? a['io.kubernetes.pod.namespace'],
        };
      }
      return null;
    },
  };
}

/** CRI-O: /run/containers/storage/overlay-containers/<id>/userdata/config.json annotations. */
export function crioProvider(root: string): ContainerMetadataProvider {
  return {
    name: 'crio',
    lookup(id) {
      for (const dir of ['run/containers/storage/overlay-containers', 'var/lib/containers/storage/overlay-containers']) {
        const spec = readJson(join(root, dir, id, 'userdata/config.json'));
        if (!spec) continue;
        const a = annotations(spec);
        return { name: a['io.kubernetes.container.name'], podName: a['io.kubernetes.pod.name'], namespace: a['io.kubernetes.pod.namespace'] };
      }
      return null;
    },
  };
}

export function defaultProviders(root = '/'): ContainerMetadataProvider[] {
  return [containerdProvider(root), crioProvider(root), dockerProvider(root)];
}

/**
 * The workload that owns a pod, from the pod name: Deployment pods are <deploy>-<rs hash>-<5>,
 * DaemonSet/Job pods <name>-<5>, StatefulSet pods <name>-<ordinal>.
 */
export function podOwner(podName: string): string {
  let m = /^(.+)-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/.exec(podName);
  if (m) return m[1];
  m = /^(.+)-[bcdfghjklmnpqrstvwxz2456789]{5}$/.exec(podName);
  if (m) return m[1];
  m = /^(.+)-\d+$/.exec(podName);
  if (m) return m[1];
  return podName;
}

/**
 * The name of a process outside containers: its executable's base name, or its comm when the
 * executable has no useful name (gone, or run from a memfd like `/memfd:sealed-… (deleted)`).
 */
export function executableName(exePath: string, comm: string): string {
  const base = basename(exePath.replace(/ \(deleted\)$/, ''));
  if (!base || base.startsWith('memfd:')) return comm;
  return base;
}

export interface AppIdentity {
  app: string;
  containerId: string;
}

/**
 * Names an application:
 * - Kubernetes: `<namespace>/<pod owner>/<container>`; without runtime metadata `pod-<uid8>/<id12>`
 * - docker / podman / containerd / CRI-O: the container name; without metadata `<runtime>-<id12>`
 * - systemd unit: the unit name (`nginx.service`)
 * - otherwise the executable's base name (the comm when the executable is unknown)
 */
export function nameApp(cg: CgroupInfo | null, exeBase: string, providers: ContainerMetadataProvider[]): AppIdentity {
  if (!cg) return { app: exeBase, containerId: '' };
  if (cg.runtime === 'systemd') return { app: cg.unit ?? exeBase, containerId: '' };
  const id = cg.containerId ?? '';
  let meta: ContainerMetadata | null = null;
  if (id) {
    for (const p of providers) {
      meta = p.lookup(id);
      if (meta) break;
    }
  }
  if (cg.runtime === 'kubernetes' || meta?.podName) {
    if (meta?.podName) {
      const owner = podOwner(meta.podName);
      const ns = meta.namespace ?? 'default';
      return { app: meta.name ? `${ns}/${owner}/${meta.name}` : `${ns}/${owner}`, containerId: id };
    }
    return { app: `pod-${(cg.podUid ?? 'unknown').slice(0, 8)}${id ? `/${id.slice(0, 12)}` : ''}`, containerId: id };
  }
  if (meta?.name) return { app: meta.name, containerId: id };
  return { app: `${cg.runtime}-${id.slice(0, 12)}`, containerId: id };
}
