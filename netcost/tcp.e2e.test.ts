/* TCP bytes per application through the real BPF path, on loopback between two named applications. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { structLayouts } from '../native/index.js';
import { defaultProviders } from '../host/app-naming.js';
import { ProcessTable } from '../host/process-table.js';
import { bpfTest, freePort, makeCgroup, randomHex, removeCgroup, repoRoot, spawnInCgroup, tempDir, waitExit, writeJson } from '../testing/testkit.js';
import { Classifier } from './classify.js';
import { TcpCollector, type TcpDelta } from './tcp-collector.js';
import { appOf as appOfFlow } from '../host/identity.js';
import { CgroupResolver } from '../host/cgroup-resolver.js';
import { TCP_CONN } from './tcp-layout.js';
import { parseZonesFile } from './topology.js';

const MB = 1024 * 1024;

describe('TCP bytes per application (loopback)', bpfTest(), () => {
  let tcp: TcpCollector;
  const serverId = randomHex(32);
  const clientId = randomHex(32);
  const cgroups = [`system.slice/docker-${serverId}.scope`, `system.slice/docker-${clientId}.scope`];
  const deltas: TcpDelta[] = [];
  let midway: TcpDelta[] = [];
  let processes: ProcessTable;
  let cgroupNames: CgroupResolver;
  let v6Port = 0;

  before(async () => {
    const rt = tempDir('tcp-rt');
    writeJson(join(rt, 'var/lib/docker/containers', serverId, 'config.v2.json'), { Name: '/tcp-server', Config: { Labels: {} } });
    writeJson(join(rt, 'var/lib/docker/containers', clientId, 'config.v2.json'), { Name: '/tcp-client', Config: { Labels: {} } });
    processes = new ProcessTable({ runtimeRoot: rt });
    cgroupNames = new CgroupResolver(defaultProviders(rt));
    tcp = new TcpCollector();
    const port = await freePort();
    const peer = join(repoRoot, 'testing/testdata/tcp-peer.js');
    const server = spawnInCgroup(makeCgroup(cgroups[0]), process.execPath, [peer, 'server', String(port), String(3 * MB)]);
    await sleep(700);
    // a long-lived connection: 8 MB out, held open 3 s, then 3 MB back
    const long = spawnInCgroup(makeCgroup(cgroups[1]), process.execPath, [peer, 'client', String(port), String(8 * MB), '3000']);
    await sleep(1800);
    midway = tcp.collect();
    deltas.push(...midway);
    assert.equal(await waitExit(long), 0);
    // a short one: 12 MB out, 3 MB back
    const short = spawnInCgroup(makeCgroup(cgroups[1]), process.execPath, [peer, 'client', String(port), String(12 * MB), '0']);
    assert.equal(await waitExit(short), 0);
    // IPv6: 2 MB out over ::1, 1 MB back, from the same two applications on another port
    const port6 = await freePort();
    const server6 = spawnInCgroup(makeCgroup(cgroups[0]), process.execPath, [peer, 'server', String(port6), String(1 * MB), '::1']);
    await sleep(700);
    assert.equal(await waitExit(spawnInCgroup(makeCgroup(cgroups[1]), process.execPath, [peer, 'client', String(port6), String(2 * MB), '0', '::1'])), 0);
    v6Port = port6;
    for (const s of [server, server6]) {
      s.kill('SIGTERM');
      await once(s, 'exit');
    }
    await sleep(200);
    deltas.push(...tcp.collect());
  });

  after(() => {
    tcp?.close();
    for (const cg of cgroups) removeCgroup(cg);
  });

  const byApp = (rows: TcpDelta[]) => {
    const m = new Map<string, { sent: number; received: number; inbound: number; outbound: number }>();
    for (const d of rows) {
      const app = appOfFlow(d, cgroupNames, processes).app;
      const e = m.get(app) ?? { sent: 0, received: 0, inbound: 0, outbound: 0 };
      e.sent += d.bytesSent;
      e.received += d.bytesReceived;
      e[d.inbound ? 'inbound' : 'outbound'] += d.bytesSent + d.bytesReceived;
      m.set(app, e);
    }
    return m;
  };

  it('decodes struct tcp_conn at the offsets of bpf/tcp.h', () => {
    assert.deepEqual({ ...structLayouts().tcp_conn }, { ...TCP_CONN });
  });

  const v4 = () => deltas.filter((d) => d.remoteAddress === '127.0.0.1');

  it('attributes the bytes of both directions to the right applications, within 1%', () => {
    const apps = byApp(v4());
    const client = apps.get("tcp-client");
    const server = apps.get('tcp-server');
    assert.ok(client && server, `apps: ${[...apps.keys()].join(', ')}`);
    const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) / want <= 0.01, `${what}: ${got} vs ${want}`);
    near(client.sent, 20 * MB, 'client sent');
    near(client.received, 6 * MB, 'client received');
    near(server.received, 20 * MB, 'server received');
    near(server.sent, 6 * MB, 'server sent');
    assert.equal(client.inbound, 0, 'the client connected out');
    assert.equal(server.outbound, 0, 'the server accepted');
  });

  it('counts a long-lived connection as it goes, before it closes', () => {
    const client = byApp(midway).get('tcp-client');
    assert.ok(client && Math.abs(client.sent - 8 * MB) / (8 * MB) <= 0.01, `midway: ${JSON.stringify(client)}`);
    // only this test's applications: other connections on the host may close at any time
    const ours = midway.filter((d) => ['tcp-client', 'tcp-server'].includes(appOfFlow(d, cgroupNames, processes).app));
    assert.ok(ours.length > 0 && ours.every((d) => !d.closed), JSON.stringify(ours, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
  });

  it('classifies loopback flows as same-host, with the peer and ports', () => {
    const c = new Classifier(parseZonesFile('{}'));
    const flows = v4().filter((d) => appOfFlow(d, cgroupNames, processes).app === 'tcp-client');
    assert.ok(flows.length >= 2);
    for (const f of flows) {
      assert.equal(f.remoteAddress, '127.0.0.1');
      assert.equal(c.classify(f.localAddress, f.remoteAddress).class, 'same-host');
    }
    assert.deepEqual(tcp.losses(), { connsMapFull: 0n, closedMapFull: 0n });
  });

  it('reads IPv6 addresses and ports, and counts their bytes', () => {
    const flows = deltas.filter((d) => d.remoteAddress === '::1' || d.localAddress === '::1');
    const named = (app: string) => flows.filter((d) => appOfFlow(d, cgroupNames, processes).app === app);
    const show = (xs: TcpDelta[]) => JSON.stringify(xs, (_, v) => (typeof v === 'bigint' ? String(v) : v));
    const client = named('tcp-client');
    const server = named('tcp-server');
    assert.ok(client.length >= 1 && server.length >= 1, show(flows));
    for (const d of [...client, ...server]) {
      assert.equal(d.localAddress, '::1');
      assert.equal(d.remoteAddress, '::1');
    }
    assert.ok(client.every((d) => d.remotePort === v6Port), show(client));
    assert.ok(server.every((d) => d.localPort === v6Port && d.inbound), show(server));
    const sum = (xs: TcpDelta[], k: 'bytesSent' | 'bytesReceived') => xs.reduce((a, d) => a + d[k], 0);
    assert.deepEqual([sum(client, 'bytesSent'), sum(client, 'bytesReceived')], [2 * MB, 1 * MB]);
    assert.deepEqual([sum(server, 'bytesSent'), sum(server, 'bytesReceived')], [1 * MB, 2 * MB]);
  });
});
