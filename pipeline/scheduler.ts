/* One scheduler closes every collector's windows: just after each wall-clock window boundary (plus
 * 200 ms, so the window is complete), never overlapping itself, timers unref'd; the final windows on
 * stop. It counts what each collector flushed and failed, and turns the growth of each collector's loss
 * counters into a losses window, so every sink learns what was lost and when. */
import type { Collector, EndedWindow, WindowSink } from './contracts.js';

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
}

export interface SchedulerStats {
  windowsFlushed: number;
  windowErrors: number;
}

export class WindowScheduler {
  readonly #opts: SchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #lastTick: number;
  #stopped = false;
  readonly #stats = new Map<string, SchedulerStats>();
  readonly #lastLosses = new Map<string, Record<string, number>>();

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
    this.#lastTick = this.#now();
    for (const c of opts.collectors) {
      this.#stats.set(c.name, { windowsFlushed: 0, windowErrors: 0 });
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

  #arm(): void {
    if (this.#stopped) return;
    const w = this.#opts.windowSeconds * 1000;
    const now = this.#now() * 1000;
    const next = Math.floor(now / w) * w + w + 200;
    this.#timer = setTimeout(() => void this.tick().finally(() => this.#arm()), next - now);
    this.#timer.unref();
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
  }

  /** Closes every window still open, then stops every collector. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
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
    return { ...(this.#stats.get(name) ?? { windowsFlushed: 0, windowErrors: 0 }) };
  }
}
