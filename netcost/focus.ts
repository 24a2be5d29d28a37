/* The monthly network-cost report in FOCUS 1.2 columns (FinOps Open Cost and Usage Specification):
 * one row per application × traffic class × month (a row per tier where internet egress spans tiers),
 * Kiln's own dimensions in x_ columns as the specification's extension rule asks. */
import { stringify } from 'csv-stringify/sync';
import { monthRange, type CostRow } from './cost.js';

export interface ReportContext {
  provider: string;
  accountId: string;
  host: string;
  /** the zone (by name) of the host whose traffic the rows are: AvailabilityZone */
  zone?: string;
}

/** FOCUS columns first (alphabetical, as the specification lists them), then the x_ extensions. */
export const FOCUS_COLUMNS = [
  'AvailabilityZone',
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingAccountType',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'CapacityReservationId',
  'CapacityReservationStatus',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'CommitmentDiscountCategory',
  'CommitmentDiscountId',
  'CommitmentDiscountName',
  'CommitmentDiscountQuantity',
  'CommitmentDiscountStatus',
  'CommitmentDiscountType',
  'CommitmentDiscountUnit',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ContractedCost',
  'ContractedUnitPrice',
  'EffectiveCost',
  'InvoiceId',
  'InvoiceIssuerName',
  'ListCost',
  'ListUnitPrice',
  'PricingCategory',
  'PricingCurrency',
  'PricingCurrencyContractedUnitPrice',
  'PricingCurrencyEffectiveCost',
  'PricingCurrencyListUnitPrice',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'RegionId',
  'RegionName',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'ServiceCategory',
  'ServiceName',
  'ServiceSubcategory',
  'SkuId',
  'SkuMeter',
  'SkuPriceDetails',
  'SkuPriceId',
  'SubAccountId',
  'SubAccountName',
  'SubAccountType',
  'Tags',
  'x_TrafficClass',
  'x_Charge',
  'x_Direction',
  'x_Peers',
  'x_BytesSent',
  'x_BytesReceived',
  'x_BilledBytes',
  'x_Tier',
  'x_PriceSource',
  'x_Host',
] as const;

export type FocusRow = Record<(typeof FOCUS_COLUMNS)[number], string | number | null>;

/** The service each cloud bills VM data transfer under, and NAT gateway data processing. */
const SERVICE_NAMES: Record<string, string> = { aws: 'AWS Data Transfer', gcp: 'Compute Engine', azure: 'Bandwidth' };
const NAT_SERVICE_NAMES: Record<string, string> = { aws: 'Amazon Virtual Private Cloud', gcp: 'Networking', azure: 'NAT Gateway' };
const PROVIDER_NAMES: Record<string, string> = { aws: 'AWS', gcp: 'Google Cloud', azure: 'Microsoft', other: 'Unknown' };
const CLASS_TEXT: Record<string, string> = {
  'same-host': 'same-host traffic',
  'same-zone': 'same-zone data transfer',
  'cross-az': 'cross-AZ data transfer (billed in and out)',
  'cross-region': 'inter-region data transfer out',
  internet: 'internet data transfer',
  unknown: 'traffic to private peers of unknown location',
};

/** The meter each class is billed under, in the providers' own words. */
const METER_TEXT: Record<string, string> = {
  'same-host': 'No transfer (same host)',
  'same-zone': 'Intra-zone data transfer',
  'cross-az': 'Inter-zone data transfer',
  'cross-region': 'Inter-region data transfer out',
  internet: 'Data transfer out to the internet',
  unknown: 'Data transfer (peer location unknown)',
};

function monthBounds(month: string): { start: string; end: string } {
  const { from, to } = monthRange(month);
  const iso = (t: number) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
  return { start: iso(from), end: iso(to) };
}

/**
 * @param rows cost rows grouped by app (group.app) for one month
 * @param peers per app and class, its main peers (by bytes), for x_Peers
 */
export function focusRows(rows: CostRow[], ctx: ReportContext, peers: Map<string, string[]> = new Map()): FocusRow[] {
  return rows.map((r) => {
    const app = String(r.group.app ?? '');
    const { start, end } = monthBounds(r.month);
    const units = r.billed_bytes / r.pricing_unit_bytes;
    const cost = r.cost_usd;
    const nat = r.charge === 'nat-gateway-processing';
    return {
      AvailabilityZone: ctx.zone ?? null,
      BilledCost: cost,
      BillingAccountId: ctx.accountId,
      BillingAccountName: null,
      // what Kiln cannot know from a host: the account's kind, invoices, reservations, commitments
      // (none applies to data transfer); the columns are there, null, as the specification allows
      BillingAccountType: null,
      BillingCurrency: 'USD',
      BillingPeriodEnd: end,
      BillingPeriodStart: start,
      CapacityReservationId: null,
      CapacityReservationStatus: null,
      ChargeCategory: 'Usage',
      ChargeClass: null,
      ChargeDescription: nat ? `NAT gateway data processing of ${app}'s internet traffic, ${r.tier}` : `${CLASS_TEXT[r.class] ?? r.class} of ${app}, ${r.tier}`,
      ChargeFrequency: 'Usage-Based',
      ChargePeriodEnd: end,
      ChargePeriodStart: start,
      CommitmentDiscountCategory: null,
      CommitmentDiscountId: null,
      CommitmentDiscountName: null,
      CommitmentDiscountQuantity: null,
      CommitmentDiscountStatus: null,
      CommitmentDiscountType: null,
      CommitmentDiscountUnit: null,
      ConsumedQuantity: units,
      ConsumedUnit: r.pricing_unit,
      ContractedCost: cost,
      ContractedUnitPrice: r.unit_price_usd,
      EffectiveCost: cost,
      InvoiceId: null,
      InvoiceIssuerName: PROVIDER_NAMES[ctx.provider] ?? ctx.provider,
      ListCost: cost,
      ListUnitPrice: r.unit_price_usd,
      PricingCategory: 'Standard',
      // list prices are in USD: the pricing currency is the billing currency
      PricingCurrency: 'USD',
      PricingCurrencyContractedUnitPrice: r.unit_price_usd,
      PricingCurrencyEffectiveCost: cost,
      PricingCurrencyListUnitPrice: r.unit_price_usd,
      PricingQuantity: units,
      PricingUnit: r.pricing_unit,
      ProviderName: PROVIDER_NAMES[ctx.provider] ?? ctx.provider,
      PublisherName: PROVIDER_NAMES[ctx.provider] ?? ctx.provider,
      RegionId: r.region || null,
      RegionName: r.region || null,
      ResourceId: app,
      ResourceName: app,
      ResourceType: 'Application',
      ServiceCategory: 'Networking',
      ServiceName: nat ? (NAT_SERVICE_NAMES[ctx.provider] ?? 'NAT Gateway') : (SERVICE_NAMES[ctx.provider] ?? 'Data Transfer'),
      ServiceSubcategory: 'Network Connectivity',
      SkuId: null,
      SkuMeter: nat ? 'NAT Gateway data processed' : METER_TEXT[r.class] ?? r.class,
      SkuPriceDetails: JSON.stringify({ x_TrafficClass: r.class, x_Tier: r.tier, x_BilledDirection: r.billed_direction }),
      SkuPriceId: null,
      SubAccountId: null,
      SubAccountName: null,
      SubAccountType: null,
      Tags: JSON.stringify({ 'kiln/app': app, 'kiln/traffic-class': r.class, 'kiln/charge': r.charge }),
      x_TrafficClass: r.class,
      x_Charge: r.charge,
      x_Direction: r.billed_direction,
      x_Peers: (peers.get(`${app}\0${r.class}`) ?? []).join(' '),
      x_BytesSent: r.bytes_sent,
      x_BytesReceived: r.bytes_received,
      x_BilledBytes: r.billed_bytes,
      x_Tier: r.tier,
      x_PriceSource: r.price_source,
      x_Host: ctx.host,
    };
  });
}

export function focusCsv(rows: FocusRow[]): string {
  return stringify(rows, { header: true, columns: [...FOCUS_COLUMNS], cast: { number: (n) => String(n) } });
}
