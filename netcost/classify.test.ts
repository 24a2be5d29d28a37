import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Classifier, parseAddress } from './classify.js';
import { parseZonesFile } from './topology.js';

const YAML = `
provider: aws
regions:
  - name: us-east-1
    zones:
      - { name: us-east-1a, id: use1-az1, cidrs: [10.77.1.0/24, "fd00:77:1::/48"] }
      - { name: us-east-1b, id: use1-az2, cidrs: [10.77.2.0/24, "fd00:77:2::/48"] }
      - { name: us-east-1c, id: use1-az3, cidrs: [10.77.0.0/16] }
  - name: eu-west-1
    zones:
      - { name: eu-west-1a, id: euw1-az1, cidrs: [10.88.1.0/24, "fd00:88:1::/48"] }
internet: [203.0.113.0/24, 10.77.3.128/25]
services:
  - { name: nat-gateway, cidrs: [10.77.1.250/32] }
  - { name: partner-api, cidrs: [198.51.100.64/26], class: internet }
nat: [10.77.1.0/25, "fd00:77:1::/64"]
`;

describe('traffic classification', () => {
  const topo = parseZonesFile(YAML);
  const c = new Classifier(topo, ['10.77.1.10', 'fd00:77:1::10']);
  const cls = (l: string, r: string) => c.classify(l, r).class;

  it('same host: loopback, our own addresses, the same address', () => {
    assert.equal(cls('127.0.0.1', '127.0.0.1'), 'same-host');
    assert.equal(cls('10.77.1.10', '10.77.1.10'), 'same-host');
    assert.equal(cls('10.77.1.11', '10.77.1.10'), 'same-host', 'another local address of this host');
    assert.equal(cls('::1', '::1'), 'same-host');
    assert.equal(cls('fd00:77:1::10', 'fd00:77:1::10'), 'same-host');
  });

  it('same zone, cross-AZ and cross-region, by zone id', () => {
    assert.equal(cls('10.77.1.10', '10.77.1.20'), 'same-zone');
    assert.equal(cls('10.77.1.10', '10.77.2.20'), 'cross-az');
    assert.equal(cls('10.77.1.10', '10.88.1.20'), 'cross-region');
    const r = c.classify('10.77.1.10', '10.88.1.20');
    assert.deepEqual([r.local.zone?.id, r.remote.zone?.id, r.remote.zone?.region], ['use1-az1', 'euw1-az1', 'eu-west-1']);
  });

  it('the same for IPv6 and for IPv4-mapped IPv6 addresses', () => {
    assert.equal(cls('fd00:77:1::10', 'fd00:77:1::99'), 'same-zone');
    assert.equal(cls('fd00:77:1::10', 'fd00:77:2::99'), 'cross-az');
    assert.equal(cls('fd00:77:1::10', 'fd00:88:1::99'), 'cross-region');
    assert.equal(cls('::ffff:10.77.1.10', '::ffff:10.77.2.20'), 'cross-az');
    assert.equal(parseAddress('::ffff:10.0.0.1').kind(), 'ipv4');
  });

  it('internet: internet CIDRs, internet services, public addresses outside every zone', () => {
    assert.equal(cls('10.77.1.10', '203.0.113.7'), 'internet');
    assert.equal(cls('10.77.1.10', '198.51.100.70'), 'internet', 'a service marked internet');
    assert.equal(c.classify('10.77.1.10', '198.51.100.70').remote.service, 'partner-api');
    assert.equal(cls('10.77.1.10', '8.8.8.8'), 'internet');
    assert.equal(cls('10.77.1.10', '192.0.2.1'), 'internet', 'TEST-NET-1 stands for the internet in tests');
    assert.equal(cls('fd00:77:1::10', '2001:db8::1'), 'internet');
    assert.equal(cls('fd00:77:1::10', '2a00:1450::1'), 'internet');
  });

  it('unknown: private addresses in no zone, or our own zone unknown', () => {
    assert.equal(cls('10.77.1.10', '172.16.5.5'), 'unknown');
    assert.equal(cls('10.77.1.10', '100.64.1.1'), 'unknown', 'carrier-grade NAT is private');
    assert.equal(cls('fd00:77:1::10', 'fd00:99::1'), 'unknown');
    assert.equal(cls('192.168.1.5', '10.77.2.20'), 'unknown', 'this end in no zone and no host zone');
    const located = new Classifier(topo, [], { name: 'us-east-1a', id: 'use1-az1', region: 'us-east-1' });
    assert.equal(located.classify('192.168.1.5', '10.77.2.20').class, 'cross-az', 'host zone from metadata');
  });

  it('overlapping CIDRs: the most specific wins, whoever declared it', () => {
    // 10.77.0.0/16 is us-east-1c, but 10.77.1.0/24 is us-east-1a and 10.77.3.128/25 is internet
    assert.equal(c.locate('10.77.1.5').zone?.id, 'use1-az1');
    assert.equal(c.locate('10.77.9.5').zone?.id, 'use1-az3');
    assert.equal(cls('10.77.1.10', '10.77.9.5'), 'cross-az');
    assert.equal(cls('10.77.1.10', '10.77.3.200'), 'internet');
    assert.equal(cls('10.77.1.10', '10.77.3.100'), 'cross-az', 'outside the /25 carve-out');
    // a /32 service inside a zone's /24
    assert.equal(c.locate('10.77.1.250').service, 'nat-gateway');
  });

  it('compares zone ids, not names: one name may be two zones in two accounts', () => {
    const t = parseZonesFile(`
regions:
  - name: r1
    zones:
      - { name: zone-a, id: id-1, cidrs: [10.1.0.0/24] }
      - { name: zone-a, id: id-2, cidrs: [10.2.0.0/24] }
`);
    assert.equal(new Classifier(t).classify('10.1.0.1', '10.2.0.1').class, 'cross-az');
  });
});

describe('NAT gateway subnets', () => {
  const c = new Classifier(parseZonesFile(YAML));
  it('marks local addresses in the nat CIDRs, IPv4 and IPv6, and nothing else', () => {
    assert.equal(c.viaNat('10.77.1.10'), true);
    assert.equal(c.viaNat('10.77.1.200'), false, 'the other half of the zone has its own route');
    assert.equal(c.viaNat('fd00:77:1::10'), true);
    assert.equal(c.viaNat('fd00:77:1:1::10'), false);
    assert.equal(c.viaNat('10.77.2.10'), false);
    assert.equal(new Classifier(parseZonesFile('{}')).viaNat('10.77.1.10'), false, 'no nat list: no NAT');
  });

  it('rejects a nat entry that is not a CIDR', () => {
    assert.throws(() => parseZonesFile('nat: [10.77.1.0/40]', 'zones.yaml'), /zones.yaml: nat.0: not a CIDR/);
  });
});

describe('zones file', () => {
  it('reads YAML and JSON alike', () => {
    const json = parseZonesFile(JSON.stringify({ provider: 'gcp', regions: [{ name: 'us-central1', zones: [{ name: 'us-central1-a', id: 'us-central1-a', cidrs: ['10.0.0.0/20'] }] }] }));
    assert.equal(json.provider, 'gcp');
    assert.deepEqual(json.zones[0], { name: 'us-central1-a', id: 'us-central1-a', region: 'us-central1', cidrs: ['10.0.0.0/20'] });
  });

  it('says what is wrong, with the path', () => {
    assert.throws(() => parseZonesFile('regions: [{ name: r, zones: [{ name: z, cidrs: [10.0.0.0/33] }] }]', 'zones.yaml'), /zones.yaml: regions.0.zones.0.id: .*zone id.*; regions.0.zones.0.cidrs.0: not a CIDR/);
    assert.throws(() => parseZonesFile('provider: moon'), /provider/);
    assert.throws(() => parseZonesFile('regions: [ {'), /not YAML or JSON/);
    assert.throws(
      () => parseZonesFile('regions: [{ name: a, zones: [{ name: z, id: x }] }, { name: b, zones: [{ name: z, id: x }] }]'),
      /zone id x is listed in regions a and b/,
    );
  });
});
