/* The FOCUS report's columns and the values Kiln can and cannot know. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseCsv } from 'csv-parse/sync';
import type { CostRow } from './cost.js';
import { FOCUS_COLUMNS, focusCsv, focusRows } from './focus.js';

/** Every column of FOCUS 1.2 (focus.finops.org, the specification's column index). */
const FOCUS_1_2 = [
  'AvailabilityZone', 'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingAccountType', 'BillingCurrency',
  'BillingPeriodEnd', 'BillingPeriodStart', 'CapacityReservationId', 'CapacityReservationStatus', 'ChargeCategory',
  'ChargeClass', 'ChargeDescription', 'ChargeFrequency', 'ChargePeriodEnd', 'ChargePeriodStart',
  'CommitmentDiscountCategory', 'CommitmentDiscountId', 'CommitmentDiscountName', 'CommitmentDiscountQuantity',
  'CommitmentDiscountStatus', 'CommitmentDiscountType', 'CommitmentDiscountUnit', 'ConsumedQuantity', 'ConsumedUnit',
  'ContractedCost', 'ContractedUnitPrice', 'EffectiveCost', 'InvoiceId', 'InvoiceIssuerName', 'ListCost', 'ListUnitPrice',
  'PricingCategory', 'PricingCurrency', 'PricingCurrencyContractedUnitPrice', 'PricingCurrencyEffectiveCost',
  'PricingCurrencyListUnitPrice', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'RegionId',
  'RegionName', 'ResourceId', 'ResourceName', 'ResourceType', 'ServiceCategory', 'ServiceName', 'ServiceSubcategory',
  'SkuId', 'SkuMeter', 'SkuPriceDetails', 'SkuPriceId', 'SubAccountId', 'SubAccountName', 'SubAccountType', 'Tags',
];

const row: CostRow = {
  group: { app: 'payments' },
  month: '2026-11',
  region: 'us-east-1',
  class: 'cross-az',
  charge: 'data-transfer',
  bytes_sent: 30 * 2 ** 30,
  bytes_received: 10 * 2 ** 30,
  billed_bytes: 40 * 2 ** 30,
  billed_direction: 'egress+ingress',
  cost_usd: 0.4,
  unit_price_usd: 0.01,
  pricing_unit: 'GB',
  pricing_unit_bytes: 2 ** 30,
  tier: 'all',
  price_source: 'aws-2026-11-21-bundled',
};

describe('FOCUS 1.2 report', () => {
  it('has every column of the specification, in its order, then the x_ extensions', () => {
    const focus = FOCUS_COLUMNS.filter((c) => !c.startsWith('x_'));
    assert.deepEqual(focus, FOCUS_1_2);
    assert.ok(FOCUS_COLUMNS.slice(focus.length).every((c) => c.startsWith('x_')), 'extensions come last');
  });

  it('fills the zone, the pricing currency and the meter; leaves what a host cannot know null', () => {
    const [r] = focusRows([row], { provider: 'aws', accountId: '123456789012', host: 'h1', zone: 'us-east-1a' });
    assert.equal(r.AvailabilityZone, 'us-east-1a');
    assert.equal(r.PricingCurrency, 'USD');
    assert.equal(r.PricingCurrencyEffectiveCost, r.EffectiveCost);
    assert.equal(r.PricingCurrencyListUnitPrice, r.ListUnitPrice);
    assert.equal(r.SkuMeter, 'Inter-zone data transfer');
    assert.deepEqual(JSON.parse(String(r.SkuPriceDetails)), { x_TrafficClass: 'cross-az', x_Tier: 'all', x_BilledDirection: 'egress+ingress' });
    for (const c of ['InvoiceId', 'BillingAccountType', 'SubAccountType', 'CapacityReservationId', 'CommitmentDiscountId'] as const) assert.equal(r[c], null, c);
    const [csv] = parseCsv(focusCsv([r]), { columns: true }) as Record<string, string>[];
    assert.equal(csv.AvailabilityZone, 'us-east-1a');
    assert.equal(csv.InvoiceId, '', 'null is an empty cell');
    // without a known zone (a fleet's server), the cell is empty rather than a guess
    assert.equal(focusRows([row], { provider: 'aws', accountId: 'a', host: 'h' })[0].AvailabilityZone, null);
  });
});
