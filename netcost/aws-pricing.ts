/* `kiln pricing refresh`: AWS data-transfer prices from the Price List API (GetProducts on
 * AWSDataTransfer, every page, tiers from each product's OnDemand priceDimensions), written as a new
 * snapshot in the data directory. Anything going wrong leaves the previous snapshot in place. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PricingClient, paginateGetProducts } from '@aws-sdk/client-pricing';
import { dmiCloud } from './cloud-metadata.js';
import { currentSnapshot, refreshedSnapshotPath, snapshotSchema, type PriceSnapshot } from './pricing.js';
import { currentInstancePrices, refreshedInstancePricesPath, type InstancePriceSnapshot } from '../profiler/cpu-cost.js';

interface PriceDimension {
  unit?: string;
  beginRange?: string;
  endRange?: string;
  pricePerUnit?: { USD?: string };
  description?: string;
}

interface PriceListItem {
  product?: { attributes?: Record<string, string> };
  terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, PriceDimension> }> };
  publicationDate?: string;
}

function dimensions(item: PriceListItem): PriceDimension[] {
  return Object.values(item.terms?.OnDemand ?? {}).flatMap((t) => Object.values(t.priceDimensions ?? {}));
}

const usd = (d: PriceDimension) => Number(d.pricePerUnit?.USD ?? NaN);

/** Turns the AWSDataTransfer products of one source region into the snapshot's region entry. */
export function regionPricesFromPriceList(items: PriceListItem[], previous: PriceSnapshot['regions'][string] | undefined): PriceSnapshot['regions'][string] {
  const of = (pred: (a: Record<string, string>) => boolean) => items.filter((i) => pred(i.product?.attributes ?? {}));
  const flatPrice = (list: PriceListItem[]) => {
    // the most common price among the products (inter-region prices differ by destination)
    const counts = new Map<number, number>();
    for (const d of list.flatMap(dimensions)) if (Number.isFinite(usd(d))) counts.set(usd(d), (counts.get(usd(d)) ?? 0) + 1);
    const best = [...counts].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0];
    return best ? { usd_per_unit: best[0] } : undefined;
  };
  const out: PriceSnapshot['regions'][string] = { ...(previous ?? {}) };
  const intra = flatPrice(of((a) => a.transferType === 'IntraRegion'));
  if (intra) out['cross-az'] = { ...intra, billed: 'egress+ingress', note: 'billed in each direction: both ends pay' };
  const inter = flatPrice(of((a) => a.transferType === 'InterRegion Outbound'));
  if (inter) out['cross-region'] = { ...inter, note: 'most common price over destination regions' };
  const inbound = flatPrice(of((a) => a.transferType === 'AWS Inbound'));
  if (inbound) out['internet-ingress'] = inbound;
  const egress = of((a) => a.transferType === 'AWS Outbound' && (a.toLocation ?? 'External') === 'External').flatMap(dimensions);
  if (egress.length > 0) {
    const sorted = egress.filter((d) => Number.isFinite(usd(d))).sort((a, b) => Number(a.beginRange ?? 0) - Number(b.beginRange ?? 0));
    let free = previous?.['internet-egress']?.free_units_per_month ?? 0;
    const tiers: { name: string; up_to_units: number | null; usd_per_unit: number }[] = [];
    for (const d of sorted) {
      const end = d.endRange === undefined || d.endRange === 'Inf' ? null : Number(d.endRange);
      if (usd(d) === 0 && Number(d.beginRange ?? 0) === 0 && end !== null) {
        free = end; // a zero-priced first band is the free allowance
        continue;
      }
      const begin = Number(d.beginRange ?? 0);
      const name = end === null ? `over ${tb(begin)}` : begin === 0 ? `first ${tb(end)}` : `next ${tb(end - begin)}`;
      tiers.push({ name, up_to_units: end, usd_per_unit: usd(d) });
    }
    if (tiers.length > 0) out['internet-egress'] = { free_units_per_month: free, tiers };
  }
  return out;
}

function tb(gb: number): string {
  return gb % 1024 === 0 ? `${gb / 1024} TB` : `${gb} GB`;
}

export interface RefreshOptions {
  region: string;
  dataDir: string;
  /** a Price List API endpoint other than AWS's (tests: a local server with recorded responses) */
  endpoint?: string;
  now?: Date;
}

/** Every page of GetProducts for one service with TERM_MATCH filters, or why the Price List API did not answer. */
async function getProducts(opts: RefreshOptions, service: string, filters: [string, string][]): Promise<{ items: PriceListItem[]; pages: number } | { error: string }> {
  // the SDK's credential chain ends at the EC2 metadata service: ask it only on an EC2 machine
  if (dmiCloud() !== 'aws') process.env.AWS_EC2_METADATA_DISABLED = 'true';
  // Kiln's stack is Node 20 (README); the SDK's multi-line notice about Node 22 would bury our one-line errors
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // the Price List API lives in us-east-1 (and ap-south-1, eu-central-1), whatever region is priced
  const client = new PricingClient({ region: 'us-east-1', ...(opts.endpoint ? { endpoint: opts.endpoint } : {}), maxAttempts: 2 });
  const items: PriceListItem[] = [];
  let pages = 0;
  try {
    const Filters = filters.map(([Field, Value]) => ({ Type: 'TERM_MATCH' as const, Field, Value }));
    for await (const page of paginateGetProducts({ client, pageSize: 100 }, { ServiceCode: service, FormatVersion: 'aws_v1', Filters })) {
      pages++;
      for (const p of page.PriceList ?? []) items.push(JSON.parse(String(p)) as PriceListItem);
    }
  } catch (e) {
    const err = e as Error & { name?: string };
    return { error: err.name === 'CredentialsProviderError' ? 'no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)' : `the Price List API failed: ${err.name ?? 'Error'}: ${err.message.split('\n')[0]}` };
  } finally {
    client.destroy();
  }
  return { items, pages };
}

/** Fetches, converts and atomically writes the snapshot; returns what it wrote or why it did not. */
export async function refreshAwsSnapshot(opts: RefreshOptions): Promise<{ path: string; summary: string } | { error: string }> {
  const got = await getProducts(opts, 'AWSDataTransfer', [['fromRegionCode', opts.region]]);
  if ('error' in got) return got;
  const { items, pages } = got;
  if (items.length === 0) return { error: `the Price List API returned no AWSDataTransfer products for ${opts.region}` };
  const previous = currentSnapshot('aws', opts.dataDir);
  const date = (opts.now ?? new Date()).toISOString().slice(0, 10);
  const regionPrices = regionPricesFromPriceList(items, previous?.regions[opts.region]);
  const snapshot = {
    snapshot: `aws-${date}-pricelist`,
    date,
    provider: 'aws' as const,
    currency: 'USD' as const,
    source: `AWS Price List API, GetProducts AWSDataTransfer fromRegionCode=${opts.region} (${items.length} products, ${pages} pages)${opts.endpoint ? ` via ${opts.endpoint}` : ''}; NAT gateway processing carried over from ${previous?.snapshot ?? 'nothing'}`,
    pricing_unit: 'GB',
    pricing_unit_bytes: 2 ** 30,
    regions: { ...(previous?.regions ?? {}), [opts.region]: regionPrices },
  };
  const checked = snapshotSchema.safeParse(snapshot);
  if (!checked.success) return { error: `the converted snapshot is invalid: ${checked.error.issues[0].message}` };
  const path = refreshedSnapshotPath(opts.dataDir, 'aws');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(checked.data, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  const e = regionPrices['internet-egress'];
  return { path, summary: `${opts.region}: cross-AZ $${regionPrices['cross-az']?.usd_per_unit}/GB, internet egress ${e ? e.tiers.map((t) => `$${t.usd_per_unit}`).join(' / ') : 'n/a'} per GB, ${items.length} products` };
}

/** EC2 on-demand prices of one region's instance types (Linux, shared tenancy), from GetProducts
 *  AmazonEC2 products: each type's hourly price and its vCPUs. */
export function instancePricesFromPriceList(items: PriceListItem[]): Record<string, { usd_per_hour: number; vcpus: number }> {
  const out: Record<string, { usd_per_hour: number; vcpus: number }> = {};
  for (const i of items) {
    const a = i.product?.attributes ?? {};
    const type = a.instanceType;
    const vcpus = Number(a.vcpu);
    const hourly = dimensions(i).find((d) => (d.unit ?? '').toLowerCase().startsWith('hr') && Number.isFinite(usd(d)) && usd(d) > 0);
    if (!type || !(vcpus > 0) || !hourly) continue;
    out[type] = { usd_per_hour: usd(hourly), vcpus };
  }
  return out;
}

/** Fetches the region's EC2 on-demand prices and writes DATA/pricing/snapshot-aws-ec2.json (the CPU
 *  price of an instance type, profiler/cpu-cost.ts); the previous file stays on any failure. */
export async function refreshAwsInstancePrices(opts: RefreshOptions): Promise<{ path: string; summary: string } | { error: string }> {
  const got = await getProducts(opts, 'AmazonEC2', [
    ['regionCode', opts.region],
    ['operatingSystem', 'Linux'],
    ['tenancy', 'Shared'],
    ['preInstalledSw', 'NA'],
    ['capacitystatus', 'Used'],
  ]);
  if ('error' in got) return got;
  const { items, pages } = got;
  const prices = instancePricesFromPriceList(items);
  const n = Object.keys(prices).length;
  if (n === 0) return { error: `the Price List API returned no priced AmazonEC2 instance types for ${opts.region}` };
  const date = (opts.now ?? new Date()).toISOString().slice(0, 10);
  const previous = currentInstancePrices(opts.dataDir);
  const snapshot: InstancePriceSnapshot = {
    provider: 'aws',
    as_of: date,
    unit: 'USD per instance-hour',
    source: `AWS Price List API, GetProducts AmazonEC2 regionCode=${opts.region} operatingSystem=Linux tenancy=Shared preInstalledSw=NA capacitystatus=Used, On-Demand (${items.length} products, ${pages} pages)${opts.endpoint ? ` via ${opts.endpoint}` : ''}`,
    regions: { ...(previous.regions ?? {}), [opts.region]: prices },
  };
  const path = refreshedInstancePricesPath(opts.dataDir);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(snapshot, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  const m5 = prices['m5.large'];
  return { path, summary: `${opts.region}: ${n} instance types${m5 ? `, m5.large $${m5.usd_per_hour}/h over ${m5.vcpus} vCPUs` : ''}` };
}
