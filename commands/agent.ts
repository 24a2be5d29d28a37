/* `kiln agent`: the collectors of this host (the same composition as `kiln run`) into the gRPC push
 * sink, through the durable spool, beside the metrics tee; its own /metrics and /api/v1/status
 * (ARCHITECTURE.md "Many hosts"). */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import type { Agent } from '../agent/agent.js';
import type { AgentConfig } from '../config/config.js';
import { isAgentId } from '../ingest/codec.js';
import { PushSink } from '../ingest/push-sink.js';
import { Classifier } from '../netcost/classify.js';
import { Spool } from '../ingest/spool.js';
import { teeSink } from '../pipeline/tee.js';
import { requireToken } from '../web/auth.js';
import { KilnMetrics } from '../web/metrics.js';
import { jsonSafe } from '../web/api.js';
import { hostAddresses, listenHttp, onSignals, startCollectors, stderrLog as log, why, type Fail } from './parts.js';

const VERSION = '0.1.0';

/** The agent's id, kept in its data directory: the server's key for exactly-once is (id, sequence). */
export function agentId(dataDir: string): string {
  const path = join(dataDir, 'agent-id');
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (isAgentId(id)) return id;
  } catch {
    // a new agent
  }
  const id = randomBytes(16).toString('hex');
  writeFileSync(`${path}.tmp`, `${id}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return id;
}

export async function agent(cfg: AgentConfig, fail: Fail): Promise<void> {
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  const id = agentId(cfg.dataDir);
  const host = cfg.hostName ?? hostname();
  const spool = new Spool({ dir: join(cfg.dataDir, 'spool'), maxBytes: cfg.spoolMaxBytes, maxAgeMs: cfg.spoolMaxAgeSeconds * 1000 }, (reason, e, detail) =>
    log(`spool: dropped batch ${e.sequence} (${e.bytes} bytes, spooled ${new Date(e.spooledAtMs).toISOString()}): ${reason}${detail ? ` (${detail})` : ''}`),
  );
  let agentRef: Agent | undefined;
  const metrics = new KilnMetrics({
    losses: () => agentRef?.losses() ?? [],
    programs: () => agentRef?.programs() ?? [],
    unwind: () => agentRef?.unwind() ?? null,
  });
  // zone and region as this agent knows them (cloud metadata or --zones), filled once collectors start
  const hostInfo = { name: host, addresses: cfg.hostAddresses ?? hostAddresses(), zone: '', zoneId: '', region: '', provider: 'other', agentVersion: VERSION };
  const push = new PushSink({ target: { address: cfg.server, token: cfg.token, tls: cfg.tls }, agentId: id, host: hostInfo, spool, log });
  push.registerMetrics(metrics.registry);
  const { agent: a, topology, placement } = await startCollectors(cfg, host, teeSink(metrics.sink(), push), log, fail);
  agentRef = a;
  const zone = placement
    ? { name: placement.zone, id: placement.zoneId, region: placement.region }
    : (() => {
        // the zone of this host's own addresses in the zones file
        const where = new Classifier(topology);
        for (const addr of hostInfo.addresses) {
          const z = where.locate(addr).zone;
          if (z) return { name: z.name, id: z.id, region: z.region };
        }
        return null;
      })();
  Object.assign(hostInfo, { zone: zone?.name ?? '', zoneId: zone?.id ?? '', region: zone?.region ?? '', provider: topology.provider });
  push.start();

  const app = new Hono();
  if (cfg.token) app.use('*', requireToken(cfg.token));
  app.get('/metrics', async (c) => {
    const { body, contentType } = await metrics.text();
    return c.body(body, 200, { 'content-type': contentType });
  });
  app.get('/api/v1/status', (c) => c.json(jsonSafe({ ...(a.status() as object), agent: { id, host: hostInfo, server: cfg.server }, push: push.stats() }) as object));
  const server = listenHttp(app.fetch, cfg.listen, fail, () =>
    log(`agent ${id} (${host}${hostInfo.zone ? `, ${hostInfo.zone}` : ''}) pushing ${cfg.windowSeconds} s windows to ${cfg.server}; metrics on http://${cfg.listen.text}/metrics; spool in ${cfg.dataDir}/spool (${spool.size} batches waiting)`),
  );

  onSignals(async (sig) => {
    log(`${sig}: closing the current windows into the spool and stopping`);
    server.close();
    try {
      await a.stop();
    } catch (e) {
      log(`stop: ${why(e)}`);
    }
    await push.close(10_000);
    const { produced, spool: sp } = push.stats();
    const dropped = Object.entries(sp.dropped).filter(([, n]) => n > 0);
    log(
      `stopped: ${produced.windows} windows spooled (${produced.samples} samples, ${produced.bytesSent} bytes sent by flows); ${sp.acknowledged} batches acknowledged, ${sp.batches} left in the spool${sp.batches ? ' for the next start' : ''}; dropped: ${dropped.length ? dropped.map(([r, n]) => `${n} ${r}`).join(', ') : 'none'}`,
    );
  });
}
