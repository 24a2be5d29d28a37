/* The gRPC push as one more WindowSink (ARCHITECTURE.md "Many hosts"): the windows one beat of the
 * agent's clock closes become one batch (split below the server's message limit), written to the durable
 * spool at once, and sent in order by one sender that deletes a batch only when the server acknowledged
 * it, retrying UNAVAILABLE / DEADLINE_EXCEEDED (and everything else the server may recover from) with
 * exponential backoff and jitter. The spool, not memory, is the queue: the agent's memory stays flat
 * however long the server is away, and what the spool's bounds drop is counted by reason. */
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WindowEnvelope, WindowSink } from '../pipeline/contracts.js';
import { create } from '@bufbuild/protobuf';
import { encodeBatch, hostToProto, type HostInfo } from './codec.js';
import { AUTH_KEY, INGEST_SERVICE, MAX_MESSAGE_BYTES, TARGET_BATCH_BYTES, bearer, codeName } from './service.js';
import { Spool, type DropReason, type SpoolStats } from './spool.js';
import { RegisterRequestSchema, type PushResponse } from './gen/kiln/ingest/v1/ingest_pb.js';

export interface PushTarget {
  /** host:port */
  address: string;
  token?: string;
  /** TLS: the server's CA (PEM); with `cert` and `key`, the agent's own certificate (mTLS) */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

export interface PushSinkOptions {
  target: PushTarget;
  agentId: string;
  host: HostInfo;
  spool: Spool;
  /** largest batch before splitting (default 16 MiB; the server takes 64 MiB) */
  maxBatchBytes?: number;
  /** per attempt (default 30 s) */
  deadlineMs?: number;
  /** first retry delay, doubled per failure up to maxRetryMs (defaults 500 ms, 30 s) */
  minRetryMs?: number;
  maxRetryMs?: number;
  log: (line: string) => void;
}

/** A window's rows cut in two (for a window alone over the batch size); null when it cannot be cut. */
function halve(w: WindowEnvelope): [WindowEnvelope, WindowEnvelope] | null {
  if (w.kind === 'profile') {
    // egress stacks travel alone first (each half must carry them once), then split by peer
    const egress = w.egress?.profiles ?? [];
    if (egress.length > 0 && w.apps.length > 0) return [{ ...w, egress: undefined }, { ...w, apps: [], truncatedSamples: 0, otherProcessSamples: 0 }];
    if (w.apps.length === 0) {
      if (egress.length < 2) return null;
      const k = egress.length >> 1;
      return [
        { ...w, egress: { ...w.egress!, profiles: egress.slice(0, k) } },
        { ...w, egress: { ...w.egress!, profiles: egress.slice(k), foldedPoints: 0 } },
      ];
    }
    if (w.apps.length > 1) {
      const k = w.apps.length >> 1;
      return [
        { ...w, apps: w.apps.slice(0, k) },
        { ...w, apps: w.apps.slice(k), truncatedSamples: 0 },
      ];
    }
    const a = w.apps[0];
    if (!a || a.stacks.length < 2) return null;
    const k = a.stacks.length >> 1;
    return [
      { ...w, apps: [{ ...a, stacks: a.stacks.slice(0, k) }] },
      { ...w, apps: [{ ...a, stacks: a.stacks.slice(k) }], truncatedSamples: 0 },
    ];
  }
  if (w.rows.length < 2) return null;
  const k = w.rows.length >> 1;
  if (w.kind === 'dns') return [{ ...w, rows: w.rows.slice(0, k) }, { ...w, rows: w.rows.slice(k), folded: 0 }];
  return [{ ...w, rows: w.rows.slice(0, k) } as WindowEnvelope, { ...w, rows: w.rows.slice(k) } as WindowEnvelope];
}

/** Splits windows into groups whose encoding fits `maxBytes` (each group's size by `size`). */
export function splitBatch(windows: WindowEnvelope[], size: (ws: WindowEnvelope[]) => number, maxBytes: number): WindowEnvelope[][] {
  if (windows.length === 0) return [];
  if (size(windows) <= maxBytes) return [windows];
  if (windows.length > 1) {
    const k = windows.length >> 1;
    return [...splitBatch(windows.slice(0, k), size, maxBytes), ...splitBatch(windows.slice(k), size, maxBytes)];
  }
  const h = halve(windows[0]);
  if (!h) return [windows]; // one row over the limit: sent, and refused by the server, and counted
  return [...splitBatch([h[0]], size, maxBytes), ...splitBatch([h[1]], size, maxBytes)];
}

const RETRYABLE = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNAUTHENTICATED, // a token being rotated on the server: keep the batches, say so
  grpc.status.PERMISSION_DENIED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.CANCELLED,
  grpc.status.ABORTED,
  grpc.status.UNIMPLEMENTED, // an older server during a rolling upgrade
]);

export function createChannelCredentials(t: PushTarget): grpc.ChannelCredentials {
  if (t.tls) return grpc.credentials.createSsl(t.tls.ca ?? null, t.tls.key ?? null, t.tls.cert ?? null);
  return grpc.credentials.createInsecure();
}

export class PushSink implements WindowSink {
  readonly #o: PushSinkOptions;
  readonly #client: grpc.Client;
  readonly #pending: WindowEnvelope[] = [];
  readonly #pushes = new Map<string, number>();
  #sending: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #closed = false;
  #failures = 0;
  #lastError = '';
  #batchesSplit = 0;
  #duplicates = 0;
  #idle: (() => void)[] = [];
  /** what the collectors handed over: windows, profile samples, flow bytes sent (all spooled) */
  readonly #produced = { windows: 0, samples: 0, bytesSent: 0 };
  /** the host is registered with the server (done first, before any batch) */
  #registered = false;

  constructor(o: PushSinkOptions) {
    this.#o = o;
    this.#client = new grpc.Client(o.target.address, createChannelCredentials(o.target), {
      'grpc.default_compression_algorithm': 2, // gzip
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': 1 << 20,
      // a server that went away is found again within a second or two of coming back
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
    });
  }

  write(w: WindowEnvelope): void {
    if (this.#closed) return;
    this.#pending.push(w);
  }

  /** The windows written since the last seal become batches in the spool (the scheduler seals after
   *  each beat that closed windows). */
  seal(): void {
    if (this.#pending.length === 0) return;
    const windows = this.#pending.splice(0);
    for (const w of windows) {
      this.#produced.windows++;
      if (w.kind === 'profile') for (const a of w.apps) for (const st of a.stacks) this.#produced.samples += st.count;
      else if (w.kind === 'netflow') for (const r of w.rows) this.#produced.bytesSent += r.bytesSent;
    }
    const size = (ws: WindowEnvelope[]) => encodeBatch({ agentId: this.#o.agentId, sequence: 1n, host: this.#o.host, windows: ws, spooledAtMs: 0 }).byteLength;
    const groups = splitBatch(windows, size, this.#o.maxBatchBytes ?? TARGET_BATCH_BYTES);
    if (groups.length > 1) this.#batchesSplit++;
    for (const g of groups) {
      const sequence = this.#o.spool.nextSequence();
      const body = encodeBatch({ agentId: this.#o.agentId, sequence, host: this.#o.host, windows: g, spooledAtMs: Date.now() });
      try {
        this.#o.spool.append(sequence, body);
      } catch (e) {
        this.#o.log(`push: cannot write batch ${sequence} to the spool: ${(e as Error).message}`);
      }
    }
    this.#kick();
  }

  /** Starts the sender if it is not running (also after a restart with batches left in the spool). */
  start(): void {
    this.#kick();
  }

  #kick(): void {
    if (this.#wake) {
      const w = this.#wake;
      this.#wake = null;
      w();
    }
    this.#sending ??= this.#sendLoop().finally(() => {
      this.#sending = null;
    });
  }

  #metadata(): { md: grpc.Metadata; deadline: number } {
    const md = new grpc.Metadata();
    if (this.#o.target.token) md.set(AUTH_KEY, bearer(this.#o.target.token));
    return { md, deadline: Date.now() + (this.#o.deadlineMs ?? 30_000) };
  }

  #push(body: Buffer): Promise<PushResponse> {
    const { md, deadline } = this.#metadata();
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(INGEST_SERVICE.push.path, INGEST_SERVICE.push.requestSerialize, INGEST_SERVICE.push.responseDeserialize, body, md, { deadline }, (err, res) => {
        if (err) reject(err);
        else resolve(res!);
      });
    });
  }

  #register(): Promise<void> {
    const { md, deadline } = this.#metadata();
    const req = create(RegisterRequestSchema, { agentId: this.#o.agentId, host: hostToProto(this.#o.host) });
    const r = INGEST_SERVICE.register;
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(r.path, r.requestSerialize, r.responseDeserialize, req, md, { deadline }, (err) => {
        if (!err) resolve();
        // an older server without Register: every push registers the host as well
        else if (err.code === grpc.status.UNIMPLEMENTED) resolve();
        else reject(err);
      });
    });
  }

  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#retryTimer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
    });
  }

  async #sendLoop(): Promise<void> {
    for (;;) {
      if (this.#closed && this.#failures > 0) return;
      const head = this.#registered ? this.#o.spool.head() : null;
      if (this.#registered && !head) {
        for (const f of this.#idle.splice(0)) f();
        return;
      }
      let code = grpc.status.OK;
      try {
        if (!head) {
          await this.#register();
          this.#registered = true;
          if (this.#failures > 0) this.#o.log(`push: registered with ${this.#o.target.address}`);
          this.#failures = 0;
          continue;
        }
        const res = await this.#push(head.body);
        if (res.duplicate) this.#duplicates++;
        this.#o.spool.acknowledge(head.entry);
        if (this.#failures > 0) this.#o.log(`push: the server takes batches again (${this.#o.spool.size} left in the spool)`);
        this.#failures = 0;
      } catch (e) {
        const err = e as grpc.ServiceError;
        code = typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN;
        const why = `${codeName(code)}: ${err.details ?? err.message}`;
        if (!head && !RETRYABLE.has(code)) {
          // the server refuses this host's registration for good; its pushes will say why again
          this.#o.log(`push: the server refused to register this host (${why})`);
          this.#registered = true;
        } else if (head && !RETRYABLE.has(code)) {
          // the server will never take this batch (malformed, or over its limit): set aside, counted
          this.#o.log(`push: the server refused batch ${head.entry.sequence} for good (${why}); set aside in the spool's rejected/`);
          this.#o.spool.reject(head.entry, why);
        } else {
          if (this.#failures === 0 || why !== this.#lastError)
            this.#o.log(
              code === grpc.status.UNAUTHENTICATED
                ? `push: the server ${this.#o.target.address} refused the token (${why}): check --token; batches stay in the spool`
                : `push: ${this.#o.target.address} ${why}; retrying with backoff, batches stay in the spool`,
            );
          this.#lastError = why;
          this.#failures++;
          const cap = Math.min(this.#o.maxRetryMs ?? 30_000, (this.#o.minRetryMs ?? 500) * 2 ** Math.min(this.#failures - 1, 16));
          // "equal jitter": half the delay fixed, half random, so agents that lost one server spread out
          await this.#delay(cap / 2 + Math.random() * (cap / 2));
        }
      } finally {
        if (head) {
          const name = codeName(code);
          this.#pushes.set(name, (this.#pushes.get(name) ?? 0) + 1);
        }
      }
    }
  }

  /** Resolves when the host is registered and the spool is empty (every batch acknowledged), or
   *  `timeoutMs` passed. */
  async flush(timeoutMs: number): Promise<void> {
    this.seal();
    if (this.#o.spool.size === 0 && this.#registered) return;
    this.#kick();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => this.#idle.push(r)), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Spools what is pending, tries to send it within `timeoutMs`; what is left stays in the spool for
   *  the next start (nothing is dropped by stopping). */
  async close(timeoutMs: number): Promise<void> {
    this.seal();
    await this.flush(timeoutMs);
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#wake?.();
    this.#client.close();
  }

  /** `failures`: attempts failed in a row (0 while the server takes batches) */
  stats(): { registered: boolean; produced: { windows: number; samples: number; bytesSent: number }; spool: SpoolStats; pushes: Record<string, number>; duplicates: number; batchesSplit: number; failures: number; lastError: string } {
    return { registered: this.#registered, produced: { ...this.#produced }, spool: this.#o.spool.stats(), pushes: Object.fromEntries(this.#pushes), duplicates: this.#duplicates, batchesSplit: this.#batchesSplit, failures: this.#failures, lastError: this.#lastError };
  }

  /** The agent's push and spool metrics, on its /metrics. */
  registerMetrics(registry: Registry): void {
    const registers = [registry];
    const stats = () => this.stats();
    new Gauge({ name: 'kiln_agent_spool_bytes', help: 'Bytes of batches in the spool, not yet acknowledged by the server', registers, collect() { this.set(stats().spool.bytes); } });
    new Gauge({ name: 'kiln_agent_spool_batches', help: 'Batches in the spool, not yet acknowledged by the server', registers, collect() { this.set(stats().spool.batches); } });
    new Gauge({ name: 'kiln_agent_spool_oldest_age_seconds', help: 'Age of the oldest batch in the spool', registers, collect() { this.set(stats().spool.oldestAgeSeconds); } });
    new Counter({
      name: 'kiln_agent_spool_dropped_batches_total',
      help: 'Batches the spool dropped: over --spool-max-bytes (spool_full), past --spool-max-age (too_old), unreadable (corrupt), refused by the server for good (rejected)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(stats().spool.dropped) as [DropReason, number][]) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'kiln_agent_pushes_total',
      help: 'Push attempts to the server by gRPC status code (OK, UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, ...)',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset();
        for (const [code, n] of Object.entries(stats().pushes)) this.inc({ code }, n);
      },
    });
  }
}
