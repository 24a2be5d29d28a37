import assert from 'node:assert/strict';
import { test } from 'node:test';
import { priceEgress, summarize, type EgressFlow } from './egress-cost.js';
import { priceUsage, type UsageRow } from './cost.js';
import { join } from 'node:path';
import { BUNDLED_PRICING_DIR, loadSnapshot } from './pricing.js';
import type { EgressStackRow } from '../store/tables/profiles.js';

const GiB = 2 ** 30;
const row = (fn: string, peer: string, points: number, host = 'h1'): EgressStackRow => ({
  functions: ['main', fn],
  addresses: ['1', '2'],
  mapping_ids: ['0', '0'],
  host,
  container_id: '',
  pid: 1,
  exe: '/x',
  cmdline: 'x',
  peer_address: peer,
  peer_port: 443,
  points,
  estimated_bytes: points * 2 ** 20,
});
const usage = (peer: string, cls: UsageRow['class'], sent: number, received: number, natBytes = 0): UsageRow => ({ month: '2026-12', region: 'us-east-1', class: cls, group: { app: 'api', direction: 'outbound', peer_address: peer, port: 443, peer_app: '' }, bytesSent: sent, bytesReceived: received, natBytes });

test("scales each peer's points to its exact bytes and prices sent bytes like the cost rows", () => {
  const snap = loadSnapshot(join(BUNDLED_PRICING_DIR, 'snapshot-aws.json'));
  const flows: EgressFlow[] = [
    { host: 'h1', peer_address: '10.0.2.5', class: 'cross-az', peer_app: 'db', via_nat: false, bytes_sent: 10 * GiB },
    { host: 'h1', peer_address: '203.0.113.9', class: 'internet', peer_app: '', via_nat: true, bytes_sent: 4 * GiB },
  ];
  const costRows = priceUsage([usage('10.0.2.5', 'cross-az', 10 * GiB, 2 * GiB), usage('203.0.113.9', 'internet', 4 * GiB, 4 * GiB, 8 * GiB)], { snapshot: snap, egressBefore: new Map() });
  // two paths to the database in a 3:1 split of points, one to the internet, one to a peer never counted
  const stacks = [row('query', '10.0.2.5', 300), row('bulk_load', '10.0.2.5', 100), row('upload', '203.0.113.9', 50), row('ghost', '10.9.9.9', 7)];
  const { stacks: priced, audit } = priceEgress(stacks, flows, costRows);
  const by = new Map(priced.map((s) => [s.functions[1], s]));
  assert.equal(by.get('query')!.bytes, 7.5 * GiB);
  assert.equal(by.get('bulk_load')!.bytes, 2.5 * GiB);
  assert.equal(by.get('upload')!.bytes, 4 * GiB);
  // cross-AZ: billed both ways, the sent part at the unit price
  const xaz = snap!.regions['us-east-1']!['cross-az']!.usd_per_unit;
  assert.ok(Math.abs(by.get('query')!.usd - 7.5 * xaz) < 1e-9);
  assert.equal(by.get('query')!.class, 'cross-az');
  assert.equal(by.get('query')!.peer_app, 'db');
  // internet through a NAT gateway: the egress where the month's tiers stand (the cost row's) plus NAT
  // processing of the sent half of the bytes
  const prices = snap!.regions['us-east-1']!;
  const inetRow = costRows.find((r) => r.class === 'internet' && r.charge === 'data-transfer')!;
  const expectUpload = inetRow.cost_usd + 4 * prices['nat-gateway-processing']!.usd_per_unit;
  assert.ok(prices['nat-gateway-processing']!.usd_per_unit > 0);
  assert.ok(Math.abs(by.get('upload')!.usd - expectUpload) < 1e-9, `${by.get('upload')!.usd} vs ${expectUpload}`);
  assert.equal(by.get('upload')!.via_nat, true);
  // never counted by the TCP collector: its estimate, class unknown, no dollars
  assert.equal(by.get('ghost')!.unmatched, true);
  assert.equal(by.get('ghost')!.class, 'unknown');
  assert.equal(by.get('ghost')!.bytes, 7 * 2 ** 20);
  assert.equal(by.get('ghost')!.usd, 0);

  const all = summarize(priced, audit);
  assert.equal(all.points, 457);
  assert.equal(all.bytes_per_point, 2 ** 20);
  assert.ok(Math.abs(all.relative_error_95 - 1.96 / Math.sqrt(457)) < 1e-12);
  assert.equal(all.unmatched_bytes, 7 * 2 ** 20);
  const cx = all.classes.find((c) => c.class === 'cross-az')!;
  assert.equal(cx.bytes, 10 * GiB);
  assert.equal(cx.unit_price_usd, xaz);
  assert.equal(cx.pricing_unit_bytes, GiB);
  // the class's dollars are the sent part of its cost row exactly
  const costRow = costRows.find((r) => r.class === 'cross-az')!;
  assert.ok(Math.abs(cx.usd - costRow.cost_usd * (10 / 12)) < 1e-9);
});

test('scaling is per host: the same peer seen from two hosts keeps each host\'s bytes', () => {
  const flows: EgressFlow[] = [
    { host: 'h1', peer_address: '10.0.2.5', class: 'cross-az', peer_app: '', via_nat: false, bytes_sent: 1000 },
    { host: 'h2', peer_address: '10.0.2.5', class: 'same-zone', peer_app: '', via_nat: false, bytes_sent: 3000 },
  ];
  const { stacks } = priceEgress([row('a', '10.0.2.5', 10, 'h1'), row('a', '10.0.2.5', 10, 'h2')], flows, []);
  assert.deepEqual(stacks.map((s) => [s.host, s.bytes, s.class]), [['h1', 1000, 'cross-az'], ['h2', 3000, 'same-zone']]);
});
