/* `kiln server`: gRPC ingest from kiln agents into the store, and the API and UI over it
 * (ARCHITECTURE.md "Many hosts"). The store is the embedded engine in --data-dir, or a ClickHouse server
 * (--clickhouse-url); the ingest journal stays in --data-dir either way. */
import * as grpc from '@grpc/grpc-js';
import { hostname } from 'node:os';
import { Registry, Counter, Gauge } from 'prom-client';
import type { ServerConfig } from '../config/config.js';
import { IngestServer } from '../ingest/server.js';
import { MAX_MESSAGE_BYTES } from '../ingest/service.js';
import { closeStore, openClickHouse, prepareStore, loadTopology, onSignals, openStore, repositories, serveApi, stderrLog as log, type Fail } from './parts.js';

export async function server(cfg: ServerConfig, fail: Fail): Promise<void> {
  const topology = loadTopology(cfg.zonesFile, fail);
  const store = cfg.clickhouseUrl ? await openClickHouse(cfg.clickhouseUrl, cfg.queryTimeoutSeconds, fail, cfg.clickhousePassword, cfg.clickhouseCluster) : await openStore(cfg.dataDir, cfg.queryTimeoutSeconds, fail);
  const storeName = 'endpoint' in store ? `ClickHouse at ${store.endpoint}${cfg.clickhouseCluster ? `, cluster ${cfg.clickhouseCluster}` : ''}` : cfg.dataDir;
  await prepareStore(store, cfg.retentionDays, fail, log, cfg.clickhouseCluster);
  const ingest = new IngestServer({ store, dataDir: cfg.dataDir, token: cfg.token, maxConcurrentPushes: cfg.maxConcurrentPushes, log });
  await ingest.recover();
  const creds = cfg.tls ? grpc.ServerCredentials.createSsl(cfg.tls.ca ?? null, [{ cert_chain: cfg.tls.cert!, private_key: cfg.tls.key! }], !!cfg.tls.ca) : grpc.ServerCredentials.createInsecure();
  try {
    await ingest.listen(cfg.ingestListen.text, creds);
  } catch (e) {
    fail(`kiln: cannot listen for agents on ${cfg.ingestListen.text}: ${(e as Error).message.split('\n')[0]}`);
  }

  const registry = new Registry();
  const registers = [registry];
  const stats = () => ingest.stats();
  new Counter({
    name: 'kiln_server_pushes_total',
    help: 'Pushes from agents by gRPC status code',
    labelNames: ['code'],
    registers,
    collect() {
      this.reset();
      for (const [code, n] of Object.entries(stats().pushes)) this.inc({ code }, n);
    },
  });
  new Counter({ name: 'kiln_server_batches_stored_total', help: 'Batches stored (each once)', registers, collect() { this.reset(); this.inc(stats().batchesStored); } });
  new Counter({ name: 'kiln_server_batches_duplicate_total', help: 'Batches pushed again after they were stored (answered, not stored again)', registers, collect() { this.reset(); this.inc(stats().duplicates); } });
  new Counter({ name: 'kiln_server_rows_stored_total', help: 'Rows stored from batches', registers, collect() { this.reset(); this.inc(stats().rowsStored); } });
  new Gauge({ name: 'kiln_server_pushes_in_flight', help: 'Pushes being stored now', registers, collect() { this.set(stats().inFlight); } });
  new Gauge({ name: 'kiln_server_hosts', help: 'Hosts registered by their agents', registers, collect() { this.set(stats().fleet.hosts); } });

  const host = hostname();
  const http = serveApi(
    cfg,
    {
      repos: repositories(store),
      defaultPeriodNs: Math.round(1e9 / 97),
      topology,
      placement: null,
      host,
      status: () => ({ ingest: stats(), hosts: ingest.fleet.hosts(), store: { engine: 'stats' in store ? store.stats() : { kind: store.kind, endpoint: store.endpoint } } }),
      metrics: async () => ({ body: await registry.metrics(), contentType: registry.contentType }),
    },
    log,
    fail,
    () =>
      log(
        `server listening on http://${cfg.listen.text}; agents push to ${cfg.ingestListen.text} (${cfg.tls ? (cfg.tls.ca ? 'TLS, client certificates required' : 'TLS') : 'plaintext'}${cfg.token ? ', bearer token' : ''}, messages up to ${MAX_MESSAGE_BYTES >> 20} MiB); data in ${storeName}`,
      ),
  );

  onSignals(async (sig) => {
    log(`${sig}: finishing the pushes being stored and stopping`);
    http.close();
    await ingest.close();
    await closeStore(store, log);
  });
}
