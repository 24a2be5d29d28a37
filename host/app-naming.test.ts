import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgroupV2Path, containerdProvider, crioProvider, defaultProviders, dockerProvider, executableName, nameApp, parseCgroupPath, podOwner } from './app-naming.js';
import { tempDir, writeJson } from '../testing/testkit.js';

const ID = 'a'.repeat(64);
const UID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

test('recognises container and unit cgroups of every runtime and driver', () => {
  const cases: [string, ReturnType<typeof parseCgroupPath>][] = [
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`, { runtime: 'kubernetes', podUid: UID, containerId: ID }],
    [`/kubepods/besteffort/pod${UID}/${ID}`, { runtime: 'kubernetes', podUid: UID, containerId: ID }],
    [`/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope`, { runtime: 'kubernetes', podUid: UID, containerId: ID }],
    [`/system.slice/docker-${ID}.scope`, { runtime: 'docker', containerId: ID }],
    [`/docker/${ID}`, { runtime: 'docker', containerId: ID }],
    [`/machine.slice/libpod-${ID}.scope`, { runtime: 'podman', containerId: ID }],
    [`/system.slice/crio-${ID}.scope`, { runtime: 'crio', containerId: ID }],
    ['/system.slice/nginx.service', { runtime: 'systemd', unit: 'nginx.service' }],
    ['/user.slice/user-0.slice/session-3.scope', null],
    ['/', null],
  ];
  for (const [path, want] of cases) assert.deepEqual(parseCgroupPath(path), want, path);
});

test('reads the v2 line of /proc/PID/cgroup on hybrid hosts', () => {
  assert.equal(cgroupV2Path('12:pids:/system.slice/x.service\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n'), '/system.slice/x.service');
  assert.equal(cgroupV2Path('12:pids:/\n'), null);
});

test('names a plain process by its executable, or by its comm when the executable has no name', () => {
  assert.equal(executableName('/usr/sbin/nginx', 'nginx: worker'), 'nginx');
  assert.equal(executableName('/opt/app/server (deleted)', 'server'), 'server');
  assert.equal(executableName('/memfd:sealed-91173221a7ea (deleted)', 'runc:[2:INIT]'), 'runc:[2:INIT]');
  assert.equal(executableName('', 'kworker'), 'kworker');
});

test('derives the owning workload from a pod name', () => {
  assert.equal(podOwner('checkout-7d9f8b6c5d-x2x4z'), 'checkout');
  assert.equal(podOwner('node-exporter-x2x4z'), 'node-exporter');
  assert.equal(podOwner('postgres-0'), 'postgres');
  assert.equal(podOwner('standalone'), 'standalone');
});

test('names applications from runtime metadata, with fallbacks when there is none', () => {
  const root = tempDir('rt');
  const k8s = 'b'.repeat(64);
  const crio = 'c'.repeat(64);
  const docker = 'd'.repeat(64);
  const dockershim = 'e'.repeat(64);
  writeJson(join(root, 'run/containerd/io.containerd.runtime.v2.task/k8s.io', k8s, 'config.json'), {
    annotations: { 'io.kubernetes.cri.container-name': 'api', 'io.kubernetes.cri.sandbox-name': 'orders-5b6c7d8f9b-q2w4r', 'io.kubernetes.cri.sandbox-namespace': 'prod' },
  });
  writeJson(join(root, 'run/containers/storage/overlay-containers', crio, 'userdata/config.json'), {
    annotations: { 'io.kubernetes.container.name': 'db', 'io.kubernetes.pod.name': 'postgres-1', 'io.kubernetes.pod.namespace': 'data' },
  });
  writeJson(join(root, 'var/lib/docker/containers', docker, 'config.v2.json'), { Name: '/redis', Config: { Labels: {} } });
  writeJson(join(root, 'var/lib/docker/containers', dockershim, 'config.v2.json'), {
    Name: '/k8s_x',
    Config: { Labels: { 'io.kubernetes.container.name': 'web', 'io.kubernetes.pod.name': 'front-7d9f8b6c5d-x2x4z', 'io.kubernetes.pod.namespace': 'edge' } },
  });
  const providers = defaultProviders(root);
  assert.equal(containerdProvider(root).lookup(docker), null);
  assert.equal(crioProvider(root).lookup(k8s), null);
  assert.equal(dockerProvider(root).lookup(k8s), null);

  const app = (path: string) => nameApp(parseCgroupPath(path), 'exe', providers).app;
  assert.equal(app(`/kubepods/pod${UID}/${k8s}`), 'prod/orders/api');
  assert.equal(app(`/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${crio}.scope`), 'data/postgres/db');
  assert.equal(app(`/system.slice/docker-${docker}.scope`), 'redis');
  assert.equal(app(`/kubepods/pod${UID}/${dockershim}`), 'edge/front/web');
  assert.equal(app(`/kubepods/pod${UID}/${'f'.repeat(64)}`), `pod-0f1e2d3c/${'f'.repeat(12)}`, 'no metadata: pod uid and container id');
  assert.equal(app(`/system.slice/docker-${'9'.repeat(64)}.scope`), `docker-${'9'.repeat(12)}`);
  assert.equal(app('/system.slice/cron.service'), 'cron.service');
  assert.deepEqual(nameApp(null, 'python3', providers), { app: 'python3', containerId: '' });
});
