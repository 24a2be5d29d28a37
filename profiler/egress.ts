/* Egress stacks per window (ARCHITECTURE.md, "Egress stacks"): the code paths that sent TCP bytes, as
 * sample points per (process, peer, stack). A point stands for `bytesPerSample` bytes on average; the
 * store's readers scale each connection's points to the exact bytes the TCP collector counted. */
import { windowStart } from '../pipeline/scheduler.js';
import type { Frame } from './types.js';
import { stackKey, type ProcessLabels, type StackCount } from './window.js';

/** One process's code paths to one peer in one window; `stacks[].count` are sample points. */
export interface EgressProfile extends ProcessLabels {
  app: string;
  containerId: string;
  peerAddress: string;
  peerPort: number;
  stacks: StackCount[];
}

export interface EgressWindow {
  start: number;
  seconds: number;
  /** the mean bytes between two sample points (the exact mean of the gaps the kernel draws from) */
  bytesPerSample: number;
  profiles: EgressProfile[];
  /** points filed under FOLDED_FRAME: their application had MAX_EGRESS_STACKS_PER_APP stacks already */
  foldedPoints: number;
}

/** distinct code paths one application keeps in one window; the rest are folded into one */
export const MAX_EGRESS_STACKS_PER_APP = 1000;
export const FOLDED_FRAME = '[other code paths: too many distinct egress stacks in window]';
const FOLDED: Frame[] = [{ name: FOLDED_FRAME, mapping: { file: '[folded]', buildId: '', start: 0n, limit: 0n, offset: 0n }, address: 0n }];
const FOLDED_KEY = stackKey(FOLDED);

interface Win {
  groups: Map<string, EgressProfile & { byKey: Map<string, StackCount> }>;
  stacksOf: Map<string, number>;
  folded: number;
}

export class EgressAggregator {
  readonly #windows = new Map<number, Win>();

  constructor(
    readonly windowSeconds: number,
    readonly bytesPerSample: number,
    readonly maxStacksPerApp = MAX_EGRESS_STACKS_PER_APP,
  ) {}

  add(unixSeconds: number, app: string, containerId: string, proc: ProcessLabels, peerAddress: string, peerPort: number, frames: Frame[], key: string, points: number): void {
    const start = windowStart(unixSeconds, this.windowSeconds);
    let w = this.#windows.get(start);
    if (!w) {
      w = { groups: new Map(), stacksOf: new Map(), folded: 0 };
      this.#windows.set(start, w);
    }
    const appKey = `${app}\u0000${containerId}`;
    const gk = `${appKey}\u0000${proc.pid}\u0000${proc.cmdline}\u0000${proc.exe}\u0000${peerAddress}\u0000${peerPort}`;
    let g = w.groups.get(gk);
    if (!g) {
      g = { app, containerId, pid: proc.pid, exe: proc.exe, cmdline: proc.cmdline, peerAddress, peerPort, stacks: [], byKey: new Map() };
      w.groups.set(gk, g);
    }
    let s = g.byKey.get(key);
    if (!s) {
      const n = w.stacksOf.get(appKey) ?? 0;
      if (n >= this.maxStacksPerApp) {
        w.folded += points;
        frames = FOLDED;
        key = FOLDED_KEY;
        s = g.byKey.get(key);
      } else {
        w.stacksOf.set(appKey, n + 1);
      }
      if (!s) {
        s = { frames, count: 0 };
        g.byKey.set(key, s);
        g.stacks.push(s);
      }
    }
    s.count += points;
  }

  /** Removes and returns every window that ended at or before `unixSeconds` (all: `Infinity`). */
  take(unixSeconds: number): EgressWindow[] {
    const out: EgressWindow[] = [];
    for (const [start, w] of [...this.#windows].sort((a, b) => a[0] - b[0])) {
      if (start + this.windowSeconds > unixSeconds) continue;
      this.#windows.delete(start);
      out.push({
        start,
        seconds: this.windowSeconds,
        bytesPerSample: this.bytesPerSample,
        foldedPoints: w.folded,
        profiles: [...w.groups.values()].map(({ byKey: _, ...p }) => p),
      });
    }
    return out;
  }
}
