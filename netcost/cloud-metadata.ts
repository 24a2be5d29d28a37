/* Where this host is, from its cloud's instance metadata service: AWS (IMDSv2 token flow), GCP and Azure,
 * each with a short timeout. `auto` asks only when the machine's DMI data names one of those clouds (as
 * cloud-init's ds-identify does), so a machine elsewhere never sends a packet to 169.254.169.254. */
import { readFileSync } from 'node:fs';

export type CloudProvider = 'aws' | 'gcp' | 'azure';

export interface CloudPlacement {
  provider: CloudProvider;
  region: string;
  /** the zone's name as this account sees it (us-east-1a) */
  zone: string;
  /** the zone's id, the same in every account (use1-az1); what classification compares */
  zoneId: string;
  accountId?: string;
  instanceId?: string;
  /** the instance type (m5.large, n2-standard-4, Standard_D2s_v3): what a CPU-hour costs here */
  instanceType?: string;
}

export const DEFAULT_METADATA_URL = 'http://169.254.169.254';

/** The cloud DMI says this machine runs in, or null (not a cloud VM, or DMI unreadable). */
export function dmiCloud(dmiDir = '/sys/class/dmi/id'): CloudProvider | null {
  const read = (f: string) => {
    try {
      return readFileSync(`${dmiDir}/${f}`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const text = ['sys_vendor', 'product_name', 'bios_vendor', 'board_vendor', 'chassis_asset_tag'].map(read).join('\n');
  if (/Amazon EC2|^Amazon/m.test(text)) return 'aws';
  if (/Google/m.test(text)) return 'gcp';
  if (/Microsoft Corporation/m.test(text) && /7783-7084-3265-9085-8269-3286-77/.test(text)) return 'azure';
  return null;
}

async function fetchText(url: string, init: RequestInit, timeoutMs: number): Promise<string> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

async function aws(base: string, timeoutMs: number): Promise<CloudPlacement> {
  const token = await fetchText(`${base}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } }, timeoutMs);
  const headers = { 'X-aws-ec2-metadata-token': token.trim() };
  const doc = JSON.parse(await fetchText(`${base}/latest/dynamic/instance-identity/document`, { headers }, timeoutMs)) as Record<string, string>;
  const zoneId = (await fetchText(`${base}/latest/meta-data/placement/availability-zone-id`, { headers }, timeoutMs)).trim();
  if (!doc.region || !doc.availabilityZone || !zoneId) throw new Error('AWS metadata without region or zone');
  return { provider: 'aws', region: doc.region, zone: doc.availabilityZone, zoneId, accountId: doc.accountId, instanceId: doc.instanceId, instanceType: doc.instanceType || undefined };
}

async function gcp(base: string, timeoutMs: number): Promise<CloudPlacement> {
  const headers = { 'Metadata-Flavor': 'Google' };
  const r = await fetch(`${base}/computeMetadata/v1/instance/zone`, { headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!r.ok || r.headers.get('metadata-flavor') !== 'Google') throw new Error('not GCP metadata');
  const zone = (await r.text()).trim().split('/').pop() ?? '';
  const m = /^([a-z]+-[a-z]+\d+)-[a-z]$/.exec(zone);
  if (!m) throw new Error(`GCP zone "${zone}" not understood`);
  const project = (await fetchText(`${base}/computeMetadata/v1/project/numeric-project-id`, { headers }, timeoutMs).catch(() => '')).trim();
  // GCP zone names are the same in every project: the name is the id
  return { provider: 'gcp', region: m[1], zone, zoneId: zone, ...(project ? { accountId: project } : {}) };
}

async function azure(base: string, timeoutMs: number): Promise<CloudPlacement> {
  const c = JSON.parse(await fetchText(`${base}/metadata/instance/compute?api-version=2021-02-01`, { headers: { Metadata: 'true' } }, timeoutMs)) as Record<string, string>;
  if (!c.location) throw new Error('Azure metadata without location');
  // logical zones ("1".."3") map to physical ones per subscription: the id is the subscription's view
  const zone = c.zone ? `${c.location}-${c.zone}` : '';
  return { provider: 'azure', region: c.location, zone, zoneId: zone, accountId: c.subscriptionId, instanceId: c.vmId, instanceType: c.vmSize || undefined };
}

const PROBES: Record<CloudProvider, (base: string, timeoutMs: number) => Promise<CloudPlacement>> = { aws, gcp, azure };

/**
 * Asks the metadata service at `baseUrl` as each of `providers` (all three in parallel by default);
 * the first that answers in its own format wins. Null when none does within the timeout.
 */
export async function queryMetadata(baseUrl: string, opts: { timeoutMs?: number; providers?: CloudProvider[] } = {}): Promise<CloudPlacement | null> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const base = baseUrl.replace(/\/+$/, '');
  const tries = (opts.providers ?? (['aws', 'gcp', 'azure'] as CloudProvider[])).map((p) => PROBES[p](base, timeoutMs));
  try {
    return await Promise.any(tries);
  } catch {
    return null;
  }
}

/** `--cloud-metadata` semantics: off; auto (only when DMI names a cloud); or a base URL to ask. */
export async function detectPlacement(setting: string, dmiDir?: string): Promise<CloudPlacement | null> {
  if (setting === 'off') return null;
  if (setting === 'auto') {
    const cloud = dmiCloud(dmiDir);
    return cloud ? queryMetadata(DEFAULT_METADATA_URL, { providers: [cloud] }) : null;
  }
  return queryMetadata(setting);
}
