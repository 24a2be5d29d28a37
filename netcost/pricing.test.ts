import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../testing/testkit.js';
import { allocateTiered, loadSnapshot, tierSegments } from './pricing.js';

const snapshot = loadSnapshot(join(repoRoot, 'netcost/pricing/snapshot-aws.json'));
const egress = snapshot.regions['us-east-1']['internet-egress']!;
const TB = 1024; // GB

describe('AWS price snapshot', () => {
  it('is dated, sourced, and holds the us-east-1 data transfer prices', () => {
    assert.match(snapshot.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(snapshot.source.length > 20);
    assert.equal(snapshot.pricing_unit_bytes, 2 ** 30);
    const r = snapshot.regions['us-east-1'];
    assert.equal(r['cross-az']!.usd_per_unit, 0.01);
    assert.equal(r['nat-gateway-processing']!.usd_per_unit, 0.045);
    assert.deepEqual(
      egress.tiers.map((t) => [t.up_to_units, t.usd_per_unit]),
      [
        [10 * TB, 0.09],
        [50 * TB, 0.085],
        [150 * TB, 0.07],
        [null, 0.05],
      ],
    );
  });
});

describe('bundled price snapshots', () => {
  for (const provider of ['aws', 'gcp', 'azure']) {
    it(`${provider}: loads, is dated and sourced, prices every class it lists, NAT processing included`, () => {
      const s = loadSnapshot(join(repoRoot, `netcost/pricing/snapshot-${provider}.json`));
      assert.equal(s.provider, provider);
      assert.match(s.snapshot, new RegExp(`^${provider}-${s.date}`));
      assert.ok(s.source.length > 50, 'says where its figures come from');
      // the provider's own published page or API, never a note of ours
      const own = { aws: /https:\/\/aws\.amazon\.com\/[^\s)]*pricing/, gcp: /cloud\.google\.com\/vpc\/pricing/, azure: /Azure Retail Prices API|prices\.azure\.com/ }[provider]!;
      assert.match(s.source, own, 'cites the provider\'s price page or API');
      assert.doesNotMatch(s.source, /Kiln issue/i);
      assert.ok(Object.keys(s.regions).length >= 1);
      for (const [region, p] of Object.entries(s.regions)) {
        assert.ok(p['cross-az'] && p['cross-region'] && p['internet-egress'] && p['nat-gateway-processing'], region);
        const ups = p['internet-egress'].tiers.map((t) => t.up_to_units ?? Infinity);
        assert.deepEqual(ups, [...ups].sort((a, b) => a - b), `${region}: tiers ascend`);
        assert.equal(ups.at(-1), Infinity, `${region}: the last tier is open-ended`);
      }
    });
  }
});

describe('tiered pricing', () => {
  it('applies the free allowance, then the tiers, to the month cumulative volume', () => {
    // 20 TB in a fresh month: 100 GB free, 10 TB - 100 GB at 0.09, 10 TB at 0.085
    const segs = tierSegments(egress, 0, 20 * TB);
    assert.deepEqual(
      segs.map((s) => [s.tier, s.units, s.usdPerUnit]),
      [
        ['free allowance', 100, 0],
        ['first 10 TB', 10 * TB - 100, 0.09],
        ['next 40 TB', 10 * TB, 0.085],
      ],
    );
    const usd = segs.reduce((a, s) => a + s.usd, 0);
    assert.ok(Math.abs(usd - ((10 * TB - 100) * 0.09 + 10 * TB * 0.085)) < 1e-6);
  });

  it('prices later usage at the tier the month has reached, not from the first tier again', () => {
    const segs = tierSegments(egress, 149 * TB, 2 * TB);
    assert.deepEqual(
      segs.map((s) => [s.tier, s.units, s.usdPerUnit]),
      [
        ['next 100 TB', TB, 0.07],
        ['over 150 TB', TB, 0.05],
      ],
    );
  });

  it('allocates the account total across apps: rows auditable, summing to the tiered cost', () => {
    const rows = allocateTiered(egress, 0, [
      { key: 'api', units: 15 * TB },
      { key: 'batch', units: 5 * TB },
    ]);
    const total = tierSegments(egress, 0, 20 * TB).reduce((a, s) => a + s.usd, 0);
    assert.ok(Math.abs(rows.reduce((a, r) => a + r.usd, 0) - total) < 1e-6);
    for (const r of rows) assert.ok(Math.abs(r.units * r.usdPerUnit - r.usd) < 1e-9, 'units × unit price');
    const api = rows.filter((r) => r.key === 'api');
    assert.ok(Math.abs(api.reduce((a, r) => a + r.units, 0) - 15 * TB) < 1e-6);
    assert.ok(Math.abs(api.reduce((a, r) => a + r.usd, 0) / total - 0.75) < 1e-9, 'in proportion to volume');
    // per flow pricing would have charged every app from the first tier: more than the account pays
    const perFlow = [15 * TB, 5 * TB].map((u) => tierSegments(egress, 0, u).reduce((a, s) => a + s.usd, 0)).reduce((a, b) => a + b);
    assert.ok(perFlow > total);
  });
});
