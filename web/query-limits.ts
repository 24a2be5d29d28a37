/* Bounds on what API load can cost (as Prometheus bounds it with --query.max-concurrency and
 * --query.timeout): at most `maxRunning` data requests at once, `maxWaiting` more queued for a slot for
 * at most `waitTimeoutMs`; past that 429 (queue full) or 503 (waited too long), each with its reason.
 * The store itself bounds each query's run time and writes go before queries, so collection is never
 * stalled by readers. */
import type { MiddlewareHandler } from 'hono';

export interface QueryLimitOptions {
  maxRunning: number;
  maxWaiting: number;
  waitTimeoutMs: number;
}

export interface QueryLimitStats {
  running: number;
  waiting: number;
  rejectedBusy: number;
  rejectedWait: number;
}

export class QueryLimiter {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  rejectedBusy = 0;
  rejectedWait = 0;

  constructor(readonly opts: QueryLimitOptions) {}

  stats(): QueryLimitStats {
    return { running: this.#running, waiting: this.#waiting.length, rejectedBusy: this.rejectedBusy, rejectedWait: this.rejectedWait };
  }

  middleware(): MiddlewareHandler {
    const limiter = this;
    return async function queryLimits(c, next) {
      const { maxRunning, maxWaiting, waitTimeoutMs } = limiter.opts;
      if (limiter.#running >= maxRunning) {
        if (limiter.#waiting.length >= maxWaiting) {
          limiter.rejectedBusy++;
          return c.json({ error: `too many queries in flight (${limiter.#running} running, ${limiter.#waiting.length} waiting; limits ${maxRunning} and ${maxWaiting}): retry later` }, 429, { 'retry-after': '2' });
        }
        const got = await new Promise<boolean>((resolve) => {
          const grant = () => {
            clearTimeout(timer);
            resolve(true);
          };
          const timer = setTimeout(() => {
            const i = limiter.#waiting.indexOf(grant);
            if (i >= 0) limiter.#waiting.splice(i, 1);
            resolve(false);
          }, waitTimeoutMs);
          limiter.#waiting.push(grant);
        });
        if (!got) {
          limiter.rejectedWait++;
          return c.json({ error: `the store is busy: no query slot within ${waitTimeoutMs / 1000} s (${maxRunning} queries at once): retry later` }, 503, { 'retry-after': '5' });
        }
      } else limiter.#running++;
      // a granted waiter inherits the slot of the request that finished: #running stays counted
      try {
        await next();
      } finally {
        const nextWaiter = limiter.#waiting.shift();
        if (nextWaiter) nextWaiter();
        else limiter.#running--;
      }
    };
  }
}
