/* `kiln pricing refresh`: a new AWS snapshot from the Price List API; the old one stays on any failure. */
import type { PricingConfig } from '../config/config.js';
import type { Fail } from './run.js';

export async function pricing(cfg: PricingConfig, fail: Fail): Promise<void> {
  const { refreshAwsSnapshot } = await import('../netcost/aws-pricing.js');
  const out = await refreshAwsSnapshot({ region: cfg.region, dataDir: cfg.dataDir, endpoint: cfg.endpoint });
  if ('error' in out) fail(`kiln pricing refresh: ${out.error}; the previous snapshot is kept`);
  process.stdout.write(`kiln: wrote ${out.path} (${out.summary})\n`);
}
