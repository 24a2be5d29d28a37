/* Pricing of usage rows as the cloud bills them, checked against hand computations. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { monthsOf, priceUsage, type UsageRow } from './cost.js';
import { BUNDLED_PRICING_DIR, loadSnapshot } from './pricing.js';

const GiB = 2 ** 30;
const TiB = 1024 * GiB;
const snapshot = loadSnapshot(join(BUNDLED_PRICING_DIR, 'snapshot-aws.json'));
const row = (app: string, cls: UsageRow['class'], sent: number, received: number, region = 'us-east-1', month = '2026-11'): UsageRow => ({ month, region, class: cls, group: { app }, bytesSent: sent, bytesReceived: received });

describe('priceUsage', () => {
  it('bills cross-AZ in both directions, cross-region to the sender, and same zone not at all', () => {
    const out = priceUsage([row('a', 'cross-az', 3 * GiB, 1 * GiB), row('b', 'cross-region', 2 * GiB, 5 * GiB), row('c', 'same-zone', GiB, GiB)], { snapshot, egressBefore: new Map() });
    const by = new Map(out.map((r) => [r.group.app, r]));
    assert.equal(by.get('a')!.billed_bytes, 4 * GiB);
    assert.ok(Math.abs(by.get('a')!.cost_usd - 0.04) < 1e-12);
    assert.equal(by.get('b')!.billed_bytes, 2 * GiB);
    assert.ok(Math.abs(by.get('b')!.cost_usd - 0.04) < 1e-12);
    assert.equal(by.get('c')!.cost_usd, 0);
  });

  it('tiers internet egress on the month so far, shares each segment by volume, and rows sum to the total', () => {
    // 9.9 TB already used this month: 100 GB free, then the first tier ends at 10 TB
    const before = 9.9 * TiB;
    const usage = [row('a', 'internet', 0.3 * TiB, GiB), row('b', 'internet', 0.1 * TiB, 0)];
    const out = priceUsage(usage, { snapshot, egressBefore: new Map([['2026-11|us-east-1', before]]) });
    // by hand: 0.1 TB left in the first tier at $0.09, the other 0.3 TB at $0.085
    const want = 0.1 * 1024 * 0.09 + 0.3 * 1024 * 0.085;
    const total = out.reduce((s, r) => s + r.cost_usd, 0);
    assert.ok(Math.abs(total - want) < 1e-9, `${total} vs ${want}`);
    const a = out.filter((r) => r.group.app === 'a');
    assert.deepEqual(a.map((r) => r.tier), ['first 10 TB', 'next 40 TB']);
    for (const r of out) assert.ok(Math.abs(r.cost_usd - (r.billed_bytes / GiB) * r.unit_price_usd) < 1e-9);
    // a's share of each segment is 3/4; its bytes are split the same way and sum exactly
    assert.ok(Math.abs(a.reduce((s, r) => s + r.bytes_sent, 0) - 0.3 * TiB) < 1);
    // per-flow pricing (each app from zero) would bill both at $0.09 after the free allowance
    const perFlow = (0.3 * 1024 - 100) * 0.09 + (0.1 * 1024 - 100) * 0.09;
    assert.ok(Math.abs(perFlow - total) > 1);
  });

  it('prices GCP and Azure hosts by their own rules: GCP bills cross-zone to the sender, Azure not at all', () => {
    const gcp = loadSnapshot(join(BUNDLED_PRICING_DIR, 'snapshot-gcp.json'));
    const g = priceUsage([row('a', 'cross-az', 3 * GiB, 1 * GiB, 'us-central1'), row('b', 'internet', 2 * TiB, GiB, 'us-central1')], { snapshot: gcp, egressBefore: new Map() });
    const ga = g.find((r) => r.group.app === 'a')!;
    assert.equal(ga.billed_direction, 'egress');
    assert.equal(ga.billed_bytes, 3 * GiB);
    assert.ok(Math.abs(ga.cost_usd - 0.03) < 1e-12);
    // Premium Tier: the first TiB at $0.12, the second at $0.11, no free allowance
    const gb = g.filter((r) => r.group.app === 'b');
    assert.ok(Math.abs(gb.reduce((s, r) => s + r.cost_usd, 0) - (1024 * 0.12 + 1024 * 0.11)) < 1e-9);
    assert.ok(gb.every((r) => r.price_source.startsWith(gcp.snapshot) && r.pricing_unit === 'GiB'));

    const azure = loadSnapshot(join(BUNDLED_PRICING_DIR, 'snapshot-azure.json'));
    const z = priceUsage([row('a', 'cross-az', 3 * GiB, 1 * GiB, 'eastus'), row('b', 'internet', 150 * GiB, 0, 'eastus')], { snapshot: azure, egressBefore: new Map() });
    assert.equal(z.find((r) => r.group.app === 'a')!.cost_usd, 0);
    // 100 GB free, then $0.087
    const zb = z.filter((r) => r.group.app === 'b');
    assert.deepEqual(zb.map((r) => r.tier), ['free allowance', 'first 10 TB']);
    assert.ok(Math.abs(zb.reduce((s, r) => s + r.cost_usd, 0) - 50 * 0.087) < 1e-9);
  });

  it('marks unknown peers and regions without prices as unpriced instead of guessing', () => {
    const out = priceUsage([row('a', 'unknown', GiB, GiB), row('b', 'cross-az', GiB, 0, 'mars-north-1'), row('c', 'cross-az', GiB, 0, '')], { snapshot, egressBefore: new Map() });
    assert.ok(out.every((r) => r.cost_usd === 0 && r.tier.startsWith('unpriced')), JSON.stringify(out.map((r) => r.tier)));
    assert.match(out[1].tier, /mars-north-1/);
  });

  it('adds NAT gateway processing on both directions of NAT-routed internet traffic, as a row of its own', () => {
    const MB = 2 ** 20;
    const usage = [{ ...row('a', 'internet', 16 * MB, 8 * MB), natBytes: 24 * MB }, row('b', 'internet', 3 * MB, 0)];
    const out = priceUsage(usage, { snapshot, egressBefore: new Map() });
    const nat = out.filter((r) => r.charge === 'nat-gateway-processing');
    assert.equal(nat.length, 1);
    // by hand: 24 MB at $0.045/GB
    assert.equal(nat[0].group.app, 'a');
    assert.equal(nat[0].billed_bytes, 24 * MB);
    assert.equal(nat[0].billed_direction, 'egress+ingress');
    assert.equal(nat[0].unit_price_usd, 0.045);
    assert.ok(Math.abs(nat[0].cost_usd - (24 / 1024) * 0.045) < 1e-12);
    // the data transfer rows are as without NAT (inside the free allowance), and bytes still sum to the traffic
    const transfer = out.filter((r) => r.charge === 'data-transfer');
    assert.ok(transfer.every((r) => r.cost_usd === 0));
    assert.equal(out.filter((r) => r.group.app === 'a').reduce((s, r) => s + r.bytes_sent + r.bytes_received, 0), 24 * MB);
    // no NAT price in the snapshot: unpriced, not guessed
    const bare = { ...snapshot, regions: { 'us-east-1': { ...snapshot.regions['us-east-1'], 'nat-gateway-processing': undefined } } };
    const u = priceUsage([usage[0]], { snapshot: bare, egressBefore: new Map() }).find((r) => r.charge === 'nat-gateway-processing')!;
    assert.equal(u.cost_usd, 0);
    assert.match(u.tier, /unpriced: no NAT gateway price for us-east-1/);
  });

  it('splits a range into its months', () => {
    const from = Date.UTC(2026, 10, 30, 12) / 1000;
    const to = Date.UTC(2026, 11, 2) / 1000;
    assert.deepEqual(
      monthsOf(from, to).map((m) => [m.month, m.start === from, m.end]),
      [
        ['2026-11', true, Date.UTC(2026, 11, 1) / 1000],
        ['2026-12', false, to],
      ],
    );
  });
});

describe('monthsOf bounds', () => {
  it('covers the whole DateTime range in bounded steps and refuses what is not finite', () => {
    const all = monthsOf(0, 4294967295);
    assert.equal(all[0].month, '1970-01');
    assert.equal(all[all.length - 1].month, '2106-02');
    assert.equal(all.length, 136 * 12 + 2);
    assert.throws(() => monthsOf(Number.NaN, 10), RangeError);
    assert.throws(() => monthsOf(-1e17, 10), RangeError);
    assert.deepEqual(monthsOf(10, 10), []);
  });
});
