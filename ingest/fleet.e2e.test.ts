/* Two hosts, one server, for real: two `kiln agent`s on this kernel, each restricted to its own cgroup
 * subtree (--cgroup) and named as a host of its own, push to one `kiln server` over gRPC. An
 * application in host alpha's network namespace and cgroup connects to one in beta's. Each agent knows
 * only its own zone (its zones file lists its own subnet); the server, from both registrations, classifies
 * alpha's flow with beta's zone and names beta's application as its peer, and beta's the other way. */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChdbStore } from '../store/adapters/chdb.js';
import { TestNet } from '../testing/netns.js';
import { bpfTest, freePort, getJson, makeCgroup, randomHex, removeCgroup, repoRoot, spawnInCgroup, startKilnCommand, tempDir, waitExit, writeJson, type KilnProcess } from '../testing/testkit.js';

const MB = 1 << 20;
const WINDOW = 3;
const peer = join(repoRoot, 'testing/testdata/tcp-peer.js');

async function until<T>(what: string, f: () => T | null | false | Promise<T | null | false>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface FlowRow {
  host: string;
  app: string;
  direction: string;
  peer_address: string;
  port: number;
  peer_app: string;
  class: string;
  peer_zone: string;
  bytes_sent: string;
  bytes_received: string;
  late: number;
}

describe('two agents, each its own host, one server', bpfTest(), () => {
  const id = randomHex(3);
  const hosts = {
    alpha: { name: `alpha-${id}`, address: '10.79.1.2', gateway: '10.79.1.1', subnet: '10.79.1.0/24', zone: 'use1-az1', zoneName: 'us-east-1a', app: 'checkout', scope: `/kiln-fleet-${id}-alpha.slice` },
    beta: { name: `beta-${id}`, address: '10.79.2.2', gateway: '10.79.2.1', subnet: '10.79.2.0/24', zone: 'use1-az2', zoneName: 'us-east-1b', app: 'orders', scope: `/kiln-fleet-${id}-beta.slice` },
  };
  let net: TestNet;
  const cgroups: string[] = [];
  const cgDir = new Map<string, string>();
  const kilns: KilnProcess[] = [];
  const procs: ChildProcess[] = [];
  const serverDir = tempDir('fleet-server');
  let server: KilnProcess;
  let apiUrl = '';
  const agents = new Map<string, KilnProcess>();

  /** Runs tcp-peer.js as host `h`'s application: in its namespace and its container's cgroup. */
  const run = (h: keyof typeof hosts, args: string[]) => {
    const [cmd, argv] = net.exec(h, process.execPath, [peer, ...args]);
    const p = spawnInCgroup(cgDir.get(h)!, cmd, argv);
    procs.push(p);
    return p;
  };

  before(async () => {
    net = new TestNet();
    const rt = tempDir('fleet-rt');
    for (const [key, h] of Object.entries(hosts)) {
      net.addHost(key, h.address, 24, h.gateway);
      // the host's application is a docker container below the agent's scope
      const container = randomHex(32);
      writeJson(join(rt, 'var/lib/docker/containers', container, 'config.v2.json'), { Name: `/${h.app}`, Config: { Labels: {} } });
      const path = `${h.scope.slice(1)}/docker-${container}.scope`;
      cgroups.push(path);
      cgDir.set(key, makeCgroup(path));
    }
    const [apiPort, ingestPort] = [await freePort(), await freePort()];
    server = await startKilnCommand('server', ['--data-dir', serverDir, '--listen', `127.0.0.1:${apiPort}`, '--ingest-listen', `127.0.0.1:${ingestPort}`], 'server listening on', 60_000);
    kilns.push(server);
    apiUrl = `http://127.0.0.1:${apiPort}`;
    for (const [key, h] of Object.entries(hosts)) {
      // each agent knows its own zone only: the other host's comes from the server
      const zones = join(tempDir(`fleet-zones-${key}`), 'zones.yaml');
      writeFileSync(zones, ['provider: aws', 'regions:', '  - name: us-east-1', '    zones:', `      - { name: ${h.zoneName}, id: ${h.zone}, cidrs: [${h.subnet}] }`, ''].join('\n'));
      const agentPort = await freePort();
      // prettier-ignore
      const a = await startKilnCommand('agent', [
        '--server', `127.0.0.1:${ingestPort}`, '--data-dir', tempDir(`fleet-agent-${key}`), '--listen', `127.0.0.1:${agentPort}`,
        '--window', String(WINDOW), '--host-name', h.name, '--host-address', h.address, '--zones', zones,
        '--cgroup', h.scope, '--runtime-root', rt, '--cloud-metadata', 'off',
      ], 'pushing', 120_000);
      kilns.push(a);
      agents.set(key, a);
    }
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    for (const k of kilns) await k.stop();
    for (const c of cgroups) removeCgroup(c);
    net?.destroy();
  });

  it("sends each host's windows with its own host label, classifies a flow between them with the peer host's zone and names the peer's application", { timeout: 240_000 }, async () => {
    // round 1: beta listens, alpha sends; the server learns both ends from the two hosts' flows
    const serve = (port: number) => run('beta', ['server', String(port), String(1 * MB), hosts.beta.address]);
    const listening = (port: number) =>
      until(`beta's listener on ${port}`, () => execFileSync('ip', ['netns', 'exec', net.hosts.get('beta')!.ns, 'ss', '-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim() !== '', 30_000);
    const connect = async (port: number, bytes: number) => {
      assert.equal(await waitExit(run('alpha', ['client', String(port), String(bytes), '0', hosts.beta.address])), 0, `alpha's client on ${port}`);
    };
    // each host's application also spends half a second of CPU time, for its profile
    for (const h of ['alpha', 'beta'] as const) {
      const p = spawnInCgroup(cgDir.get(h)!, process.execPath, ['-e', 'const t = process.cpuUsage(); while (process.cpuUsage(t).user < 5e5);']);
      procs.push(p);
      assert.equal(await waitExit(p), 0);
    }
    serve(9000);
    await listening(9000);
    await connect(9000, 3 * MB);
    type Status = { ingest: { fleet: { endpoints: number; hosts: number } } };
    await until('the server to learn both ends of the connection', async () => {
      const s = (await getJson<Status>(`${apiUrl}/api/v1/status`)).body;
      return s.ingest.fleet.hosts >= 2 && s.ingest.fleet.endpoints >= 2;
    }, 60_000);
    // round 2, a new connection to the same service: both ends are known when its windows arrive (a
    // window holding it closes after this instant, so it is pushed after the server learned)
    const round2 = Math.floor(Date.now() / 1000 / WINDOW) * WINDOW;
    await connect(9000, 5 * MB);
    // the agents stop: each closes its open windows and pushes them; nothing may be left behind
    for (const [key, a] of agents) {
      await a.stop();
      assert.match(a.log(), /stopped: .*; \d+ batches acknowledged, 0 left in the spool.*dropped: none/, `${key}: ${a.log().slice(-2000)}`);
    }
    await server.stop();

    const store = new ChdbStore(serverDir);
    try {
      const flows = await store.query<FlowRow>(
        `SELECT host, app, direction, peer_address, port, peer_app, class, peer_zone, toString(sum(bytes_sent)) AS bytes_sent, toString(sum(bytes_received)) AS bytes_received,
                toUInt32(ts) >= {r2:UInt32} AS late
         FROM net_flows WHERE host IN ({a:String}, {b:String})
         GROUP BY host, app, direction, peer_address, port, peer_app, class, peer_zone, late ORDER BY host, late, peer_app`,
        { a: hosts.alpha.name, b: hosts.beta.name, r2: round2 },
      );
      const of = (host: string) => flows.filter((r) => r.host === host);
      // every row of either end: the port it served, the other host's zone, cross-AZ, and only the host's own application
      for (const [self, other] of [[hosts.alpha, hosts.beta], [hosts.beta, hosts.alpha]] as const) {
        const rows = of(self.name);
        assert.ok(rows.length > 0, `${self.name} reported the connections: ${JSON.stringify(flows)}`);
        for (const r of rows) {
          assert.equal(r.app, self.app, `${self.name} reports only its own application: ${JSON.stringify(r)}`);
          assert.equal(r.peer_address, other.address);
          assert.equal(r.port, 9000);
          assert.equal(r.direction, self === hosts.alpha ? 'outbound' : 'inbound');
          assert.equal(r.class, 'cross-az', JSON.stringify(r));
          assert.equal(r.peer_zone, other.zone, JSON.stringify(r));
        }
        // what reached the server after both ends were learned names the other host's application
        const late = rows.filter((r) => Number(r.late) === 1);
        assert.ok(late.length > 0 && late.every((r) => r.peer_app === other.app), `${self.name}'s later rows name ${other.app}: ${JSON.stringify(flows)}`);
      }
      const sum = (host: string, k: 'bytes_sent' | 'bytes_received') => of(host).reduce((n, r) => n + Number(r[k]), 0);
      assert.equal(sum(hosts.alpha.name, 'bytes_sent'), 8 * MB, "alpha's bytes, counted once, by alpha");
      assert.equal(sum(hosts.beta.name, 'bytes_received'), 8 * MB, 'and received by beta');
      assert.equal(sum(hosts.beta.name, 'bytes_sent'), 2 * MB, "beta's answers");

      // profiles: each host holds its own application's samples and none of the other's
      const apps = await store.query<{ host: string; app: string }>('SELECT DISTINCT host, app FROM profile_samples WHERE host IN ({a:String}, {b:String}) ORDER BY host, app', { a: hosts.alpha.name, b: hosts.beta.name });
      const appsOf = (h: string) => apps.filter((r) => r.host === h).map((r) => r.app);
      assert.deepEqual(appsOf(hosts.alpha.name), [hosts.alpha.app], JSON.stringify(apps));
      assert.deepEqual(appsOf(hosts.beta.name), [hosts.beta.app], JSON.stringify(apps));
      const registered = await store.query<{ host: string; zone: string; addresses: string[] }>('SELECT host, zone_id AS zone, addresses FROM fleet_hosts FINAL WHERE host IN ({a:String}, {b:String}) ORDER BY host', { a: hosts.alpha.name, b: hosts.beta.name });
      assert.deepEqual(registered, [
        { host: hosts.alpha.name, zone: hosts.alpha.zone, addresses: [hosts.alpha.address] },
        { host: hosts.beta.name, zone: hosts.beta.zone, addresses: [hosts.beta.address] },
      ]);
    } finally {
      await store.close();
    }
  });
});
