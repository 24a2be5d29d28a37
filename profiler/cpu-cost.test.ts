import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuCost, instanceCpuPrice, loadInstancePrices, microDollars, operatorCpuPrice } from './cpu-cost.js';

describe('CPU prices', () => {
  const snapshot = loadInstancePrices();

  it('prices a core-hour of a known instance type from the bundled snapshot, citing it', () => {
    const p = instanceCpuPrice({ provider: 'aws', region: 'us-east-1', instanceType: 'm5.large' }, snapshot)!;
    assert.equal(p.usdPerCoreHour, 0.048);
    assert.equal(p.instanceType, 'm5.large');
    assert.match(p.source, /^m5\.large in us-east-1: 0\.096 USD per instance-hour over 2 vCPUs; Amazon EC2 On-Demand Pricing, https:\/\/aws\.amazon\.com\/ec2\/pricing\/on-demand\/.* \(as of 2026-12-05\)$/);
    assert.equal(instanceCpuPrice({ provider: 'aws', region: 'us-east-1', instanceType: 'c7g.large' }, snapshot)!.usdPerCoreHour, 0.03625);
    // not in the snapshot: no price rather than a guess
    for (const where of [
      { provider: 'aws', region: 'us-east-1', instanceType: 'x9z.huge' },
      { provider: 'aws', region: 'ap-south-2', instanceType: 'm5.large' },
      { provider: 'gcp', region: 'us-east-1', instanceType: 'm5.large' },
      { provider: 'aws', region: 'us-east-1' },
    ]) assert.equal(instanceCpuPrice(where, snapshot), null, JSON.stringify(where));
  });

  it('keeps a snapshot that is dated, sourced from the provider, and whose vCPUs match each size', () => {
    assert.match(snapshot.as_of, /^\d{4}-\d\d-\d\d$/);
    assert.match(snapshot.source, /https:\/\/aws\.amazon\.com\/ec2\/pricing\/on-demand\//);
    const vcpusOf: Record<string, number> = { micro: 2, small: 2, medium: 2, large: 2, xlarge: 4, '2xlarge': 8, '4xlarge': 16 };
    for (const [region, types] of Object.entries(snapshot.regions)) {
      for (const [type, p] of Object.entries(types)) {
        assert.equal(p.vcpus, vcpusOf[type.split('.')[1]], `${region} ${type}`);
        assert.ok(p.usd_per_hour > 0 && p.usd_per_hour < 10, `${region} ${type}: ${p.usd_per_hour}`);
      }
    }
  });

  it("turns CPU time into dollars, the month at the range's rate and pprof micro-dollars", () => {
    const price = operatorCpuPrice('0.05');
    // 2 core-hours over a day: $0.10, 730 hours at that rate $3.041667
    const c = cpuCost(2 * 3.6e12, 86_400, price);
    assert.deepEqual([c.cpu_seconds, c.usd, c.usd_per_month, c.unit_price, c.unit], [7200, 0.1, 3.041667, 0.05, 'USD per core-hour']);
    assert.match(c.price_source, /--cpu-price-usd-per-core-hour/);
    assert.equal(microDollars(3.6e12, price), 50_000);
    assert.equal(cpuCost(1e9, 0, price).usd_per_month, 0, 'an empty range projects nothing');
    for (const bad of ['0', '-1', 'abc', '1e3', '1001', '']) assert.throws(() => operatorCpuPrice(bad), /must be a price in US dollars above 0 and at most 1000/, bad);
  });
});
