/* `kiln pricing refresh`: a new AWS snapshot from the Price List API; the old one stays on any failure. */
import type { PricingConfig } from '../config/config.js';
import type { Fail } from './run.js';

export async function pricing(cfg: PricingConfig, fail: Fail): Promise<void> {
  const { refreshAwsSnapshot, refreshAwsInstancePrices } = await import('../netcost/aws-pricing.js');
  const out = await refreshAwsSnapshot({ region: cfg.region, dataDir: cfg.dataDir, endpoint: cfg.endpoint });
  if ('error' in out) fail(`kiln pricing refresh: ${out.error}; the previous snapshot is kept`);
  process.stdout.write(`kiln: wrote ${out.path} (${out.summary})\n`);
  // the instance types' on-demand prices: what a CPU-hour costs (README "Dollars per function")
  const ec2 = await refreshAwsInstancePrices({ region: cfg.region, dataDir: cfg.dataDir, endpoint: cfg.endpoint });
  if ('error' in ec2) fail(`kiln pricing refresh: EC2 instance prices: ${ec2.error}; the previous instance prices are kept`);
  process.stdout.write(`kiln: wrote ${ec2.path} (${ec2.summary})\n`);
}
