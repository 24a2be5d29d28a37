/* `kiln pricing refresh` against a local Price List endpoint serving GetProducts pages, through the
 * real @aws-sdk/client-pricing (SigV4 signing, AWS JSON 1.1, pagination); and its failures. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort, repoRoot, tempDir } from '../testing/testkit.js';
import { loadSnapshot, refreshedSnapshotPath } from './pricing.js';
import { currentInstancePrices, instanceCpuPrice } from '../profiler/cpu-cost.js';

const run = promisify(execFile);
const recorded = JSON.parse(readFileSync(join(repoRoot, 'netcost/testdata/pricelist-aws-us-east-1.json'), 'utf8')) as { pages: unknown[] };

/** AmazonEC2 products as GetProducts returns them: each a JSON string with attributes and On-Demand terms. */
function ec2Product(instanceType: string, vcpu: number, usdPerHour: string): string {
  const sku = `SKU${instanceType.replace(/\W/g, '')}`;
  return JSON.stringify({
    product: { productFamily: 'Compute Instance', sku, attributes: { instanceType, vcpu: String(vcpu), operatingSystem: 'Linux', tenancy: 'Shared', regionCode: 'us-east-1' } },
    serviceCode: 'AmazonEC2',
    terms: { OnDemand: { [`${sku}.JRTCKXETXF`]: { priceDimensions: { [`${sku}.JRTCKXETXF.6YS6EN2CT7`]: { unit: 'Hrs', pricePerUnit: { USD: usdPerHour }, description: `$${usdPerHour} per On Demand Linux ${instanceType} Instance Hour` } } } } },
    publicationDate: '2026-11-30T00:00:00Z',
  });
}
const ec2Pages = [
  { FormatVersion: 'aws_v1', PriceList: [ec2Product('m5.large', 2, '0.0960000000'), ec2Product('c7g.xlarge', 4, '0.1450000000')], NextToken: 'ec2-2' },
  { FormatVersion: 'aws_v1', PriceList: [ec2Product('m7i.large', 2, '0.1008000000')] },
];

describe('kiln pricing refresh against a local Price List endpoint', () => {
  let server: Server;
  let endpoint = '';
  const requests: { target: string; auth: string; body: Record<string, unknown> }[] = [];

  before(async () => {
    const port = await freePort();
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const body = JSON.parse(raw || '{}') as Record<string, unknown>;
        requests.push({ target: String(req.headers['x-amz-target']), auth: String(req.headers.authorization ?? ''), body });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        if (body.ServiceCode === 'AmazonEC2') res.end(JSON.stringify(ec2Pages[body.NextToken === 'ec2-2' ? 1 : 0]));
        else res.end(JSON.stringify(recorded.pages[body.NextToken === 'page-2' ? 1 : 0]));
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${port}`;
  });

  after(() => server?.close());

  const kiln = (args: string[], env: NodeJS.ProcessEnv) =>
    run(process.execPath, [join(repoRoot, 'dist/cli.js'), 'pricing', 'refresh', ...args], { env: { PATH: process.env.PATH, ...env } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('fetches every page, converts tiers and writes a dated snapshot', async () => {
    const dataDir = tempDir('pricing');
    const r = await kiln(['--provider', 'aws', '--region', 'us-east-1', '--data-dir', dataDir, '--endpoint', endpoint], {
      HOME: tempDir('home'),
      AWS_ACCESS_KEY_ID: 'AKIDKILNTEST',
      AWS_SECRET_ACCESS_KEY: 'kiln-test-secret',
    });
    assert.equal(r.code, 0, r.stderr);
    const transfer = requests.filter((q) => q.body.ServiceCode === 'AWSDataTransfer');
    assert.equal(transfer.length, 2, 'both pages');
    for (const q of transfer) {
      assert.equal(q.target, 'AWSPriceListService.GetProducts');
      assert.match(q.auth, /^AWS4-HMAC-SHA256 Credential=AKIDKILNTEST\//, 'signed with SigV4');
      assert.equal(q.body.ServiceCode, 'AWSDataTransfer');
      assert.deepEqual(q.body.Filters, [{ Type: 'TERM_MATCH', Field: 'fromRegionCode', Value: 'us-east-1' }]);
    }
    assert.equal(transfer[1].body.NextToken, 'page-2');
    const snap = loadSnapshot(refreshedSnapshotPath(dataDir, 'aws'));
    assert.match(snap.snapshot, /^aws-\d{4}-\d{2}-\d{2}-pricelist$/);
    assert.match(snap.source, /AWS Price List API/);
    const p = snap.regions['us-east-1'];
    assert.equal(p['cross-az']?.usd_per_unit, 0.01);
    assert.equal(p['cross-region']?.usd_per_unit, 0.02);
    assert.equal(p['internet-ingress']?.usd_per_unit, 0);
    assert.equal(p['internet-egress']?.free_units_per_month, 100);
    assert.deepEqual(
      p['internet-egress']?.tiers.map((t) => [t.up_to_units, t.usd_per_unit]),
      [
        [10240, 0.09],
        [51200, 0.085],
        [153600, 0.07],
        [null, 0.05],
      ],
    );
    assert.equal(p['nat-gateway-processing']?.usd_per_unit, 0.045, 'carried over from the bundled snapshot');
    assert.match(r.stdout, /wrote .*snapshot-aws\.json/);

    // and the region's EC2 on-demand prices, every page: what a CPU-hour costs per instance type
    const ec2 = requests.filter((q) => q.body.ServiceCode === 'AmazonEC2');
    assert.equal(ec2.length, 2);
    assert.deepEqual(ec2[0].body.Filters, [
      { Type: 'TERM_MATCH', Field: 'regionCode', Value: 'us-east-1' },
      { Type: 'TERM_MATCH', Field: 'operatingSystem', Value: 'Linux' },
      { Type: 'TERM_MATCH', Field: 'tenancy', Value: 'Shared' },
      { Type: 'TERM_MATCH', Field: 'preInstalledSw', Value: 'NA' },
      { Type: 'TERM_MATCH', Field: 'capacitystatus', Value: 'Used' },
    ]);
    const prices = currentInstancePrices(dataDir);
    assert.match(prices.source, /^AWS Price List API, GetProducts AmazonEC2 regionCode=us-east-1 .*\(3 products, 2 pages\)/);
    assert.deepEqual(prices.regions['us-east-1'], { 'm5.large': { usd_per_hour: 0.096, vcpus: 2 }, 'c7g.xlarge': { usd_per_hour: 0.145, vcpus: 4 }, 'm7i.large': { usd_per_hour: 0.1008, vcpus: 2 } });
    assert.equal(instanceCpuPrice({ provider: 'aws', region: 'us-east-1', instanceType: 'm7i.large' }, prices)?.usdPerCoreHour, 0.0504);
    assert.match(r.stdout, /wrote .*snapshot-aws-ec2\.json \(us-east-1: 3 instance types, m5\.large \$0\.096\/h over 2 vCPUs\)/);
  });

  it('says in one line that credentials are missing, and keeps the previous snapshot', async () => {
    const dataDir = tempDir('pricing-nocreds');
    const r = await kiln(['--region', 'us-east-1', '--data-dir', dataDir, '--endpoint', endpoint], { HOME: tempDir('home') });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /no AWS credentials.*previous snapshot is kept/);
    assert.ok(!existsSync(refreshedSnapshotPath(dataDir, 'aws')));
  });

  it('says so when the endpoint cannot be reached', async () => {
    const dataDir = tempDir('pricing-down');
    const r = await kiln(['--region', 'us-east-1', '--data-dir', dataDir, '--endpoint', `http://127.0.0.1:${await freePort()}`], {
      HOME: tempDir('home'),
      AWS_ACCESS_KEY_ID: 'AKIDKILNTEST',
      AWS_SECRET_ACCESS_KEY: 'kiln-test-secret',
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Price List API failed.*previous snapshot is kept/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
