/* Collectors hand their windows here and go straight back to collecting: the store is written by one
 * worker, in order, so a slow or failing store (API load, a full disk) never stalls or distorts
 * collection. Bounded by windows and rows: past either bound the oldest queued window is dropped and
 * counted. A failed insert is retried with backoff, resuming at the table that failed (the tables
 * before it are stored and not written twice). */
import { type Store, type TableInsert } from './store.js';

export interface WriteQueueOptions {
  /** windows queued at most (all kinds); default 1024 */
  maxWindows?: number;
  /** rows queued at most (all kinds); default 250,000 (~100 MB of row objects at the worst) */
  maxRows?: number;
  /** first retry delay after a failed insert, doubled up to maxRetryDelayMs; default 500 ms */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** a window written */
  onWritten?: (kind: string) => void;
  /** an insert failed (it will be retried); the first of a run of failures is the one worth logging */
  onError?: (kind: string, e: unknown, firstOfRun: boolean) => void;
  /** a window dropped unwritten: the queue was full, or the process stopped with it still queued */
  onDropped?: (kind: string, reason: 'queue_full' | 'shutdown', rows: number, meta: unknown) => void;
}

interface Item {
  kind: string;
  inserts: TableInsert[];
  rows: number;
  enqueuedAt: number;
  /** the caller's, handed back if the window is dropped (e.g. what it held, to count as lost) */
  meta: unknown;
}

export interface WriteQueueStats {
  queuedWindows: number;
  queuedRows: number;
  /** seconds the oldest queued window has waited */
  oldestAgeSeconds: number;
  written: number;
  insertErrors: number;
  dropped: Record<string, number>;
  droppedRows: number;
}

export class WindowWriteQueue {
  readonly #store: Store;
  readonly #opts: Required<Pick<WriteQueueOptions, 'maxWindows' | 'maxRows' | 'retryDelayMs' | 'maxRetryDelayMs'>> & WriteQueueOptions;
  readonly #items: Item[] = [];
  #rows = 0;
  #worker: Promise<void> | null = null;
  /** an insert of the head window is running: it must not be dropped under the worker */
  #inserting = false;
  #closed = false;
  #written = 0;
  #insertErrors = 0;
  #dropped: Record<string, number> = {};
  #droppedRows = 0;

  constructor(store: Store, opts: WriteQueueOptions = {}) {
    this.#store = store;
    this.#opts = { maxWindows: 1024, maxRows: 250_000, retryDelayMs: 500, maxRetryDelayMs: 30_000, ...opts };
  }

  /** Queues one window's inserts; never waits. Drops the oldest windows when a bound is passed. */
  enqueue(kind: string, inserts: TableInsert[], meta?: unknown): void {
    const rows = inserts.reduce((n, i) => n + i.rows.length, 0);
    const item: Item = { kind, inserts: inserts.filter((i) => i.rows.length > 0 || i.done), rows, enqueuedAt: Date.now(), meta };
    if (this.#closed) {
      this.#drop(item, 'shutdown');
      return;
    }
    this.#items.push(item);
    this.#rows += rows;
    // the oldest goes first; the head only when no insert of it is running (e.g. waiting to retry)
    while ((this.#items.length > this.#opts.maxWindows || this.#rows > this.#opts.maxRows) && this.#items.length > 1) {
      const victim = this.#items.splice(this.#inserting ? 1 : 0, 1)[0];
      this.#rows -= victim.rows;
      this.#drop(victim, 'queue_full');
    }
    this.#worker ??= this.#run().finally(() => {
      this.#worker = null;
    });
  }

  #drop(item: Item, reason: 'queue_full' | 'shutdown'): void {
    this.#dropped[`${item.kind}:${reason}`] = (this.#dropped[`${item.kind}:${reason}`] ?? 0) + 1;
    this.#droppedRows += item.rows;
    this.#opts.onDropped?.(item.kind, reason, item.rows, item.meta);
  }

  async #run(): Promise<void> {
    let delay = this.#opts.retryDelayMs;
    let failing = false;
    while (this.#items.length > 0) {
      const item = this.#items[0];
      try {
        while (item.inserts.length > 0) {
          const ins = item.inserts[0];
          if (ins.rows.length > 0) {
            this.#inserting = true;
            try {
              await this.#store.insert(ins.table, ins.rows);
            } finally {
              this.#inserting = false;
            }
          }
          ins.done?.();
          item.rows -= ins.rows.length;
          this.#rows -= ins.rows.length;
          item.inserts.shift();
        }
        // still the head: it cannot be dropped while one of its inserts runs, and nothing else runs
        // between its last insert and here
        this.#items.shift();
        this.#written++;
        this.#opts.onWritten?.(item.kind);
        delay = this.#opts.retryDelayMs;
        failing = false;
      } catch (e) {
        this.#insertErrors++;
        this.#opts.onError?.(item.kind, e, !failing);
        failing = true;
        if (this.#closed) return; // stop(): what is left is counted there
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#opts.maxRetryDelayMs);
      }
    }
  }

  /** Sleeps, or less when close() wants the worker to give up (one worker: one sleep at a time). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      t.unref();
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = null;
        resolve();
      };
    });
  }

  #wake: (() => void) | null = null;

  /** Resolves when every queued window is written (or `timeoutMs` passed: what is left is dropped). */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#items.length > 0 && Date.now() < deadline) {
      const w = this.#worker;
      if (!w) break;
      await Promise.race([w, sleepMs(Math.max(1, Math.min(200, deadline - Date.now())))]);
    }
  }

  /** Writes what it can within `timeoutMs`, then drops and counts the rest; later enqueues are dropped. */
  async close(timeoutMs = 10_000): Promise<void> {
    await this.drain(timeoutMs);
    this.#closed = true;
    this.#wake?.();
    await this.#worker;
    for (const item of this.#items.splice(0)) {
      this.#rows -= item.rows;
      this.#drop(item, 'shutdown');
    }
  }

  stats(): WriteQueueStats {
    return {
      queuedWindows: this.#items.length,
      queuedRows: this.#rows,
      oldestAgeSeconds: this.#items.length ? (Date.now() - this.#items[0].enqueuedAt) / 1000 : 0,
      written: this.#written,
      insertErrors: this.#insertErrors,
      dropped: { ...this.#dropped },
      droppedRows: this.#droppedRows,
    };
  }
}

/** A wait that keeps the process alive (the caller is waiting on it, e.g. shutdown). */
function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
