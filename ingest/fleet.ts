/* What the server knows across hosts (ARCHITECTURE.md "Many hosts"): every host as its agent registered
 * it (addresses, zone, region), and which application listens on, or connects from, which address and
 * port, learned from the flows each host reports. A flow from host A to an address of host B is then
 * classified with B's zone and gets B's application as its peer, which one agent alone cannot know. */
import { LRUCache } from 'lru-cache';
import type { FlowRow, FlowWindow } from '../netcost/flows.js';
import type { TrafficClass } from '../netcost/classify.js';
import type { Store } from '../store/store.js';
import { FLEET_HOSTS } from '../store/tables/ingest.js';
import type { RowOf } from '../store/sql.js';
import type { HostInfo } from './codec.js';

export interface FleetHost extends HostInfo {
  agentId: string;
  lastSeenMs: number;
}

/** Bounds: hosts of a large fleet, and endpoints (address, port) with their application. */
const MAX_HOSTS = 100_000;
const MAX_ENDPOINTS = 500_000;

export class Fleet {
  readonly #hosts = new LRUCache<string, FleetHost>({ max: MAX_HOSTS });
  readonly #byAddress = new LRUCache<string, string>({ max: MAX_HOSTS * 8 });
  /** `s|addr|port` → the app listening there; `c|addr|port|serverAddr` → the app connecting from addr */
  readonly #endpoints = new LRUCache<string, string>({ max: MAX_ENDPOINTS });
  #peersNamed = 0;
  #rowsReclassified = 0;

  constructor(private readonly store: Store) {}

  /** Hosts registered before a restart. */
  async load(): Promise<void> {
    const rows = await this.store.query<RowOf<typeof FLEET_HOSTS.columns>>(`SELECT * FROM ${FLEET_HOSTS.name} FINAL`);
    for (const r of rows)
      this.#put({
        name: String(r.host),
        agentId: String(r.agent_id),
        addresses: r.addresses as string[],
        zone: String(r.zone),
        zoneId: String(r.zone_id),
        region: String(r.region),
        provider: String(r.provider),
        agentVersion: String(r.agent_version),
        lastSeenMs: Date.parse(`${String(r.last_seen).replace(' ', 'T')}Z`),
      });
  }

  #put(h: FleetHost): void {
    this.#hosts.set(h.name, h);
    for (const a of h.addresses) this.#byAddress.set(a, h.name);
  }

  /** Registers (or refreshes) a host; the row to store when something about it changed. */
  register(agentId: string, info: HostInfo): RowOf<typeof FLEET_HOSTS.columns> | null {
    const old = this.#hosts.get(info.name);
    const now = Date.now();
    const same =
      old &&
      old.agentId === agentId &&
      old.zone === info.zone &&
      old.region === info.region &&
      old.zoneId === info.zoneId &&
      old.addresses.join() === info.addresses.join() &&
      now - old.lastSeenMs < 3600_000;
    if (old && same) {
      old.lastSeenMs = now;
      return null;
    }
    if (old) for (const a of old.addresses) if (this.#byAddress.get(a) === old.name) this.#byAddress.delete(a);
    this.#put({ ...info, agentId, lastSeenMs: now });
    return {
      host: info.name,
      agent_id: agentId,
      addresses: info.addresses,
      zone: info.zone,
      zone_id: info.zoneId,
      region: info.region,
      provider: info.provider,
      agent_version: info.agentVersion,
      last_seen: Math.floor(now / 1000),
    };
  }

  /** Drops a host whose registration could not be stored (registered again by its next push). */
  forget(name: string): void {
    const h = this.#hosts.get(name);
    if (!h) return;
    for (const a of h.addresses) if (this.#byAddress.get(a) === name) this.#byAddress.delete(a);
    this.#hosts.delete(name);
  }

  hosts(): FleetHost[] {
    return [...this.#hosts.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  hostOf(address: string): FleetHost | undefined {
    const name = this.#byAddress.get(address);
    return name === undefined ? undefined : this.#hosts.get(name);
  }

  /** Learns the endpoints a host's flows show (before any flow is enriched, so two hosts' windows in one
   *  group name each other). */
  learn(w: FlowWindow): void {
    for (const r of w.rows) {
      if (!r.app || r.peerAddress === '~other') continue;
      if (r.direction === 'inbound') this.#endpoints.set(`s|${r.localAddress}|${r.port}`, r.app);
      else if (r.direction === 'outbound') this.#endpoints.set(`c|${r.localAddress}|${r.port}|${r.peerAddress}`, r.app);
    }
  }

  /** The class between two registered places. */
  static classBetween(a: { zone: string; region: string }, b: { zone: string; region: string }): TrafficClass | null {
    if (!a.zone || !b.zone) return null;
    if (a.zone === b.zone) return 'same-zone';
    if (a.region && b.region && a.region !== b.region) return 'cross-region';
    return 'cross-az';
  }

  /** A host's flows with what other hosts told: the peer host's zone and class, the peer's app. */
  enrich(host: string, w: FlowWindow): FlowWindow {
    const self = this.#hosts.get(host);
    if (!self) return w;
    const rows = w.rows.map((r): FlowRow => {
      const peer = this.hostOf(r.peerAddress);
      if (!peer || peer.name === host || r.class === 'same-host') return r;
      let out = r;
      const cls = Fleet.classBetween({ zone: self.zoneId || self.zone, region: self.region }, { zone: peer.zoneId || peer.zone, region: peer.region });
      if (cls && (cls !== r.class || r.peerZone !== (peer.zoneId || peer.zone))) {
        // zones by id in flow rows, as an agent's own classification writes them (use1-az2, not us-east-1b)
        out = { ...out, class: cls, peerZone: peer.zoneId || peer.zone, localZone: r.localZone || self.zoneId || self.zone, region: r.region || self.region };
        this.#rowsReclassified++;
      }
      if (!r.peerApp) {
        const app = r.direction === 'outbound' ? this.#endpoints.get(`s|${r.peerAddress}|${r.port}`) : r.direction === 'inbound' ? this.#endpoints.get(`c|${r.peerAddress}|${r.port}|${r.localAddress}`) : undefined;
        if (app) {
          out = { ...out, peerApp: app };
          this.#peersNamed++;
        }
      }
      return out;
    });
    return { ...w, rows };
  }

  stats(): { hosts: number; endpoints: number; peersNamed: number; rowsReclassified: number } {
    return { hosts: this.#hosts.size, endpoints: this.#endpoints.size, peersNamed: this.#peersNamed, rowsReclassified: this.#rowsReclassified };
  }
}
