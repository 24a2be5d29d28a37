/* Network cost end to end: network namespaces as hosts in three zones of one region, a TEST-NET
 * "internet" peer and a fake cloud metadata service, named applications sending known volumes over
 * short and long-lived connections, in and out; `kiln run` as a user starts it, answers over HTTP. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import { getJson, launchChromium, makeCgroup, randomHex, removeCgroup, repoRoot, spawnInCgroup, startKiln, storedThrough, tempDir, waitExit, writeJson, bpfTest, type KilnProcess } from '../testing/testkit.js';
import type { NetcostApiRow } from '../web/routes/netcost.js';
import { queryMetadata } from './cloud-metadata.js';
import { monthRange } from './cost.js';
import { TestNet } from '../testing/netns.js';

const MB = 1 << 20;
const GiB = 2 ** 30;
const WINDOW = 3;
const peer = join(repoRoot, 'testing/testdata/tcp-peer.js');
const fakeMetadata = join(repoRoot, 'testing/testdata/fake-metadata.js');
const ARTIFACTS = join(repoRoot, 'test-artifacts');

type CostRow = NetcostApiRow;

describe('network cost across namespaces in three zones and the internet', bpfTest(), () => {
  let net: TestNet;
  let kiln: KilnProcess;
  const cgroups: string[] = [];
  const servers: ChildProcess[] = [];
  const apps = ['checkout', 'payments', 'ledger', 'worker', 'outside'];
  const cg = new Map<string, string>();
  let q = '';

  /** Runs tcp-peer.js as `app` inside host `host`. */
  const run = (app: string, host: string, args: string[]) => {
    const [cmd, argv] = net.exec(host, process.execPath, [peer, ...args]);
    return spawnInCgroup(cg.get(app)!, cmd, argv);
  };

  before(async () => {
    net = new TestNet();
    net.addHost('az1', '10.77.1.2', 24, '10.77.1.1');
    net.addHost('az1b', '10.77.1.3', 24, '10.77.1.1');
    net.addHost('az2', '10.77.2.2', 24, '10.77.2.1');
    net.addHost('az3', '10.77.3.2', 24, '10.77.3.1');
    net.addHost('inet', '203.0.113.10', 24, '203.0.113.1');
    net.addHost('meta', '10.77.9.2', 24, '10.77.9.1');
    net.exposeToRoot('meta', '169.254.169.254', '169.254.169.1');

    // each application is a docker container, named by its metadata
    const rt = tempDir('net-rt');
    for (const app of apps) {
      const id = randomHex(32);
      writeJson(join(rt, 'var/lib/docker/containers', id, 'config.v2.json'), { Name: `/${app}`, Config: { Labels: {} } });
      const path = `system.slice/docker-${id}.scope`;
      cgroups.push(path);
      cg.set(app, makeCgroup(path));
    }
    const zones = join(tempDir('zones'), 'zones.yaml');
    writeFileSync(
      zones,
      [
        'provider: aws',
        'regions:',
        '  - name: us-east-1',
        '    zones:',
        '      - { name: us-east-1a, id: use1-az1, cidrs: [10.77.1.0/24] }',
        '      - { name: us-east-1b, id: use1-az2, cidrs: [10.77.2.0/24] }',
        '      - { name: us-east-1c, id: use1-az4, cidrs: [10.77.3.0/24] }',
        'internet: [203.0.113.0/24]',
        '# az1 reaches the internet through a NAT gateway',
        'nat: [10.77.1.0/24]',
        '',
      ].join('\n'),
    );
    // the fake metadata service (AWS IMDSv2) is where Kiln asks: 169.254.169.254 inside the test namespace
    const [mcmd, margv] = net.exec('meta', process.execPath, [fakeMetadata, 'aws', '169.254.169.254', '80']);
    const meta = spawn(mcmd, margv, { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(meta);
    await once(meta.stdout!, 'data');

    // rows carry their window's start, up to WINDOW s before the traffic in it; the data directory is fresh
    const t0 = Math.floor(Date.now() / 1000) - 2 * WINDOW;
    kiln = await startKiln(['--window', String(WINDOW), '--data-dir', tempDir('net-data'), '--runtime-root', rt, '--zones', zones, '--cloud-metadata', 'http://169.254.169.254']);

    servers.push(run('payments', 'az2', ['server', '9000', String(5 * MB), '10.77.2.2']));
    servers.push(run('ledger', 'az3', ['server', '9000', String(1 * MB), '10.77.3.2']));
    servers.push(run('outside', 'inet', ['server', '443', String(8 * MB), '203.0.113.10']));
    servers.push(run('checkout', 'az1', ['server', '8080', String(2 * MB), '10.77.1.2']));
    await sleep(1000);
    const clients = [
      // long-lived: held open across windows before its answer
      run('checkout', 'az1', ['client', '9000', String(20 * MB), '4000', '10.77.2.2']),
      run('payments', 'az2', ['client', '9000', String(4 * MB), '0', '10.77.3.2']),
      run('checkout', 'az1', ['client', '443', String(16 * MB), '0', '203.0.113.10']),
      run('outside', 'inet', ['client', '8080', String(6 * MB), '0', '10.77.1.2']),
      run('worker', 'az1b', ['client', '8080', String(4 * MB), '0', '10.77.1.2']),
    ];
    assert.deepEqual(await Promise.all(clients.map(waitExit)), [0, 0, 0, 0, 0]);
    // two more short connections payments → ledger, one after the other
    for (let i = 0; i < 2; i++) assert.equal(await waitExit(run('payments', 'az2', ['client', '9000', String(4 * MB), '0', '10.77.3.2'])), 0);
    // every connection has ended: their windows are stored once two markers after them are
    await storedThrough(kiln, { timeoutMs: 90_000, allKinds: true });
    q = `from=${t0}&to=${Math.ceil(Date.now() / 1000) + WINDOW}`;
  });

  after(async () => {
    await kiln?.stop();
    for (const s of servers) s.kill('SIGTERM');
    net?.destroy();
    for (const c of cgroups) removeCgroup(c);
  });

  const netcost = async (groupBy: string): Promise<CostRow[]> => {
    const r = await getJson<CostRow[]>(`${kiln.url}/api/v1/netcost?${q}&group_by=${groupBy}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  /** Sums of rows matching `pick`. */
  const sum = (rows: CostRow[], pick: (r: CostRow) => boolean) => {
    const s = { sent: 0, received: 0, cost: 0 };
    for (const r of rows.filter(pick)) {
      s.sent += r.bytes_sent;
      s.received += r.bytes_received;
      s.cost += r.cost_usd;
    }
    return s;
  };

  const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= want * 0.01, `${what}: ${got} vs ${want}`);

  // what each application sent and received, per class, by construction of the traffic above
  const expected: Record<string, Record<string, [number, number]>> = {
    checkout: { 'cross-az': [20 * MB, 5 * MB], internet: [16 * MB + 2 * MB, 8 * MB + 6 * MB], 'same-zone': [2 * MB, 4 * MB] },
    payments: { 'cross-az': [5 * MB + 12 * MB, 20 * MB + 3 * MB] },
    ledger: { 'cross-az': [3 * MB, 12 * MB] },
    worker: { 'same-zone': [4 * MB, 2 * MB] },
  };

  it("reports every application's bytes per class within 1% of what was sent", async () => {
    const rows = await netcost('app');
    const log = `\n${JSON.stringify(rows.map((r) => [r.app, r.class, r.bytes_sent, r.bytes_received]))}\n${kiln.log()}`;
    for (const [app, classes] of Object.entries(expected)) {
      for (const [cls, [sent, received]] of Object.entries(classes)) {
        const s = sum(rows, (r) => r.app === app && r.class === cls);
        near(s.sent, sent, `${app} ${cls} sent${log}`);
        near(s.received, received, `${app} ${cls} received${log}`);
      }
      // and nothing in a class it did not use (its own kiln-side noise aside)
      for (const r of rows.filter((x) => x.app === app)) assert.ok(r.class in classes, `${app} has unexpected ${r.class} traffic${log}`);
    }
  });

  it('does not report the simulated internet peer or the metadata service as applications', async () => {
    const rows = await netcost('app');
    assert.ok(!rows.some((r) => r.app === 'outside'), 'sockets on 203.0.113.0/24 are the outside world');
    const peers = await netcost('peer');
    assert.ok(!peers.some((r) => r.app === 'outside' || r.peer === '169.254.169.1'), 'the metadata service side is not an app');
    const { body: status } = await getJson<{ tcp: Record<string, number>; placement: Record<string, string>; cpu_price: { usd_per_core_hour: number; instance_type: string; source: string } }>(`${kiln.url}/api/v1/status`);
    assert.ok(status.tcp.externalSkipped > 0, JSON.stringify(status.tcp));
    assert.equal(status.tcp.connsMapFull + status.tcp.closedMapFull, 0, 'no connection lost');
    assert.deepEqual(status.placement, { provider: 'aws', region: 'us-east-1', zone: 'us-east-1b', zoneId: 'use1-az2', accountId: '123456789012', instanceId: 'i-0abc', instanceType: 'm5.large' });
    // the instance type prices a CPU-hour: m5.large's on-demand 0.096 $/h over its 2 vCPUs
    assert.equal(status.cpu_price.usd_per_core_hour, 0.048);
    assert.equal(status.cpu_price.instance_type, 'm5.large');
    assert.match(status.cpu_price.source, /m5\.large in us-east-1: 0\.096 USD per instance-hour over 2 vCPUs; Amazon EC2 On-Demand Pricing, https:\/\/aws\.amazon\.com\/ec2\/pricing\/on-demand\//);
  });

  it('names peers and their applications, with connection direction', async () => {
    const rows = await netcost('peer');
    const toPayments = rows.filter((r) => r.app === 'checkout' && r.peer === '10.77.2.2' && r.port === 9000);
    assert.ok(toPayments.length === 1 && toPayments[0].peer_app === 'payments' && toPayments[0].direction === 'outbound', JSON.stringify(rows));
    const fromCheckout = rows.filter((r) => r.app === 'payments' && r.peer_app === 'checkout');
    assert.ok(fromCheckout.length === 1 && fromCheckout[0].direction === 'inbound' && fromCheckout[0].peer === '10.77.1.2' && fromCheckout[0].port === 9000, JSON.stringify(fromCheckout));
    const inet = rows.filter((r) => r.app === 'checkout' && r.class === 'internet');
    assert.deepEqual(new Set(inet.map((r) => r.direction)), new Set(['outbound', 'inbound']));
    assert.ok(inet.every((r) => !r.peer_app), 'the outside world has no app name');
  });

  it('prices each row as a hand computation from the snapshot does', async () => {
    const rows = await netcost('app');
    for (const r of rows) {
      // every row is auditable: billed bytes / unit bytes × unit price
      assert.ok(Math.abs(r.cost_usd - (r.billed_bytes / r.pricing_unit_bytes) * r.unit_price_usd) < 1e-12, JSON.stringify(r));
      assert.equal(r.pricing_unit, 'GB');
      assert.equal(r.pricing_unit_bytes, GiB);
      assert.match(r.price_source, /^aws-\d{4}-\d{2}-\d{2}/);
    }
    for (const [app, classes] of Object.entries(expected)) {
      const [sent, received] = classes['cross-az'] ?? [0, 0];
      // cross-AZ: $0.01 per GB in each direction, both ends billed
      const crossAz = sum(rows, (r) => r.app === app && r.class === 'cross-az');
      assert.ok(Math.abs(crossAz.cost - ((sent + received) / GiB) * 0.01) <= ((sent + received) / GiB) * 0.01 * 0.01, `${app} cross-az cost ${crossAz.cost}`);
      for (const r of rows.filter((x) => x.app === app && x.class === 'cross-az')) assert.equal(r.unit_price_usd, 0.01);
      for (const r of rows.filter((x) => x.app === app && x.class === 'same-zone')) assert.equal(r.cost_usd, 0);
    }
    // internet egress of 18 MB is inside the month's 100 GB free allowance; ingress is free
    const inet = rows.filter((r) => r.app === 'checkout' && r.class === 'internet' && r.charge === 'data-transfer');
    assert.ok(inet.every((r) => r.cost_usd === 0));
    assert.ok(inet.some((r) => r.tier === 'free allowance'), JSON.stringify(inet));
    // but az1 goes out through a NAT gateway: checkout's outbound internet connection (16 MB out,
    // 8 MB back) pays $0.045/GB processing on both directions; the inbound one (from the internet) does not
    const nat = rows.filter((r) => r.charge === 'nat-gateway-processing');
    assert.equal(nat.length, 1, JSON.stringify(nat));
    assert.equal(nat[0].app, 'checkout');
    near(nat[0].billed_bytes, 24 * MB, 'NAT-processed bytes');
    assert.equal(nat[0].unit_price_usd, 0.045);
    assert.ok(Math.abs(nat[0].cost_usd - (nat[0].billed_bytes / GiB) * 0.045) < 1e-12);
    const byClass = await netcost('class');
    const total = sum(byClass, (r) => r.class === 'cross-az');
    assert.ok(Math.abs(total.cost - ((20 + 5 + 17 + 23 + 3 + 12) * MB * 0.01) / GiB) < 1e-6, `all cross-az: ${total.cost}`);
    // the cost series over the same range adds up to the same total
    const series = await getJson<{ step: number; points: { app: string; cost_usd: number }[] }>(`${kiln.url}/api/v1/netcost/series?${q}&step=60`);
    assert.equal(series.status, 200);
    const seriesTotal = series.body.points.reduce((s, p) => s + p.cost_usd, 0);
    const allCost = sum(rows, () => true).cost;
    assert.ok(allCost > 0 && Math.abs(seriesTotal - allCost) < 1e-12, `series ${seriesTotal} vs rows ${allCost}`);
  });

  it('writes the month as a FOCUS 1.2 CSV with the mandatory columns', async () => {
    const month = new Date().toISOString().slice(0, 7);
    const r = await fetch(`${kiln.url}/api/v1/reports/monthly?month=${month}&format=focus`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/csv/);
    const rows = parseCsv(await r.text(), { columns: true }) as Record<string, string>[];
    const mandatory = ['BilledCost', 'BillingAccountId', 'BillingCurrency', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargeCategory', 'ChargeDescription', 'ChargePeriodStart', 'ChargePeriodEnd', 'EffectiveCost', 'ListCost', 'ListUnitPrice', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'RegionId', 'ResourceName', 'ServiceCategory', 'ServiceName', 'Tags', 'x_TrafficClass', 'x_Direction', 'x_Peers', 'x_BytesSent', 'x_BytesReceived'];
    for (const c of mandatory) assert.ok(c in rows[0], `column ${c}`);
    const payments = rows.filter((x) => x.ResourceName === 'payments' && x.x_TrafficClass === 'cross-az');
    assert.equal(payments.length, 1);
    const p = payments[0];
    assert.equal(p.ChargeCategory, 'Usage');
    assert.equal(p.ServiceCategory, 'Networking');
    assert.equal(p.BillingAccountId, '123456789012', 'the account from cloud metadata');
    assert.equal(p.AvailabilityZone, 'us-east-1b', 'the zone from cloud metadata');
    assert.equal(p.RegionId, 'us-east-1');
    assert.equal(p.BillingPeriodStart, `${month}-01T00:00:00Z`);
    near(Number(p.x_BytesSent) + Number(p.x_BytesReceived), 40 * MB, 'payments cross-az bytes');
    assert.ok(Math.abs(Number(p.BilledCost) - Number(p.PricingQuantity) * Number(p.ListUnitPrice)) < 1e-12);
    assert.match(p.x_Peers, /checkout/);
    const nat = rows.filter((x) => x.x_Charge === 'nat-gateway-processing');
    assert.deepEqual(nat.map((x) => [x.ResourceName, x.ServiceName, x.x_TrafficClass, x.ListUnitPrice]), [['checkout', 'Amazon Virtual Private Cloud', 'internet', '0.045']]);
    assert.match(p.x_Peers, /ledger/);
    // `kiln report --month` prints the same report
    const cli = execFileSync(process.execPath, [join(repoRoot, 'dist/cli.js'), 'report', '--month', month, '--format', 'focus', '--url', kiln.url], { encoding: 'utf8' });
    const cliRows = parseCsv(cli, { columns: true }) as Record<string, string>[];
    // Kiln keeps measuring while the test runs: the test's own HTTP calls to it are new same-host
    // rows of `node` between the two reports, so compare the workload's applications, which have ended.
    const workload = (xs: Record<string, string>[]) => xs.filter((x) => x.ResourceName in expected).map((x) => [x.ResourceName, x.x_TrafficClass, x.x_Direction, x.BilledCost]);
    assert.ok(workload(rows).length >= 5);
    assert.deepEqual(workload(cliRows), workload(rows));
  });

  it('shows the cost view in a real browser: the table by app and class, and the chart', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const month = new Date().toISOString().slice(0, 7);
      await page.goto(`${kiln.url}/cost?month=${month}`);
      await page.waitForSelector('body[data-rendered="true"]', { timeout: 20_000 });
      const cells = await page.$$eval('#cost-body tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td).map((td) => td.textContent ?? '')));
      const payments = cells.find((c) => c[0] === 'payments' && c[1] === 'cross-az');
      assert.ok(payments, JSON.stringify(cells));
      assert.equal(payments[4], '40.0 MiB', 'billed bytes: both directions');
      assert.equal(payments[5], '$0.01/GB');
      if (cells.some((c) => c[0] === 'outside')) {
        // say which flows made the outside world an application, for the log
        const m = monthRange(month);
        const flows = await getJson<CostRow[]>(`${kiln.url}/api/v1/netcost?from=${m.from}&to=${m.to}&group_by=peer&app=outside`);
        assert.fail(`outside shown as an application: ${JSON.stringify(cells.filter((c) => c[0] === 'outside'))}\nits flows: ${JSON.stringify(flows.body)}\n${kiln.log()}`);
      }
      assert.ok((await page.$$('#cost-chart g.layer rect')).length > 0, 'the stacked cost chart has bars');
      assert.match((await page.textContent('#cost-total')) ?? '', /^\$/);
      assert.ok(cells.every((c) => c[0] !== ''), `every row names its application: ${JSON.stringify(cells)}`);
      const swatches = await page.$$eval('#chart-legend .swatch', (xs) => xs.map((x) => (x as HTMLElement).style.background));
      assert.equal(new Set(swatches).size, swatches.length, `one colour per series: ${swatches.join(', ')}`);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'ui-netcost.png'), fullPage: true });
      // a month without traffic says so; no axis scaled to nothing ($1.00e-9, its $ cut off)
      await page.goto(`${kiln.url}/cost?month=2020-01`);
      await page.waitForSelector('body[data-rendered="true"]', { timeout: 20_000 });
      assert.equal(await page.textContent('#cost-chart text.empty'), 'No network cost in this month.');
      assert.deepEqual(await page.$$eval('#cost-chart .tick text', (xs) => xs.map((x) => x.textContent)), []);
    } finally {
      await browser.close();
    }
  });

  it('answers 400 with the reason for bad parameters', async () => {
    for (const [path, reason] of [
      ['/api/v1/netcost?group_by=team', /group_by must be app, peer or class/],
      ['/api/v1/reports/monthly?month=2026-13', /month must be YYYY-MM/],
      ['/api/v1/reports/monthly?month=2026-11&format=xml', /format must be focus, csv or json/],
    ] as const) {
      const r = await getJson<{ error: string }>(`${kiln.url}${path}`);
      assert.equal(r.status, 400);
      assert.match(r.body.error, reason);
    }
  });
});

describe('cloud metadata providers against a fake metadata service in a namespace', bpfTest(), () => {
  let net: TestNet;
  const servers: ChildProcess[] = [];

  before(async () => {
    net = new TestNet();
    net.addHost('meta', '10.77.9.2', 24, '10.77.9.1');
    net.exposeToRoot('meta', '169.254.169.254', '169.254.169.1');
    for (const [flavour, port] of [['aws', '8001'], ['gcp', '8002'], ['azure', '8003']]) {
      const [cmd, argv] = net.exec('meta', process.execPath, [fakeMetadata, flavour, '169.254.169.254', port]);
      const s = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(s);
      await once(s.stdout!, 'data');
    }
  });

  after(() => {
    for (const s of servers) s.kill('SIGTERM');
    net?.destroy();
  });

  it('reads AWS placement through the IMDSv2 token flow', async () => {
    assert.deepEqual(await queryMetadata('http://169.254.169.254:8001'), { provider: 'aws', region: 'us-east-1', zone: 'us-east-1b', zoneId: 'use1-az2', accountId: '123456789012', instanceId: 'i-0abc', instanceType: 'm5.large' });
  });

  it('reads GCP and Azure placement', async () => {
    assert.deepEqual(await queryMetadata('http://169.254.169.254:8002'), { provider: 'gcp', region: 'europe-west1', zone: 'europe-west1-c', zoneId: 'europe-west1-c', accountId: '424242' });
    assert.deepEqual(await queryMetadata('http://169.254.169.254:8003'), { provider: 'azure', region: 'westeurope', zone: 'westeurope-2', zoneId: 'westeurope-2', accountId: 'sub-7', instanceId: 'vm-1', instanceType: 'Standard_D2s_v3' });
  });

  it('gives up within its timeout when nothing answers', async () => {
    const t = Date.now();
    assert.equal(await queryMetadata('http://169.254.169.254:8009', { timeoutMs: 300 }), null);
    assert.ok(Date.now() - t < 2000);
  });
});
