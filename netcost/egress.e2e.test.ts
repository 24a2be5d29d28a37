/* Bytes and dollars per code path, end to end: an -O2 program without frame pointers whose two functions
 * send known volumes from a host in us-east-1a, 300 MB to a peer in us-east-1b (cross-AZ) and 100 MB to
 * a peer in its own zone; `kiln run` as a user starts it, answers over HTTP and as pprof. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { Profile } from 'pprof-format';
import { bpfTest, getJson, launchChromium, repoRoot, startKiln, storedThrough, tempDir, testdataDir, waitExit, type KilnProcess } from '../testing/testkit.js';
import { TestNet } from '../testing/netns.js';
import type { FlameNode } from '../profiler/flamegraph.js';
import type { EgressSummary } from './egress-cost.js';
import type { NetcostApiRow } from '../web/routes/netcost.js';

const WINDOW = 3;
const CROSS_AZ_BYTES = 300e6;
const SAME_ZONE_BYTES = 100e6;
const peer = join(repoRoot, 'testing/testdata/tcp-peer.js');

type EgressTree = FlameNode & { egress: EgressSummary };

/** the summed value (and dollars) of every node named `name` */
function fn(tree: FlameNode, name: string): { bytes: number; usd: number } {
  const out = { bytes: 0, usd: 0 };
  const walk = (n: FlameNode) => {
    if (n.name === name) {
      out.bytes += n.value;
      out.usd += n.usd ?? 0;
      return; // not recursive in this program: the outermost frame holds it all
    }
    for (const c of n.children) walk(c);
  };
  walk(tree);
  return out;
}

describe('egress stacks: bytes and dollars per code path', bpfTest(), () => {
  let net: TestNet;
  let kiln: KilnProcess;
  const servers: ChildProcess[] = [];
  let q = '';

  before(async () => {
    net = new TestNet();
    net.addHost('a', '10.77.1.2', 24, '10.77.1.1');
    net.addHost('a2', '10.77.1.3', 24, '10.77.1.1');
    net.addHost('b', '10.77.2.2', 24, '10.77.2.1');
    const zones = join(tempDir('zones'), 'zones.yaml');
    writeFileSync(
      zones,
      ['provider: aws', 'regions:', '  - name: us-east-1', '    zones:', '      - { name: us-east-1a, id: use1-az1, cidrs: [10.77.1.0/24] }', '      - { name: us-east-1b, id: use1-az2, cidrs: [10.77.2.0/24] }', ''].join('\n'),
    );
    const bin = join(tempDir('egress-bin'), 'sendsplit');
    // as distributions build: -O2, no frame pointers (walked by the binary's .eh_frame)
    execFileSync('cc', ['-O2', '-g', '-o', bin, join(testdataDir, 'sendsplit.c')]);
    const t0 = Math.floor(Date.now() / 1000) - 2 * WINDOW;
    // one sample point per MiB sent on average, stated (the default may change)
    kiln = await startKiln(['--window', String(WINDOW), '--data-dir', tempDir('egress-data'), '--zones', zones, '--cloud-metadata', 'off', '--egress-bytes-per-sample', String(2 ** 20)]);
    for (const [host, addr] of [['b', '10.77.2.2'], ['a2', '10.77.1.3']]) {
      const [cmd, argv] = net.exec(host, process.execPath, [peer, 'server', '9000', '0', addr]);
      const s = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(s);
      await once(s.stdout!, 'data'); // listening
    }
    const [cmd, argv] = net.exec('a', bin, ['10.77.2.2', '9000', String(CROSS_AZ_BYTES), '10.77.1.3', '9000', String(SAME_ZONE_BYTES)]);
    assert.equal(await waitExit(spawn(cmd, argv, { stdio: 'inherit' })), 0);
    // every byte sent is in a stored window (flows too) once two markers after it are
    await storedThrough(kiln, { timeoutMs: 90_000, allKinds: true });
    q = `app=sendsplit&from=${t0}&to=${Math.ceil(Date.now() / 1000) + WINDOW}`;
  });

  after(async () => {
    await kiln?.stop();
    for (const s of servers) s.kill('SIGTERM');
    net?.destroy();
  });

  const egress = async (extra = ''): Promise<EgressTree> => {
    const r = await getJson<EgressTree>(`${kiln.url}/api/v1/profile/egress?${q}${extra}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  it('gives each function its bytes within 3% and its class exactly', async () => {
    const all = await egress();
    const up = fn(all, 'upload_reports');
    const push = fn(all, 'push_metrics');
    const paths = (n: FlameNode, pre = ''): string[] => (n.children.length === 0 ? [`${pre}${n.name} ${n.value}`] : n.children.flatMap((c) => paths(c, `${pre}${n.name}>`)));
    assert.ok(Math.abs(up.bytes / CROSS_AZ_BYTES - 1) < 0.03, `upload_reports ${up.bytes} bytes, sent ${CROSS_AZ_BYTES}; paths: ${paths(all).slice(0, 12).join(' | ')}; ${JSON.stringify(all.egress)}`);
    assert.ok(Math.abs(push.bytes / SAME_ZONE_BYTES - 1) < 0.03, `push_metrics ${push.bytes} bytes, sent ${SAME_ZONE_BYTES}`);
    // each function's bytes are all in its own class, none in the other
    const cross = await egress('&class=cross-az');
    const same = await egress('&class=same-zone');
    assert.equal(fn(cross, 'upload_reports').bytes, up.bytes);
    assert.equal(fn(cross, 'push_metrics').bytes, 0);
    assert.equal(fn(same, 'push_metrics').bytes, push.bytes);
    assert.equal(fn(same, 'upload_reports').bytes, 0);
    // the sampling is stated: one point per MiB on average, its error from the points
    assert.ok(Math.abs(all.egress.bytes_per_point / 2 ** 20 - 1) < 0.01, String(all.egress.bytes_per_point));
    assert.ok(all.egress.points > 300 && all.egress.relative_error_95 > 0 && all.egress.relative_error_95 < 0.15, JSON.stringify(all.egress));
    // scaled to the TCP collector's exact counts: the points' own estimate is near them
    assert.ok(Math.abs(all.egress.estimated_bytes / all.egress.bytes - 1) < 0.2, JSON.stringify(all.egress));
    assert.equal(all.egress.unmatched_bytes, 0);
  });

  it("prices each function's bytes at its class's unit price: the same figure as the cost row", async () => {
    const all = await egress();
    const cross = all.egress.classes.find((c) => c.class === 'cross-az')!;
    assert.ok(cross.unit_price_usd > 0 && cross.pricing_unit_bytes > 0, JSON.stringify(cross));
    assert.match(cross.price_source, /aws/i);
    const up = fn(all, 'upload_reports');
    assert.ok(Math.abs(up.usd - (up.bytes / cross.pricing_unit_bytes) * cross.unit_price_usd) < 1e-9, `${up.usd} for ${up.bytes} bytes`);
    assert.equal(fn(all, 'push_metrics').usd, 0); // same zone is free
    // the cost row of that peer: its sent bytes at the same price are the same dollars
    const rows = (await getJson<NetcostApiRow[]>(`${kiln.url}/api/v1/netcost?${q}&group_by=peer`)).body;
    const row = rows.find((r) => r.peer === '10.77.2.2' && r.charge === 'data-transfer' && r.class === 'cross-az');
    assert.ok(row, JSON.stringify(rows));
    const rowSentUsd = (row.bytes_sent / row.pricing_unit_bytes) * row.unit_price_usd;
    const totalToPeer = fn(all, 'main').bytes; // every path to both peers runs under main
    assert.ok(totalToPeer > 0);
    // the cross-AZ class total is the row's sent bytes and dollars
    assert.ok(Math.abs(cross.bytes - row.bytes_sent) < 1, `${cross.bytes} vs ${row.bytes_sent}`);
    assert.ok(Math.abs(cross.usd - rowSentUsd) < 1e-9, `${cross.usd} vs ${rowSentUsd}`);
  });

  it('serves the same as pprof: bytes and micro-dollars per code path', async () => {
    const res = await fetch(`${kiln.url}/api/v1/profile/egress?${q}&format=pprof`);
    assert.equal(res.status, 200);
    const p = Profile.decode(gunzipSync(Buffer.from(await res.arrayBuffer())));
    const str = (i: number | bigint) => p.stringTable.strings[Number(i)];
    assert.deepEqual(p.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`), ['bytes/bytes', 'cost/microdollars', 'samples/count']);
    const fnName = new Map(p.function.map((f) => [Number(f.id), str(f.name)]));
    const locFn = new Map(p.location.map((l) => [Number(l.id), fnName.get(Number(l.line[0].functionId))]));
    let up = 0;
    for (const s of p.sample) if (s.locationId.some((id) => locFn.get(Number(id)) === 'upload_reports')) up += Number(s.value[0]);
    assert.ok(Math.abs(up / CROSS_AZ_BYTES - 1) < 0.03, `pprof upload_reports ${up}`);
    const top = execFileSync('go', ['tool', 'pprof', '-sample_index=bytes', '-top', '-cum', `${kiln.url}/api/v1/profile/egress?${q}&format=pprof`], { encoding: 'utf8', env: { ...process.env, HOME: tempDir('gohome') }, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(top, /upload_reports/);
  });

  it('shows in the browser: the cost page links a row to its code paths, the flamegraph page weighs them by bytes', { timeout: 120_000 }, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      const month = new Date().toISOString().slice(0, 7);
      await page.goto(`${kiln.url}/cost?month=${month}&group=app`);
      await page.waitForSelector('body[data-rendered="true"]', { timeout: 20_000 });
      // the cross-AZ row of sendsplit links to the code paths that sent it
      const href = await page.locator('#cost-body tr', { hasText: 'cross-az' }).filter({ hasText: 'sendsplit' }).first().locator('a', { hasText: 'code paths' }).getAttribute('href');
      assert.ok(href, 'a code paths link on the cross-AZ row');
      const link = new URLSearchParams(href.slice(href.indexOf('?')));
      assert.equal(link.get('metric'), 'egress');
      assert.equal(link.get('egress_class'), 'cross-az');
      assert.equal(link.get('app'), 'sendsplit');
      await page.goto(`${kiln.url}${href}`);
      await page.waitForSelector('body[data-egress="true"]', { timeout: 20_000 });
      const frames = await page.locator('#chart g').allTextContents();
      assert.ok(frames.some((t) => t.includes('upload_reports')), frames.slice(0, 20).join(' | '));
      assert.ok(!frames.some((t) => t.includes('push_metrics')), 'the same-zone path is not in the cross-AZ view');
      const status = await page.locator('#status').textContent();
      assert.match(status ?? '', /cross-az .*\$0\.0\d+\/GB/, status ?? '');
      assert.match(status ?? '', /one sample point per .* points \(±/);
      await page.screenshot({ path: join(repoRoot, 'test-artifacts', 'ui-egress-1366.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('refuses a bad class with 400 and the reason', async () => {
    const r = await getJson<{ error: string }>(`${kiln.url}/api/v1/profile/egress?${q}&class=moon`);
    assert.equal(r.status, 400);
    assert.match(JSON.stringify(r.body), /class must be/);
  });
});
