/* DNS end to end: Kiln's own DNS server (testing/testdata/dns-server.js) in a network namespace answers a
 * fixed script (normal, delayed 50 ms and 300 ms, NXDOMAIN, SERVFAIL, REFUSED, empty, never answered,
 * truncated so that clients retry over TCP); real clients in another namespace ask it: glibc (getent
 * ahosts: A and AAAA in one sendmmsg), Node's dns module (c-ares), dig, and testing/testdata/dnsclient.c
 * asking as musl does (unconnected sendto/recvfrom), as Go does (connected write/read), and by
 * sendmmsg/recvmmsg; each retries truncated answers over TCP with write/read. `kiln run` reports
 * per application × domain × qtype; the table must match the script exactly, latencies within 10% of
 * the injected delay (or 2 ms). */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, launchChromium, makeCgroup, removeCgroup, repoRoot, spawnInCgroup, startKiln, tempDir, waitExit, bpfTest, type KilnProcess } from '../testing/testkit.js';
import { TestNet } from '../testing/netns.js';
import type { DnsApiRow } from '../store/tables/dns-windows.js';

const SERVER = join(repoRoot, 'testing/testdata/dns-server.js');
const ARTIFACTS = join(repoRoot, 'test-artifacts');
const WINDOW = 3;
const NS_ADDR = '10.78.0.53';
/** a host with no DNS server: its kernel answers port 53 with ICMP port unreachable */
const NO_DNS_ADDR = '10.78.0.54';
const UNREACH_APP = 'unreach-client.service';
const UNREACH_QUERIES = 2;
/** dig run by a shell outside any container or unit: named by its own executable, never the shell's */
const PLAIN_QUERIES = 3;

/** What the server does with each name, and what Kiln must report for it. */
const SCRIPT: Record<string, { status: 'noerror' | 'nxdomain' | 'servfail' | 'refused' | 'timeout'; answers: boolean; delayMs?: number; tcp?: boolean }> = {
  'ok.kiln.test': { status: 'noerror', answers: true },
  'slow50.kiln.test': { status: 'noerror', answers: true, delayMs: 50 },
  'slow300.kiln.test': { status: 'noerror', answers: true, delayMs: 300 },
  'nx.kiln.test': { status: 'nxdomain', answers: false },
  'fail.kiln.test': { status: 'servfail', answers: false },
  'refused.kiln.test': { status: 'refused', answers: false },
  'empty.kiln.test': { status: 'noerror', answers: false },
  'drop.kiln.test': { status: 'timeout', answers: false },
  'tc.kiln.test': { status: 'noerror', answers: true, tcp: true },
};

const FLAKY = 'flaky.kiln.test';

/** testing/testdata/dnsclient.c, built in before() */
let dnsClient = '';

interface Logged {
  transport: 'udp' | 'tcp';
  id: number;
  name: string;
  type: string;
}

/** A client program, run as a systemd unit (its cgroup names the application). */
const CLIENTS: { app: string; queries: { name: string; qtype: 'A' | 'AAAA' }[]; run: (names: string[]) => [string, string[]] }[] = [
  {
    app: 'getent-client.service',
    // glibc: A and AAAA together (one sendmmsg); resolv.conf of the client namespace sets timeout 1 s
    queries: Object.keys(SCRIPT).flatMap((name) => [
      { name, qtype: 'A' as const },
      { name, qtype: 'AAAA' as const },
    ]),
    run: (names) => ['sh', ['-c', names.map((n) => `getent ahosts ${n} >/dev/null`).join('; ') + '; true']],
  },
  {
    app: 'node-client.service',
    queries: Object.keys(SCRIPT).flatMap((name) => [{ name, qtype: 'A' as const }, ...(name === 'ok.kiln.test' ? [{ name, qtype: 'A' as const }, { name, qtype: 'AAAA' as const }] : [])]),
    run: (names) => [
      process.execPath,
      [
        '-e',
        `const dns = require('node:dns'); const r = new dns.promises.Resolver({ timeout: 1000, tries: 1 }); r.setServers(['${NS_ADDR}']);
         (async () => { for (const n of ${JSON.stringify(names)}) { await r.resolve4(n).catch(() => {}); if (n === 'ok.kiln.test') { await r.resolve4(n); await r.resolve6(n); } } })();`,
      ],
    ],
  },
  {
    app: 'dig-client.service',
    // and a name that flaps: NXDOMAIN, then answered
    queries: [...Object.keys(SCRIPT), FLAKY, FLAKY].map((name) => ({ name, qtype: 'A' as const })),
    run: (names) => ['sh', ['-c', [...names, FLAKY, FLAKY].map((n) => `dig @${NS_ADDR} +tries=1 +timeout=1 ${n} A >/dev/null`).join('; ') + '; true']],
  },
  // musl: an unconnected socket, sendto and recvfrom; Go: a connected socket, write and read
  ...(['sendto', 'connected'] as const).map((mode) => ({
    app: `${mode}-client.service`,
    queries: Object.keys(SCRIPT).map((name) => ({ name, qtype: 'A' as const })),
    run: (names: string[]): [string, string[]] => [dnsClient, [mode, NS_ADDR, ...names]],
  })),
  {
    app: 'mmsg-client.service',
    // A and AAAA in one sendmmsg, the answers by recvmmsg (one or both per call)
    queries: Object.keys(SCRIPT).flatMap((name) => [
      { name, qtype: 'A' as const },
      { name, qtype: 'AAAA' as const },
    ]),
    run: (names) => [dnsClient, ['mmsg', NS_ADDR, ...names]],
  },
];

describe('DNS per application and domain, from the socket tracepoints', bpfTest(), () => {
  let net: TestNet;
  let kiln: KilnProcess;
  let server: ChildProcess;
  let serverLog = '';
  const cgroups: string[] = [];
  const phases = new Map<string, Logged[]>();
  let rows: DnsApiRow[] = [];
  let allRows: DnsApiRow[] = [];
  let netnsDir = '';

  before(async () => {
    dnsClient = join(tempDir('dnsclient'), 'dnsclient');
    execFileSync('cc', ['-O2', '-o', dnsClient, join(repoRoot, 'testing/testdata/dnsclient.c')]);
    net = new TestNet();
    net.addHost('dns', NS_ADDR, 24, '10.78.0.1');
    net.addHost('nodns', NO_DNS_ADDR, 24, '10.78.0.1');
    const client = net.addHost('client', '10.78.0.10', 24, '10.78.0.1');
    // `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf: glibc in the
    // client namespace asks our server, nothing else
    netnsDir = `/etc/netns/${client.ns}`;
    mkdirSync(netnsDir, { recursive: true });
    writeFileSync(join(netnsDir, 'resolv.conf'), `nameserver ${NS_ADDR}\noptions timeout:1 attempts:1\n`);

    // real-time priority for the server and the clients: the injected delays are compared with what
    // Kiln measures, and on a busy 2-CPU machine a timer or a wake-up can otherwise come late by ms
    const [cmd, argv] = net.exec('dns', 'chrt', ['-f', '50', process.execPath, SERVER, NS_ADDR]);
    server = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d) => (serverLog += d));
    await new Promise<void>((resolve, reject) => {
      server.stderr!.on('data', (d) => String(d).includes('ready') && resolve());
      server.once('exit', (c) => reject(new Error(`dns-server exited ${c}`)));
    });

    // rows carry their window's start, which can be up to a window before the first query in it (and
    // before this moment): the data directory is fresh, so reach back far enough to take it whole
    const from = Math.floor(Date.now() / 1000) - 2 * WINDOW;
    kiln = await startKiln(['--window', String(WINDOW), '--data-dir', tempDir('dns-data'), '--dns-timeout', '2']);
    for (const c of CLIENTS) {
      const cg = `system.slice/${c.app}`;
      cgroups.push(cg);
      const at = serverLog.length;
      const [prog, args] = c.run(Object.keys(SCRIPT));
      const [cmd2, argv2] = net.exec('client', 'chrt', ['-f', '40', prog, ...args]);
      assert.equal(await waitExit(spawnInCgroup(makeCgroup(cg), cmd2, argv2)), 0, c.app);
      await sleep(300);
      phases.set(
        c.app,
        serverLog
          .slice(at)
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Logged),
      );
    }
    // dig asking a host where nothing listens on port 53: ICMP port unreachable, dig fails at once
    {
      const cg = `system.slice/${UNREACH_APP}`;
      cgroups.push(cg);
      const script = Array.from({ length: UNREACH_QUERIES }, () => `dig @${NO_DNS_ADDR} +tries=1 +timeout=5 ok.kiln.test A >/dev/null`).join('; ') + '; true';
      const [cmd2, argv2] = net.exec('client', 'sh', ['-c', script]);
      assert.equal(await waitExit(spawnInCgroup(makeCgroup(cg), cmd2, argv2)), 0, UNREACH_APP);
    }
    // the same from a plain cgroup (no unit, no container): the shell forks each dig, and the process
    // table may have met the child as the shell before it exec'd dig
    {
      const cg = `kiln-dns-plain-${process.pid}`;
      cgroups.push(cg);
      const script = Array.from({ length: PLAIN_QUERIES }, () => `dig @${NO_DNS_ADDR} +tries=1 +timeout=5 plain.kiln.test A >/dev/null`).join('; ') + '; true';
      const [cmd3, argv3] = net.exec('client', 'sh', ['-c', script]);
      assert.equal(await waitExit(spawnInCgroup(makeCgroup(cg), cmd3, argv3)), 0, 'plain dig');
    }
    // wait until every query ended (timeouts after 2 s) and its window was written
    const want = CLIENTS.reduce((s, c) => s + c.queries.length, 0);
    for (let i = 0; i < 60; i++) {
      const r = await getJson<DnsApiRow[]>(`${kiln.url}/api/v1/dns?from=${from}&to=${Math.floor(Date.now() / 1000) + 60}`);
      allRows = r.body;
      rows = r.body.filter((x) => CLIENTS.some((c) => c.app === x.app));
      const unreach = allRows.filter((x) => x.app === UNREACH_APP).reduce((s, x) => s + x.requests, 0);
      const plain = allRows.filter((x) => x.domain === 'plain.kiln.test').reduce((s, x) => s + x.requests, 0);
      if (rows.reduce((s, x) => s + x.requests, 0) >= want && unreach >= UNREACH_QUERIES && plain >= PLAIN_QUERIES) break;
      await sleep(500);
    }
  });

  after(async () => {
    await kiln?.stop();
    server?.kill();
    net?.destroy();
    if (netnsDir) rmSync(netnsDir, { recursive: true, force: true });
    for (const c of cgroups) removeCgroup(c);
  });

  it('the server saw exactly the scripted queries, the truncated ones retried over TCP', () => {
    for (const c of CLIENTS) {
      const log = phases.get(c.app)!;
      const udp = log.filter((l) => l.transport === 'udp').map((l) => `${l.name} ${l.type}`).sort();
      assert.deepEqual(udp, c.queries.map((q) => `${q.name} ${q.qtype}`).sort(), `${c.app}: ${JSON.stringify(log)}`);
      const tcp = log.filter((l) => l.transport === 'tcp');
      assert.ok(tcp.length >= 1 && tcp.every((l) => l.name === 'tc.kiln.test'), `${c.app} retried tc.kiln.test over TCP: ${JSON.stringify(tcp)}`);
    }
  });

  it("reports each client's queries per domain and qtype with the script's outcomes, exactly", () => {
    const log = `\n${JSON.stringify(allRows.map((r) => [r.app, r.domain, r.qtype, r.requests]))}\n${kiln.log()}`;
    for (const c of CLIENTS) {
      const want = new Map<string, number>();
      for (const q of c.queries) want.set(`${q.name} ${q.qtype}`, (want.get(`${q.name} ${q.qtype}`) ?? 0) + 1);
      const got = rows.filter((r) => r.app === c.app);
      assert.deepEqual(new Set(got.map((r) => `${r.domain} ${r.qtype}`)), new Set(want.keys()), `${c.app}${log}`);
      for (const r of got) {
        if (r.domain === FLAKY) {
          assert.deepEqual([r.requests, r.noerror, r.nxdomain, r.no_answer], [2, 1, 1, 0], JSON.stringify(r));
          continue;
        }
        const s = SCRIPT[r.domain];
        const n = want.get(`${r.domain} ${r.qtype}`)!;
        const expect = { requests: n, noerror: 0, nxdomain: 0, servfail: 0, refused: 0, other_errors: 0, timeouts: 0, no_answer: s.status === 'noerror' && !s.answers ? n : 0 };
        if (s.status === 'timeout') expect.timeouts = n;
        else expect[s.status] = n;
        const actual = { requests: r.requests, noerror: r.noerror, nxdomain: r.nxdomain, servfail: r.servfail, refused: r.refused, other_errors: r.other_errors, timeouts: r.timeouts, no_answer: r.no_answer };
        assert.equal(r.unreachable, 0, `${c.app} ${r.domain} ${r.qtype}: a server that answers is never unreachable`);
        assert.deepEqual(actual, expect, `${c.app} ${r.domain} ${r.qtype}`);
        assert.deepEqual(r.nameservers, [NS_ADDR]);
        assert.deepEqual(r.transports, s.tcp ? ['udp+tcp'] : ['udp'], `${c.app} ${r.domain} ${r.qtype}`);
      }
    }
  });

  it('counts a nameserver whose host refused the port (ICMP port unreachable) as unreachable, not as a timeout', () => {
    const got = allRows.filter((r) => r.app === UNREACH_APP);
    assert.deepEqual(
      got.map((r) => ({ domain: r.domain, requests: r.requests, unreachable: r.unreachable, timeouts: r.timeouts, p50_ms: r.p50_ms, nameservers: r.nameservers })),
      [{ domain: 'ok.kiln.test', requests: UNREACH_QUERIES, unreachable: UNREACH_QUERIES, timeouts: 0, p50_ms: null, nameservers: [NO_DNS_ADDR] }],
    );
  });

  it("credits a shell's dig to dig, outside containers and units, never to the shell", () => {
    const got = allRows.filter((r) => r.domain === 'plain.kiln.test');
    assert.deepEqual(
      got.map((r) => ({ app: r.app, requests: r.requests, unreachable: r.unreachable })),
      [{ app: 'dig', requests: PLAIN_QUERIES, unreachable: PLAIN_QUERIES }],
    );
  });

  it('measures latency within 10% of the injected delay (or 2 ms)', () => {
    for (const r of rows) {
      const delay = SCRIPT[r.domain]?.delayMs;
      if (delay === undefined) continue;
      for (const p of [r.p50_ms, r.p99_ms]) {
        assert.ok(p !== null && Math.abs(p - delay) <= Math.max(0.1 * delay, 2), `${r.app} ${r.domain} ${r.qtype}: ${p} ms vs ${delay} ms`);
      }
    }
    const timeouts = rows.filter((r) => r.domain === 'drop.kiln.test');
    assert.ok(timeouts.every((r) => r.p50_ms === null), 'an unanswered query has no latency');
  });

  it('lost nothing and counted what it could not parse', async () => {
    const { body } = await getJson<{ dns: Record<string, number> }>(`${kiln.url}/api/v1/status`);
    const d = body.dns;
    for (const k of ['ringbufFull', 'argsMapFull', 'sockRegisterFailed', 'partsNotRead', 'pendingEvicted', 'streamsDropped', 'decodeErrors', 'handleErrors', 'windowErrors']) assert.equal(d[k], 0, `${k}: ${JSON.stringify(d)}`);
  });

  it('exposes the same counts on /metrics', async () => {
    const text = await (await fetch(`${kiln.url}/metrics`)).text();
    assert.match(text, /kiln_dns_requests_total\{app="dig-client.service",domain="nx.kiln.test",qtype="A",status="nxdomain"\} 1\n/);
    assert.match(text, /kiln_dns_requests_total\{app="getent-client.service",domain="drop.kiln.test",qtype="AAAA",status="timeout"\} 1\n/);
    const slow = /kiln_dns_request_duration_seconds_bucket\{app="dig-client.service",le="0.25"\} (\d+)/.exec(text);
    const all = /kiln_dns_request_duration_seconds_count\{app="dig-client.service"\} (\d+)/.exec(text);
    // dig's answered queries: everything but drop, and flaky twice; one of them (slow300) took longer than 250 ms
    assert.ok(slow && all && Number(all[1]) === 10 && Number(slow[1]) === 9, `${slow?.[0]} ${all?.[0]}`);
  });

  it('answers 400 for bad parameters and 404 for an unknown app', async () => {
    assert.equal((await fetch(`${kiln.url}/api/v1/dns?from=yesterday`)).status, 400);
    assert.equal((await fetch(`${kiln.url}/api/v1/dns?app=no-such-app&from=now-1h&to=now`)).status, 404);
  });

  it('shows the DNS page in a real browser: sortable table, the checks highlighted', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      await page.goto(`${kiln.url}/dns?from=now-15m&to=now`);
      await page.waitForSelector('#dns-table tbody tr');
      const cells = await page.$$eval('#dns-table tbody tr', (trs) => trs.map((tr) => ({ text: tr.textContent ?? '', cls: tr.className })));
      const row = (app: string, domain: string, qtype: string) => cells.find((c) => c.text.includes(app) && c.text.includes(domain) && c.text.includes(qtype));
      assert.match(row('dig-client.service', 'slow300.kiln.test', 'A')!.cls, /slow/, 'p95 > 100 ms is highlighted');
      assert.match(row('dig-client.service', 'fail.kiln.test', 'A')!.cls, /server-error/, 'SERVFAIL is highlighted');
      assert.match(row('dig-client.service', FLAKY, 'A')!.cls, /nx-resolved/, 'NXDOMAIN for a domain that also resolved is highlighted');
      assert.doesNotMatch(row('dig-client.service', 'ok.kiln.test', 'A')!.cls, /slow|server-error|nx-resolved/);
      assert.doesNotMatch(row('dig-client.service', 'nx.kiln.test', 'A')!.cls, /nx-resolved/, 'a name that never resolved is not');
      assert.match(row(UNREACH_APP, 'ok.kiln.test', 'A')!.cls, /server-error/, 'an unreachable nameserver is highlighted');
      // sort by errors: the first row has the most errors
      await page.click('#dns-table th[data-sort="errors"]');
      const first = await page.$eval('#dns-table tbody tr', (tr) => tr.getAttribute('data-errors'));
      const max = Math.max(...allRows.map((r) => r.nxdomain + r.servfail + r.refused + r.other_errors + r.timeouts + r.unreachable));
      assert.equal(Number(first), max);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'dns.png'), fullPage: true });
    } finally {
      await browser.close();
    }
    // the browser resolved no name through the host's resolver: Kiln's own DNS table says so, once the
    // window holding the browser's run is written
    await sleep((WINDOW + 2) * 1000);
    const after = await getJson<{ app: string; domain: string }[]>(`${kiln.url}/api/v1/dns?from=now-1h&to=${Math.floor(Date.now() / 1000) + 60}`);
    const chromium = after.body.filter((r) => /chrom/i.test(r.app));
    assert.deepEqual(chromium, [], `Chromium sent DNS queries: ${JSON.stringify(chromium)}`);
  });
});
