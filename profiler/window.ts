/* Per-application aggregation of symbolized samples into fixed windows (aligned to the wall clock). */
import { createHash } from 'node:crypto';
import { windowStart } from '../pipeline/scheduler.js';
import type { Frame } from './types.js';
import type { EgressWindow } from './egress.js';

export interface StackCount {
  /** root first */
  frames: Frame[];
  count: number;
}

/** Which process samples came from (README "Process labels"): what tells two services behind one
 *  executable name apart, and one process from the rest of its application. */
export interface ProcessLabels {
  /** 0: a kernel thread, or OTHER_PROCESSES */
  pid: number;
  /** the executable's path ('' when unreadable) */
  exe: string;
  /** the command line, cut to MAX_CMDLINE_CHARS ('' when unreadable) */
  cmdline: string;
}

/** where an application's processes past MAX_PROCESSES_PER_APP in one window are filed */
export const OTHER_PROCESSES: ProcessLabels = { pid: 0, exe: '', cmdline: '[other processes]' };
/** samples whose process is not known (callers without labels) */
export const NO_PROCESS: ProcessLabels = { pid: 0, exe: '', cmdline: '' };
/** distinct processes one application (in one container) keeps its own labels for in one window: a
 *  script forking thousands of short commands would otherwise make a row per command and stack */
export const MAX_PROCESSES_PER_APP = 64;

/** One process's samples (one application, one container: '' outside containers) for one window. */
export interface AppProfile extends Partial<ProcessLabels> {
  app: string;
  containerId: string;
  stacks: StackCount[];
}

export interface ProfileWindow {
  /** unix seconds, a multiple of `seconds` */
  start: number;
  seconds: number;
  host: string;
  periodNs: number;
  apps: AppProfile[];
  /** samples folded into [truncated] stacks because the window hit its distinct-stack limit */
  truncatedSamples: number;
  /** samples filed under OTHER_PROCESSES because their application had MAX_PROCESSES_PER_APP already */
  otherProcessSamples?: number;
  /** the code paths that sent TCP bytes in this window (egress stacks on) */
  egress?: Omit<EgressWindow, 'start' | 'seconds'>;
}

interface AppAgg extends ProcessLabels {
  app: string;
  containerId: string;
  stacks: Map<string, StackCount>;
}

export const TRUNCATED_FRAME = '[truncated: too many distinct stacks in window]';

/** A stack's identity for aggregation: 128 bits of a hash of every frame's name, file and address (the
 *  whole text as a key ran to kilobytes per stack, held by the window and the collector's cache). */
export function stackKey(frames: Frame[]): string {
  const h = createHash('md5');
  for (const f of frames) h.update(`${f.name}\u0001${f.mapping.file}\u0001${f.address.toString(16)}\u0002`);
  return h.digest('base64');
}

export class WindowAggregator {
  readonly #windows = new Map<number, { apps: Map<string, AppAgg>; processesOf: Map<string, number>; stacks: number; truncated: number; otherProcesses: number }>();

  constructor(
    readonly windowSeconds: number,
    readonly host: string,
    readonly periodNs: number,
    /** distinct stacks one window may hold (all apps); beyond it samples go to a [truncated] stack */
    readonly maxStacksPerWindow = 200_000,
  ) {}

  /** @param key stackKey(frames), when the caller already has it */
  add(unixSeconds: number, app: string, containerId: string, frames: Frame[], count: number, key = stackKey(frames), proc: ProcessLabels = NO_PROCESS): void {
    const start = windowStart(unixSeconds, this.windowSeconds);
    let w = this.#windows.get(start);
    if (!w) {
      w = { apps: new Map(), processesOf: new Map(), stacks: 0, truncated: 0, otherProcesses: 0 };
      this.#windows.set(start, w);
    }
    const appKey = `${app}\u0000${containerId}`;
    let procKey = `${appKey}\u0000${proc.pid}\u0000${proc.cmdline}\u0000${proc.exe}`;
    let a = w.apps.get(procKey);
    if (!a) {
      const n = w.processesOf.get(appKey) ?? 0;
      if (n >= MAX_PROCESSES_PER_APP) {
        proc = OTHER_PROCESSES;
        procKey = `${appKey}\u0000${proc.pid}\u0000${proc.cmdline}\u0000${proc.exe}`;
        a = w.apps.get(procKey);
        w.otherProcesses += count;
      }
      if (!a) {
        if (proc !== OTHER_PROCESSES) w.processesOf.set(appKey, n + 1);
        a = { app, containerId, pid: proc.pid, exe: proc.exe, cmdline: proc.cmdline, stacks: new Map() };
        w.apps.set(procKey, a);
      }
    }
    let s = a.stacks.get(key);
    if (!s && w.stacks >= this.maxStacksPerWindow) {
      w.truncated += count;
      frames = [{ name: TRUNCATED_FRAME, mapping: { file: '[truncated]', buildId: '', start: 0n, limit: 0n, offset: 0n }, address: 0n }];
      key = stackKey(frames);
      s = a.stacks.get(key);
    }
    if (s) s.count += count;
    else {
      a.stacks.set(key, { frames, count });
      w.stacks++;
    }
  }

  /** Removes and returns every window that ended at or before `unixSeconds`. */
  takeCompleted(unixSeconds: number): ProfileWindow[] {
    return this.#take((start) => start + this.windowSeconds <= unixSeconds);
  }

  /** Removes and returns every window, complete or not (shutdown). */
  takeAll(): ProfileWindow[] {
    return this.#take(() => true);
  }

  #take(pred: (start: number) => boolean): ProfileWindow[] {
    const out: ProfileWindow[] = [];
    for (const [start, w] of [...this.#windows].sort((a, b) => a[0] - b[0])) {
      if (!pred(start)) continue;
      this.#windows.delete(start);
      out.push({
        start,
        seconds: this.windowSeconds,
        host: this.host,
        periodNs: this.periodNs,
        truncatedSamples: w.truncated,
        otherProcessSamples: w.otherProcesses,
        apps: [...w.apps.values()].map((a) => ({ app: a.app, containerId: a.containerId, pid: a.pid, exe: a.exe, cmdline: a.cmdline, stacks: [...a.stacks.values()] })),
      });
    }
    return out;
  }
}
