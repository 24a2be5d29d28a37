/* Traffic classes of flows: same host, same zone, cross-AZ, cross-region, internet, or unknown private,
 * decided by the zones of both ends (zone ids, not names). The most specific CIDR wins where CIDRs
 * overlap, whatever declared it (a zone, the internet list, a service). IPv4, IPv6 and IPv4-mapped IPv6. */
import ipaddr from 'ipaddr.js';
import { LRUCache } from 'lru-cache';
import type { Topology, Zone } from './topology.js';

export type TrafficClass = 'same-host' | 'same-zone' | 'cross-az' | 'cross-region' | 'internet' | 'unknown';

export interface Location {
  zone: Zone | null;
  /** a named service the address belongs to (zones file `services`) */
  service: string | null;
  /** in an internet CIDR, a service marked internet, or a public address outside every zone */
  internet: boolean;
  /** in a CIDR the zones file declares internet (its `internet` list or a service marked so) */
  declaredInternet: boolean;
}

export interface Classification {
  class: TrafficClass;
  local: Location;
  remote: Location;
}

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

interface Entry {
  net: [Addr, number];
  kind: 'zone' | 'internet' | 'service';
  zone?: Zone;
  service?: string;
  serviceInternet?: boolean;
}

/** Ranges that never leave a private network; everything else outside the zones is the internet. */
const PRIVATE_RANGES = new Set(['private', 'loopback', 'linkLocal', 'uniqueLocal', 'carrierGradeNat', 'unspecified', 'broadcast', 'multicast']);

/** Parses an address; IPv4-mapped IPv6 (::ffff:a.b.c.d, as dual-stack sockets report) becomes IPv4. */
export function parseAddress(text: string): Addr {
  return ipaddr.process(text);
}

function inCidr(addr: Addr, net: [Addr, number]): boolean {
  return addr.kind() === net[0].kind() && addr.match(net as never);
}

export class Classifier {
  readonly #entries: Entry[] = [];
  readonly #hostAddresses: Set<string>;
  readonly #cache = new LRUCache<string, Location>({ max: 65536 });
  readonly #nat: [Addr, number][];

  /**
   * @param hostAddresses this host's own addresses: a peer among them is the same host
   * @param hostZone where this host is when its own addresses are in no zone (e.g. from cloud metadata)
   */
  constructor(
    readonly topology: Topology,
    hostAddresses: string[] = [],
    readonly hostZone: Zone | null = null,
  ) {
    for (const z of topology.zones) for (const c of z.cidrs) this.#entries.push({ net: ipaddr.parseCIDR(c), kind: 'zone', zone: { name: z.name, id: z.id, region: z.region } });
    for (const c of topology.internet) this.#entries.push({ net: ipaddr.parseCIDR(c), kind: 'internet' });
    for (const s of topology.services) for (const c of s.cidrs) this.#entries.push({ net: ipaddr.parseCIDR(c), kind: 'service', service: s.name, serviceInternet: s.class === 'internet' });
    // most specific first; lookups take the first match
    this.#entries.sort((a, b) => b.net[1] - a.net[1]);
    this.#hostAddresses = new Set(hostAddresses.map((a) => parseAddress(a).toString()));
    this.#nat = (topology.nat ?? []).map((c) => ipaddr.parseCIDR(c));
  }

  /** Whether a connection from this local address to the internet leaves through a NAT gateway (the
   *  zones file's `nat` subnets). */
  viaNat(localAddress: string): boolean {
    if (this.#nat.length === 0) return false;
    const addr = parseAddress(localAddress);
    return this.#nat.some((n) => inCidr(addr, n));
  }

  locate(address: string): Location {
    const hit = this.#cache.get(address);
    if (hit) return hit;
    const addr = parseAddress(address);
    const entry = this.#entries.find((e) => inCidr(addr, e.net));
    let loc: Location;
    if (!entry) loc = { zone: null, service: null, internet: !PRIVATE_RANGES.has(addr.range()), declaredInternet: false };
    else if (entry.kind === 'zone') loc = { zone: entry.zone!, service: null, internet: false, declaredInternet: false };
    else if (entry.kind === 'internet') loc = { zone: null, service: null, internet: true, declaredInternet: true };
    else loc = { zone: null, service: entry.service!, internet: entry.serviceInternet === true, declaredInternet: entry.serviceInternet === true };
    this.#cache.set(address, loc);
    return loc;
  }

  /** Whether the address lies in a CIDR the zones file declares as internet (its `internet` list, or a
   *  service marked internet): a socket bound there is the outside world, not an application. */
  isDeclaredInternet(address: string): boolean {
    return this.locate(address).declaredInternet;
  }

  /** Classifies a flow from its two addresses as this host sees them. */
  classify(localAddress: string, remoteAddress: string): Classification {
    const remoteAddr = parseAddress(remoteAddress);
    const local = this.locate(localAddress);
    const remote = this.locate(remoteAddress);
    const localZone = local.zone ?? this.hostZone;
    const at = (cls: TrafficClass): Classification => ({ class: cls, local: { ...local, zone: localZone }, remote });
    if (remoteAddr.range() === 'loopback' || this.#hostAddresses.has(remoteAddr.toString()) || remoteAddr.toString() === parseAddress(localAddress).toString()) return at('same-host');
    if (remote.internet) return at('internet');
    if (remote.zone && localZone) {
      if (remote.zone.id === localZone.id) return at('same-zone');
      if (remote.zone.region === localZone.region) return at('cross-az');
      return at('cross-region');
    }
    return at('unknown');
  }
}
