/* The window scheduler with collectors of the test's own (the contract is small enough to implement in
 * a few lines): every collector is asked to close the window that just ended, windows go to the sink,
 * a failing collector does not stop the others, loss growth becomes a losses window, ticks never
 * overlap, and stop() closes what is open before stopping every collector. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Collector, EndedWindow, WindowEnvelope, WindowSink } from './contracts.js';
import { WindowScheduler, windowStart } from './scheduler.js';

class TestCollector implements Collector {
  calls: { ended: EndedWindow; final: boolean }[] = [];
  lost = 0;
  stopped = false;
  running = 0;
  maxRunning = 0;
  constructor(
    readonly name: string,
    readonly fail = false,
  ) {}
  start(): void {}
  async closeWindows(ended: EndedWindow, final: boolean): Promise<WindowEnvelope[]> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise((r) => setTimeout(r, 5));
    this.running--;
    this.calls.push({ ended, final });
    if (this.fail) throw new Error(`${this.name} broke`);
    return [{ kind: 'runq', start: ended.start, seconds: ended.seconds, host: 'h', rows: [] }];
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  health() {
    return { status: {}, losses: { map_full: this.lost }, programs: [] };
  }
}

function collectingSink(): WindowSink & { got: WindowEnvelope[] } {
  const got: WindowEnvelope[] = [];
  return { got, write: (w) => void got.push(w), flush: async () => undefined, close: async () => undefined };
}

describe('window scheduler', () => {
  it('closes the window that just ended in every collector, counts, and passes losses on', async () => {
    let now = 1000.2; // just after the boundary of the window [990, 1000)
    const a = new TestCollector('a');
    const b = new TestCollector('b', true);
    const sink = collectingSink();
    const errors: string[] = [];
    const s = new WindowScheduler({ windowSeconds: 10, host: 'h', collectors: [a, b], sink, now: () => now, onError: (n, e) => errors.push(`${n}: ${(e as Error).message}`) });
    now = 1010.2;
    a.lost = 3;
    await Promise.all([s.tick(), s.tick()]); // the second call joins the first
    assert.equal(a.calls.length, 1);
    assert.deepEqual(a.calls[0], { ended: { start: 1000, seconds: 10 }, final: false });
    assert.deepEqual(errors, ['b: b broke'], 'a failing collector is reported, the others go on');
    assert.deepEqual(s.stats('a'), { windowsFlushed: 1, windowErrors: 0, pollErrors: 0 });
    assert.deepEqual(s.stats('b'), { windowsFlushed: 0, windowErrors: 1, pollErrors: 0 });
    assert.deepEqual(
      sink.got.map((w) => w.kind),
      ['runq', 'losses'],
    );
    const losses = sink.got[1];
    assert.ok(losses.kind === 'losses');
    assert.deepEqual(losses.rows, [{ collector: 'a', reason: 'map_full', count: 3 }]);
    assert.equal(losses.start, 1000);
    // no growth, no losses window
    now = 1020.2;
    await s.tick();
    assert.equal(sink.got.filter((w) => w.kind === 'losses').length, 1);
    assert.equal(a.maxRunning, 1, 'never overlapping');
    await s.stop();
    assert.equal(a.calls.at(-1)!.final, true, 'stop closes what is open');
    assert.ok(a.stopped && b.stopped);
  });

  it('runs one clock: polls every collector in turn, closes windows after a boundary, counts failed polls', async () => {
    const order: string[] = [];
    let inPoll = 0;
    let overlapped = false;
    const polling = (name: string, fail: boolean) =>
      Object.assign(new TestCollector(name), {
        async poll() {
          if (inPoll++) overlapped = true;
          await new Promise((r) => setTimeout(r, 2));
          inPoll--;
          order.push(name);
          if (fail) throw new Error(`${name} poll broke`);
        },
      });
    const a = polling('a', false);
    const b = polling('b', true);
    const errors: string[] = [];
    const s = new WindowScheduler({ windowSeconds: 1, pollMs: 100, host: 'h', collectors: [a, b], sink: collectingSink(), onError: (n, e) => errors.push(`${n}: ${(e as Error).message}`) });
    s.start();
    const deadline = Date.now() + 10_000;
    while ((a.calls.length < 2 || order.length < 12) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await s.stop();
    assert.ok(a.calls.length >= 2, `windows closed on the clock (${a.calls.length})`);
    assert.ok(order.length >= 12, `polled on the clock (${order.length})`);
    assert.deepEqual(order.slice(0, 4), ['a', 'b', 'a', 'b'], 'every collector in turn, in order');
    assert.equal(overlapped, false, 'polls never overlap');
    assert.equal(s.stats('b').pollErrors, order.filter((n) => n === 'b').length, 'every failed poll counted');
    assert.equal(s.stats('a').pollErrors, 0);
    assert.ok(errors.every((e) => e === 'b: b poll broke'));
    // a window is closed once: consecutive closes end consecutive windows
    const starts = a.calls.filter((c) => !c.final).map((c) => c.ended.start);
    for (let i = 1; i < starts.length; i++) assert.equal(starts[i], starts[i - 1] + 1, `windows ${starts.join(', ')}`);
  });

  it('aligns windows to the wall clock', () => {
    assert.equal(windowStart(125.7, 60), 120);
    assert.equal(windowStart(120, 60), 120);
  });
});
