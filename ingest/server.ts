/* `kiln server`'s ingest (ARCHITECTURE.md "Many hosts", "Exactly once"): the gRPC IngestService over the
 * store. A push is answered only after the store took every row of its batch:
 *
 *   token check → concurrency limit → decode (malformed: INVALID_ARGUMENT) → ledger (seen: duplicate)
 *   → group commit → answer.
 *
 * The embedded engine costs ~2 ms an insert whatever its size, so batches that arrive together are
 * stored together: one insert per table for a group of batches. A group is journaled (one file, fsync)
 * before its first insert and each table's insert carries a token derived from the group, so a retry of
 * the group (after a failed insert, or from the journal after a crash) stores nothing twice; the ledger
 * records every batch of the group once all its rows are in, and only then are the pushes answered. A
 * push of a batch whose group is still being stored joins that group instead of forming another. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { LRUCache } from 'lru-cache';
import type { WindowEnvelope } from '../pipeline/contracts.js';
import type { Store, TableInsert } from '../store/store.js';
import { DnsRepository } from '../store/tables/dns-windows.js';
import { LossRepository } from '../store/tables/collector-losses.js';
import { NetcostRepository } from '../store/tables/net-flows.js';
import { ProfileRepository } from '../store/tables/profiles.js';
import { RunqRepository } from '../store/tables/runq-windows.js';
import { FLEET_HOSTS, INGEST_LEDGER } from '../store/tables/ingest.js';
import { BatchError, batchRows, checkAgentId, decodeBatch, hostFromProto, type Batch } from './codec.js';
import { Fleet } from './fleet.js';
import { AUTH_KEY, INGEST_SERVICE, MAX_MESSAGE_BYTES, codeName, pushResponse } from './service.js';
import { RegisterResponseSchema, type RegisterRequest } from './gen/kiln/ingest/v1/ingest_pb.js';
import { create } from '@bufbuild/protobuf';
import { SPOOL_HEADER_BYTES, decodeSpoolFile, encodeSpoolFile } from './spool.js';

export interface IngestServerOptions {
  store: Store;
  /** the server's data directory: the group journal lives in `journal/` */
  dataDir: string;
  /** required bearer token (none: any client that can connect) */
  token?: string;
  /** pushes being stored at once; more are answered UNAVAILABLE (default 256) */
  maxConcurrentPushes?: number;
  /** batches stored in one group (default 256) */
  maxGroupBatches?: number;
  log: (line: string) => void;
}

interface Pending {
  batch: Batch;
  raw: Buffer;
  key: string;
  done: Promise<number>;
  resolve: (rows: number) => void;
  reject: (e: unknown) => void;
}

/** Which table's rows go in first: what others refer to (mappings, stacks) before what refers. */
const TABLE_ORDER = ['profile_mappings', 'profile_stacks', 'profile_samples', 'app_windows', 'runq_windows', 'net_flows', 'dns_windows', 'collector_losses'];

const LEDGER_RECENT = 2048;

/** Accepted (agent, sequence): in memory the newest of each agent, the ledger table for the rest. */
class Ledger {
  readonly #agents = new LRUCache<string, { max: bigint; recent: Set<bigint> }>({ max: 100_000 });
  constructor(private readonly store: Store) {}

  async #state(agentId: string): Promise<{ max: bigint; recent: Set<bigint> }> {
    let s = this.#agents.get(agentId);
    if (s) return s;
    const rows = await this.store.query<{ sequence: string }>(
      `SELECT sequence FROM ${INGEST_LEDGER.name} WHERE agent_id = {a:String} ORDER BY sequence DESC LIMIT ${LEDGER_RECENT}`,
      { a: agentId },
    );
    const recent = new Set(rows.map((r) => BigInt(r.sequence)));
    s = { max: rows.length ? BigInt(rows[0].sequence) : 0n, recent };
    this.#agents.set(agentId, s);
    return s;
  }

  async seen(agentId: string, seq: bigint): Promise<boolean> {
    const s = await this.#state(agentId);
    if (s.recent.has(seq)) return true;
    if (seq > s.max - BigInt(LEDGER_RECENT)) return false;
    const rows = await this.store.query(`SELECT 1 FROM ${INGEST_LEDGER.name} WHERE agent_id = {a:String} AND sequence = {s:UInt64} LIMIT 1`, { a: agentId, s: seq });
    return rows.length > 0;
  }

  accepted(agentId: string, seq: bigint): void {
    const s = this.#agents.get(agentId);
    if (!s) return; // loaded from the table at its next push
    s.recent.add(seq);
    if (seq > s.max) s.max = seq;
    if (s.recent.size > LEDGER_RECENT) for (const q of s.recent) if (q <= s.max - BigInt(LEDGER_RECENT)) s.recent.delete(q);
  }
}

export interface IngestStats {
  pushes: Record<string, number>;
  batchesStored: number;
  duplicates: number;
  groups: number;
  groupRetries: number;
  rowsStored: number;
  inFlight: number;
  journalRecovered: number;
  fleet: ReturnType<Fleet['stats']>;
}

export class IngestServer {
  readonly fleet: Fleet;
  readonly #o: IngestServerOptions;
  readonly #ledger: Ledger;
  readonly #journal: string;
  readonly #profiles: ProfileRepository;
  readonly #runq: RunqRepository;
  readonly #dns: DnsRepository;
  readonly #netcost: NetcostRepository;
  readonly #losses: LossRepository;
  readonly #queue: Pending[] = [];
  /** batches being stored, by agent and sequence: a second push of one joins it */
  readonly #inFlight = new Map<string, Pending>();
  #committing: Promise<void> | null = null;
  #closed = false;
  #server: grpc.Server | null = null;
  readonly #stats = { batchesStored: 0, duplicates: 0, groups: 0, groupRetries: 0, rowsStored: 0, journalRecovered: 0 };
  readonly #pushes = new Map<string, number>();
  #authFailures = 0;

  constructor(o: IngestServerOptions) {
    this.#o = o;
    this.fleet = new Fleet(o.store);
    this.#ledger = new Ledger(o.store);
    this.#journal = join(o.dataDir, 'journal');
    mkdirSync(this.#journal, { recursive: true, mode: 0o700 });
    // the server's own repositories: it never reads through their caches, only prepares rows
    this.#profiles = new ProfileRepository(o.store);
    this.#runq = new RunqRepository(o.store);
    this.#dns = new DnsRepository(o.store);
    this.#netcost = new NetcostRepository(o.store);
    this.#losses = new LossRepository(o.store);
  }

  /** Loads the fleet and stores the groups a crash left in the journal, before taking any push. */
  async recover(): Promise<void> {
    await this.fleet.load();
    for (const f of readdirSync(this.#journal).sort()) {
      const path = join(this.#journal, f);
      if (!f.endsWith('.group')) {
        rmSync(path, { force: true });
        continue;
      }
      const members: Pending[] = [];
      try {
        const buf = readFileSync(path);
        for (let off = 0; off < buf.length; ) {
          const len = SPOOL_HEADER_BYTES + buf.readUInt32LE(off + 32);
          const d = decodeSpoolFile(buf.subarray(off, off + len));
          if (typeof d === 'string') throw new Error(d);
          members.push(this.#pending(decodeBatch(d.body), d.body));
          off += len;
        }
      } catch (e) {
        this.#o.log(`ingest: journal ${f} is unreadable (${(e as Error).message}); its batches come again from their agents`);
        rmSync(path, { force: true });
        continue;
      }
      const group = f.slice(0, -'.group'.length);
      await this.#commitGroup(group, members, path);
      this.#stats.journalRecovered += members.length;
    }
  }

  #pending(batch: Batch, raw: Buffer): Pending {
    let resolve!: (n: number) => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => undefined);
    return { batch, raw, key: `${batch.agentId}:${batch.sequence}`, done, resolve, reject };
  }

  #authorized(md: grpc.Metadata): boolean {
    if (!this.#o.token) return true;
    const v = md.get(AUTH_KEY)[0];
    const want = Buffer.from(`Bearer ${this.#o.token}`);
    const got = Buffer.from(typeof v === 'string' ? v : '');
    return got.length === want.length && timingSafeEqual(got, want);
  }

  #count(code: grpc.status): void {
    const n = codeName(code);
    this.#pushes.set(n, (this.#pushes.get(n) ?? 0) + 1);
  }

  #checkToken(md: grpc.Metadata, peer: string, what: string): void {
    if (this.#authorized(md)) return;
    if (this.#authFailures++ % 100 === 0) this.#o.log(`ingest: refused a ${what} from ${peer}: ${md.get(AUTH_KEY).length ? 'wrong' : 'no'} bearer token (${this.#authFailures} so far)`);
    throw Object.assign(new Error('a valid bearer token is required (kiln agent --token, as kiln server --token)'), { code: grpc.status.UNAUTHENTICATED });
  }

  /** The Register handler: the host is known (and stored) at once. */
  async register(req: RegisterRequest, md: grpc.Metadata, peer: string): Promise<number> {
    this.#checkToken(md, peer, 'registration');
    let host;
    try {
      checkAgentId(req.agentId);
      host = hostFromProto(req.host);
    } catch (e) {
      throw Object.assign(new Error(`malformed registration: ${(e as Error).message}`), { code: grpc.status.INVALID_ARGUMENT });
    }
    const row = this.fleet.register(req.agentId, host);
    if (row) {
      try {
        await this.#o.store.insert(FLEET_HOSTS.name, [row]);
      } catch (e) {
        // known in memory already; the next push that registers it stores the row
        this.fleet.forget(host.name);
        throw Object.assign(new Error(`not stored: ${(e as Error).message.split('\n')[0]}; retry`), { code: grpc.status.UNAVAILABLE });
      }
    }
    return this.fleet.stats().hosts;
  }

  /** The Push handler. */
  async push(raw: Buffer, md: grpc.Metadata, peer: string): Promise<{ duplicate: boolean; rows: number }> {
    this.#checkToken(md, peer, 'push');
    if (this.#closed) throw Object.assign(new Error('the server is stopping; retry'), { code: grpc.status.UNAVAILABLE });
    const max = this.#o.maxConcurrentPushes ?? 256;
    if (this.#inFlight.size >= max) throw Object.assign(new Error(`the server is storing ${this.#inFlight.size} pushes, its limit; retry with backoff`), { code: grpc.status.UNAVAILABLE });
    let batch: Batch;
    try {
      batch = decodeBatch(raw);
    } catch (e) {
      if (e instanceof BatchError) throw Object.assign(new Error(`malformed batch: ${e.message}`), { code: grpc.status.INVALID_ARGUMENT });
      throw e;
    }
    const key = `${batch.agentId}:${batch.sequence}`;
    const joined = this.#inFlight.get(key);
    if (joined) return { duplicate: false, rows: await joined.done };
    if (await this.#ledger.seen(batch.agentId, batch.sequence)) {
      this.#stats.duplicates++;
      return { duplicate: true, rows: batchRows(batch) };
    }
    const again = this.#inFlight.get(key); // pushed again while the ledger answered
    if (again) return { duplicate: false, rows: await again.done };
    const p = this.#pending(batch, raw);
    this.#inFlight.set(key, p);
    this.#queue.push(p);
    this.#kick();
    return { duplicate: false, rows: await p.done };
  }

  #kick(): void {
    this.#committing ??= (async () => {
      while (this.#queue.length && !this.#closed) {
        const members = this.#queue.splice(0, this.#o.maxGroupBatches ?? 256);
        const group = createHash('sha256')
          .update(members.map((m) => m.key).sort().join('\n'))
          .digest('hex')
          .slice(0, 24);
        await this.#commitGroup(group, members, null);
      }
    })().finally(() => {
      this.#committing = null;
      if (this.#queue.length && !this.#closed) this.#kick();
    });
  }

  /** The inserts of a group: each table's rows of every batch, in TABLE_ORDER, tokens from the group. */
  #prepare(group: string, members: Pending[]): { inserts: TableInsert[]; ledger: TableInsert; fleet: TableInsert | null } {
    const byTable = new Map<string, TableInsert & { dones: (() => void)[] }>();
    const add = (ins: TableInsert[]) => {
      for (const i of ins) {
        let t = byTable.get(i.table);
        if (!t) byTable.set(i.table, (t = { table: i.table, rows: [], dones: [] }));
        for (const r of i.rows) t.rows.push(r);
        if (i.done) t.dones.push(i.done);
      }
    };
    const fleetRows: Record<string, unknown>[] = [];
    // every host first, then what the flows tell, then the windows: batches of one group see each other
    for (const m of members) {
      const row = this.fleet.register(m.batch.agentId, m.batch.host);
      if (row) fleetRows.push(row);
    }
    for (const m of members) for (const w of m.batch.windows) if (w.kind === 'netflow') this.fleet.learn(w);
    const ledgerRows: Record<string, unknown>[] = [];
    const now = Math.floor(Date.now() / 1000);
    for (const m of members) {
      for (const w of m.batch.windows) add(this.#windowInserts(m.batch.host.name, w));
      ledgerRows.push({ agent_id: m.batch.agentId, sequence: m.batch.sequence.toString(), host: m.batch.host.name, group_id: group, rows: batchRows(m.batch), received: now });
    }
    const inserts = [...byTable.values()]
      .sort((a, b) => (TABLE_ORDER.indexOf(a.table) >>> 0) - (TABLE_ORDER.indexOf(b.table) >>> 0))
      .map((t) => ({ table: t.table, rows: t.rows, dedupToken: `${group}:${t.table}`, done: () => t.dones.forEach((d) => d()) }));
    return {
      inserts,
      ledger: { table: INGEST_LEDGER.name, rows: ledgerRows, dedupToken: `${group}:${INGEST_LEDGER.name}` },
      fleet: fleetRows.length ? { table: FLEET_HOSTS.name, rows: fleetRows } : null,
    };
  }

  #windowInserts(host: string, w: WindowEnvelope): TableInsert[] {
    switch (w.kind) {
      case 'profile':
        return this.#profiles.prepareWindow(w);
      case 'runq':
        return this.#runq.prepareWindow(w);
      case 'netflow':
        return this.#netcost.prepareWindow(this.fleet.enrich(host, w));
      case 'dns':
        return this.#dns.prepareWindow(w);
      case 'losses':
        return this.#losses.prepare(w.rows.map((r) => ({ ...r, start: w.start, seconds: w.seconds, host: w.host })));
    }
  }

  async #commitGroup(group: string, members: Pending[], journalPath: string | null): Promise<void> {
    const path = journalPath ?? join(this.#journal, `${group}.group`);
    try {
      if (!journalPath) {
        const tmp = `${path}.tmp`;
        writeFileSync(tmp, Buffer.concat(members.map((m) => encodeSpoolFile(m.batch.sequence, m.batch.spooledAtMs, m.raw))), { mode: 0o600 });
        const fd = openSync(tmp, 'r');
        fsyncSync(fd);
        closeSync(fd);
        renameSync(tmp, path);
      }
      const { inserts, ledger, fleet } = this.#prepare(group, members);
      let rows = 0;
      for (let attempt = 0; ; attempt++) {
        try {
          for (const i of inserts) {
            await this.#o.store.insert(i.table, i.rows, { dedupToken: i.dedupToken });
            i.done?.();
          }
          await this.#o.store.insert(ledger.table, ledger.rows, { dedupToken: ledger.dedupToken });
          if (fleet) await this.#o.store.insert(fleet.table, fleet.rows);
          rows = inserts.reduce((n, i) => n + i.rows.length, 0);
          break;
        } catch (e) {
          if (this.#closed) throw e;
          this.#stats.groupRetries++;
          if (attempt === 0) this.#o.log(`ingest: storing a group of ${members.length} batches failed (${(e as Error).message.split('\n')[0]}); retrying it as it is, its pushes wait`);
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
        }
      }
      rmSync(path, { force: true });
      this.#stats.groups++;
      this.#stats.rowsStored += rows;
      for (const m of members) {
        this.#ledger.accepted(m.batch.agentId, m.batch.sequence);
        this.#stats.batchesStored++;
        this.#inFlight.delete(m.key);
        m.resolve(batchRows(m.batch));
      }
    } catch (e) {
      // stopping (or the journal unwritable): the pushes fail, their agents send them again
      for (const m of members) {
        this.#inFlight.delete(m.key);
        m.reject(Object.assign(new Error(`not stored: ${(e as Error).message.split('\n')[0]}; retry`), { code: grpc.status.UNAVAILABLE }));
      }
    }
  }

  /** Serves on `address` (host:port); resolves with the port bound. */
  async listen(address: string, creds: grpc.ServerCredentials): Promise<number> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': 1 << 20,
    });
    const failed = (callback: grpc.sendUnaryData<unknown>, count: boolean) => (e: { code?: number; message: string }) => {
      const code = typeof e.code === 'number' ? e.code : grpc.status.INTERNAL;
      if (count) this.#count(code);
      if (code === grpc.status.INTERNAL) this.#o.log(`ingest: ${e.message}`);
      callback({ code, details: e.message });
    };
    server.addService(INGEST_SERVICE, {
      push: (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        this.push(call.request, call.metadata, call.getPeer()).then((r) => {
          this.#count(grpc.status.OK);
          callback(null, pushResponse(r.duplicate, r.rows));
        }, failed(callback, true));
      },
      register: (call: grpc.ServerUnaryCall<RegisterRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        this.register(call.request, call.metadata, call.getPeer()).then((hosts) => callback(null, create(RegisterResponseSchema, { hosts })), failed(callback, false));
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, creds, (err, p) => (err ? reject(err) : resolve(p))));
    this.#server = server;
    return port;
  }

  /** Stops taking pushes; the group being stored finishes (or its pushes fail and come again). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#queue.splice(0)) {
      this.#inFlight.delete(p.key);
      p.reject(Object.assign(new Error('the server is stopping; retry'), { code: grpc.status.UNAVAILABLE }));
    }
    await this.#committing;
    const server = this.#server;
    if (server) await new Promise<void>((r) => server.tryShutdown(() => r()));
  }

  stats(): IngestStats {
    return { pushes: Object.fromEntries(this.#pushes), ...this.#stats, inFlight: this.#inFlight.size, fleet: this.fleet.stats() };
  }
}
