/* Test topology: network namespaces as hosts, joined by a router namespace (its own bridge and IP
 * forwarding, so the root namespace's routing and sysctls stay untouched). Traffic stays inside. */
import { execFileSync } from 'node:child_process';
import { randomHex } from './testkit.js';

export interface NetHost {
  ns: string;
  address: string;
  prefix: number;
  gateway: string;
}

export class TestNet {
  readonly id = randomHex(3);
  readonly router = `kiln-rt-${this.id}`;
  readonly hosts = new Map<string, NetHost>();
  readonly #links: string[] = [];
  readonly #gateways = new Set<string>();

  constructor() {
    ip('netns', 'add', this.router);
    inNs(this.router, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs(this.router, 'ip', 'link', 'set', 'br0', 'up');
    inNs(this.router, 'ip', 'link', 'set', 'lo', 'up');
    // /proc/sys/net is per network namespace: this turns forwarding on in the router only
    inNs(this.router, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward');
  }

  /** A host namespace `name` with address/prefix, routed through `gateway` (added to the router once). */
  addHost(name: string, address: string, prefix: number, gateway: string): NetHost {
    const ns = `kiln-${name}-${this.id}`;
    const n = this.hosts.size;
    const inside = `kh${n}${this.id}`.slice(0, 15);
    const outside = `kr${n}${this.id}`.slice(0, 15);
    ip('netns', 'add', ns);
    ip('link', 'add', inside, 'type', 'veth', 'peer', 'name', outside);
    ip('link', 'set', inside, 'netns', ns);
    ip('link', 'set', outside, 'netns', this.router);
    inNs(this.router, 'ip', 'link', 'set', outside, 'master', 'br0');
    inNs(this.router, 'ip', 'link', 'set', outside, 'up');
    if (!this.#gateways.has(gateway)) {
      inNs(this.router, 'ip', 'addr', 'add', `${gateway}/${prefix}`, 'dev', 'br0');
      this.#gateways.add(gateway);
    }
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'ip', 'addr', 'add', `${address}/${prefix}`, 'dev', inside);
    inNs(ns, 'ip', 'link', 'set', inside, 'up');
    inNs(ns, 'ip', 'route', 'add', 'default', 'via', gateway);
    const h = { ns, address, prefix, gateway };
    this.hosts.set(name, h);
    this.#links.push(inside);
    return h;
  }

  /**
   * Reaches `address` of host `name` from the root namespace through a veth of its own: a /32 route
   * for that one address (used for the fake metadata service at 169.254.169.254). Removed by destroy().
   */
  exposeToRoot(name: string, address: string, rootSide: string): void {
    const h = this.hosts.get(name)!;
    const root = `kx${this.id}`.slice(0, 15);
    const other = `ky${this.id}`.slice(0, 15);
    ip('link', 'add', root, 'type', 'veth', 'peer', 'name', other);
    ip('link', 'set', other, 'netns', h.ns);
    ip('addr', 'add', `${rootSide}/32`, 'dev', root);
    ip('link', 'set', root, 'up');
    ip('route', 'add', `${address}/32`, 'dev', root, 'src', rootSide);
    inNs(h.ns, 'ip', 'addr', 'add', `${address}/32`, 'dev', other);
    inNs(h.ns, 'ip', 'link', 'set', other, 'up');
    inNs(h.ns, 'ip', 'route', 'add', `${rootSide}/32`, 'dev', other);
    this.#rootLink = root;
  }

  #rootLink: string | undefined;

  /** Command prefix running a program inside host `name`. */
  exec(name: string, cmd: string, args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.hosts.get(name)!.ns, cmd, ...args]];
  }

  destroy(): void {
    if (this.#rootLink) tryIp('link', 'del', this.#rootLink);
    for (const h of this.hosts.values()) tryIp('netns', 'del', h.ns);
    tryIp('netns', 'del', this.router);
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function tryIp(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // already gone
  }
}

function inNs(ns: string, cmd: string, ...args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'pipe' });
}
