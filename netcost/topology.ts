/* Where hosts are: the zones file (`--zones FILE`, YAML or JSON, the format in README.md "Network cost") parsed and validated
 * into regions, zones (name and zone id) with their CIDRs, internet CIDRs, named services, and the
 * private CIDRs that reach the internet through a NAT gateway. */
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const cidr = z.string().refine((s) => {
  try {
    ipaddr.parseCIDR(s);
    return true;
  } catch {
    return false;
  }
}, 'not a CIDR (e.g. 10.0.1.0/24 or 2001:db8::/64)');

const zoneSchema = z.object({
  name: z.string().min(1),
  id: z
    .string({ error: 'a zone needs its zone id (e.g. use1-az1): names differ between accounts, ids do not' })
    .min(1, 'a zone needs its zone id (e.g. use1-az1): names differ between accounts, ids do not'),
  cidrs: z.array(cidr).default([]),
});

const zonesFileSchema = z.object({
  provider: z.enum(['aws', 'gcp', 'azure', 'other']).default('other'),
  /** the billing account (AWS account id, GCP project, Azure subscription) for reports */
  account: z.union([z.string(), z.number()]).transform(String).optional(),
  regions: z.array(z.object({ name: z.string().min(1), zones: z.array(zoneSchema).default([]) })).default([]),
  internet: z.array(cidr).default([]),
  services: z
    .array(z.object({ name: z.string().min(1), cidrs: z.array(cidr).min(1), class: z.enum(['internet']).optional() }))
    .default([]),
  /** local subnets whose outbound internet connections leave through a NAT gateway (billed per GB
   *  processed, both directions, on top of data transfer) */
  nat: z.array(cidr).default([]),
});

export type ZonesFile = z.output<typeof zonesFileSchema>;

export interface Zone {
  name: string;
  id: string;
  region: string;
}

export interface Topology {
  provider: ZonesFile['provider'];
  account?: string;
  zones: (Zone & { cidrs: string[] })[];
  internet: string[];
  services: ZonesFile['services'];
  nat: string[];
}

/** Parses a zones file (YAML, of which JSON is a subset); throws an Error naming every problem. */
export function parseZonesFile(text: string, source = 'zones file'): Topology {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new Error(`${source}: not YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = zonesFileSchema.safeParse(raw ?? {});
  if (!r.success) throw new Error(`${source}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  const ids = new Map<string, string>();
  for (const region of r.data.regions) {
    for (const zone of region.zones) {
      const prev = ids.get(zone.id);
      if (prev !== undefined && prev !== region.name) throw new Error(`${source}: zone id ${zone.id} is listed in regions ${prev} and ${region.name}`);
      ids.set(zone.id, region.name);
    }
  }
  return {
    provider: r.data.provider,
    ...(r.data.account === undefined ? {} : { account: r.data.account }),
    zones: r.data.regions.flatMap((region) => region.zones.map((z) => ({ name: z.name, id: z.id, region: region.name, cidrs: z.cidrs }))),
    internet: r.data.internet,
    services: r.data.services,
    nat: r.data.nat,
  };
}

export function loadZonesFile(path: string): Topology {
  return parseZonesFile(readFileSync(path, 'utf8'), path);
}
