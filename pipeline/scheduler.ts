/* One scheduler runs the agent's one clock (ARCHITECTURE.md "One clock"): a single unref'd timer, 200 ms
 * after every wall-clock second (every `pollMs`), polls each collector in turn and, after each window
 * boundary, closes every collector's windows; never overlapping itself; the final windows on stop.
 * Between polls it glances (every GLANCE_MS) at the collectors that ask for it. It counts what each
 * collector flushed and failed, and turns the growth of each collector's loss counters into a losses
 * window, so every sink learns what was lost and when. */
import type { Collector, EndedWindow, WindowSink } from './contracts.js';

/** The period of the clock's glance between polls (Collector.glance): a process that lives this long
 *  is read while it lives. Four wake-ups a second cost ~0.05% of a core on this kind of host. */
export const GLANCE_MS = 250;

export function windowStart(unixSeconds: number, windowSeconds: number): number {
  return Math.floor(unixSeconds / windowSeconds) * windowSeconds;
}

export interface SchedulerOptions {
  windowSeconds: number;
  host: string;
  collectors: Collector[];
  sink: WindowSink;
  onError?: (collector: string, e: unknown) => void;
  /** losses of one collector in the window that just ended, by reason (logged by the caller) */
  onLoss?: (collector: string, losses: Record<string, number>, ended: EndedWindow) => void;
  now?: () => number;
  /** the clock's period: how often every collector is polled (default 1000 ms; a divisor of the window) */
  pollMs?: number;
}

export interface SchedulerStats {
  windowsFlushed: number;
  windowErrors: number;
  pollErrors: number;
}

export class WindowScheduler {
  readonly #opts: SchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #clock: Promise<void> | null = null;
  #lastTick: number;
  /** start of the window the last close ended */
  #lastClosed: number;
  #stopped = false;
  readonly #stats = new Map<string, SchedulerStats>();
  readonly #lastLosses = new Map<string, Record<string, number>>();

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
    this.#lastTick = this.#now();
    this.#lastClosed = windowStart(this.#lastTick, opts.windowSeconds) - opts.windowSeconds;
    for (const c of opts.collectors) {
      this.#stats.set(c.name, { windowsFlushed: 0, windowErrors: 0, pollErrors: 0 });
      this.#lastLosses.set(c.name, { ...c.health().losses });
    }
  }

  #now(): number {
    return this.#opts.now?.() ?? Date.now() / 1000;
  }

  start(): void {
    for (const c of this.#opts.collectors) c.start();
    this.#arm();
  }

  /** The glance runs only while some collector wants it (the profiler: while new processes come), so
   *  a host whose processes live on pays no wake-up for it. Checked after every poll. */
  #updateGlance(): void {
    const glancing = this.#stopped ? [] : this.#opts.collectors.filter((c) => c.glance && c.glancing?.());
    if (glancing.length === 0) {
      if (this.#glancer) clearInterval(this.#glancer);
      this.#glancer = undefined;
      return;
    }
    if (this.#glancer) return;
    this.#glancer = setInterval(() => {
      for (const c of glancing) {
        try {
          c.glance!();
        } catch (e) {
          this.#stats.get(c.name)!.pollErrors++;
          this.#opts.onError?.(c.name, e);
        }
      }
    }, GLANCE_MS);
    this.#glancer.unref();
  }
  #glancer: NodeJS.Timeout | undefined;

  #arm(): void {
    if (this.#stopped) return;
    const p = this.#opts.pollMs ?? 1000;
    const now = Date.now();
    const next = Math.floor((now - 200) / p) * p + p + 200;
    this.#timer = setTimeout(() => void this.#beat().finally(() => this.#arm()), next - now);
    this.#timer.unref();
  }

  /** One beat of the clock: every collector polled, then the windows closed if a boundary has passed. */
  #beat(): Promise<void> {
    this.#clock ??= (async () => {
      await this.poll();
      this.#updateGlance();
      const w = windowStart(this.#now() - 0.2, this.#opts.windowSeconds) - this.#opts.windowSeconds;
      if (w > this.#lastClosed && !this.#stopped) await this.tick();
    })().finally(() => {
      this.#clock = null;
    });
    return this.#clock;
  }

  /** Polls every collector once, in turn (a fault in one is counted and logged; the others go on). */
  async poll(): Promise<void> {
    for (const c of this.#opts.collectors) {
      if (!c.poll) continue;
      try {
        await c.poll();
      } catch (e) {
        this.#stats.get(c.name)!.pollErrors++;
        this.#opts.onError?.(c.name, e);
      }
    }
  }

  /** Closes the window that just ended in every collector; a tick already running is joined. */
  tick(final = false): Promise<void> {
    this.#running ??= this.#tick(final).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #tick(final: boolean): Promise<void> {
    const now = this.#now();
    const seconds = this.#opts.windowSeconds;
    // what was collected since the last tick belongs to the window holding it, or the one just ended
    const ended: EndedWindow = { start: windowStart(Math.max(this.#lastTick, now - seconds + 0.5), seconds), seconds };
    this.#lastTick = now;
    this.#lastClosed = Math.max(this.#lastClosed, ended.start);
    const lossRows: { collector: string; reason: string; count: number }[] = [];
    for (const c of this.#opts.collectors) {
      const st = this.#stats.get(c.name)!;
      try {
        for (const w of await c.closeWindows(ended, final)) {
          this.#opts.sink.write(w);
          st.windowsFlushed++;
        }
      } catch (e) {
        st.windowErrors++;
        this.#opts.onError?.(c.name, e);
      }
      const now = c.health().losses;
      const before = this.#lastLosses.get(c.name) ?? {};
      const grew: Record<string, number> = {};
      for (const [reason, n] of Object.entries(now)) if (n > (before[reason] ?? 0)) grew[reason] = n - (before[reason] ?? 0);
      this.#lastLosses.set(c.name, { ...now });
      if (Object.keys(grew).length) {
        this.#opts.onLoss?.(c.name, grew, ended);
        for (const [reason, count] of Object.entries(grew)) lossRows.push({ collector: c.name, reason, count });
      }
    }
    if (lossRows.length) this.#opts.sink.write({ kind: 'losses', start: ended.start, seconds, host: this.#opts.host, rows: lossRows });
    this.#opts.sink.seal?.();
  }

  /** Closes every window still open, then stops every collector. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#glancer) clearInterval(this.#glancer);
    await this.#clock;
    await this.#running;
    await this.tick(true);
    for (const c of this.#opts.collectors) {
      try {
        await c.stop();
      } catch (e) {
        this.#opts.onError?.(c.name, e);
      }
    }
  }

  stats(name: string): SchedulerStats {
    return { ...(this.#stats.get(name) ?? { windowsFlushed: 0, windowErrors: 0, pollErrors: 0 }) };
  }
}
