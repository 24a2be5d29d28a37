/* `kiln report`: the monthly report, fetched from a running Kiln's API (the embedded store belongs to it). */
import type { ReportConfig } from '../config/config.js';
import type { Fail } from './run.js';

export async function report(cfg: ReportConfig, fail: Fail): Promise<void> {
  const url = `${cfg.url.replace(/\/+$/, '')}/api/v1/reports/monthly?month=${encodeURIComponent(cfg.month)}&format=${encodeURIComponent(cfg.format)}`;
  let r: Response;
  try {
    r = await fetch(url, { headers: cfg.token ? { authorization: `Bearer ${cfg.token}` } : {} });
  } catch (e) {
    fail(`kiln report: cannot reach Kiln at ${cfg.url} (${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message}); start it with \`npm start\` or pass --url`);
  }
  const body = await r.text();
  if (!r.ok) {
    let reason = body;
    try {
      reason = (JSON.parse(body) as { error: string }).error;
    } catch {
      // not JSON: the body as it is
    }
    fail(`kiln report: ${r.status}: ${reason}`);
  }
  process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
}
