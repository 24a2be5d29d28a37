/* The pipeline's contracts (ARCHITECTURE.md "Contracts"): a Collector closes windows when the scheduler
 * asks, a window travels in one envelope, and a WindowSink takes it (the local store, the metrics tee,
 * and later the gRPC push to a server). Collectors know nothing of sinks, sinks nothing of collectors. */
import type { ProgStat } from '../native/index.js';
import type { ProfileWindow } from '../profiler/window.js';
import type { RunqWindow } from '../runq/collector.js';
import type { FlowWindow } from '../netcost/flows.js';
import type { DnsWindow } from '../dns/aggregate.js';

/** What a window envelope holds, by kind: start, seconds and host always; then the kind's rows (a
 *  profile's are `apps`, the others' `rows`). */
export interface WindowKinds {
  profile: ProfileWindow;
  runq: RunqWindow;
  netflow: FlowWindow;
  dns: DnsWindow;
  losses: LossWindow;
}
export type WindowKind = keyof WindowKinds;
export type WindowEnvelope<K extends WindowKind = WindowKind> = { [P in K]: { kind: P } & WindowKinds[P] }[K];

/** What one collector lost while a window was open, by reason (the reasons of its health().losses). */
export interface LossWindow {
  start: number;
  seconds: number;
  host: string;
  rows: { collector: string; reason: string; count: number }[];
}

/** The window that just ended, which the scheduler asks every collector to close. */
export interface EndedWindow {
  start: number;
  seconds: number;
}

export interface CollectorHealth {
  /** counters and settings for /api/v1/status, under the collector's name */
  status: Record<string, unknown>;
  /** cumulative losses since start, by reason (snake_case: the `reason` label on /metrics) */
  losses: Record<string, number>;
  /** the collector's BPF programs with the kernel's run-time accounting */
  programs: ProgStat[];
}

export interface Collector {
  /** its name in /api/v1/status, /metrics (`collector` label) and collector_losses */
  readonly name: string;
  /** Attaches; keeps no timer of its own (the scheduler's clock calls poll). */
  start(): void;
  /**
   * Reads what the kernel gathered since the last poll (drains maps, ring buffers), on the agent's one
   * clock: every collector is polled in turn on one timer, once a second by default, because on this
   * kind of host every wake-up of the event loop costs ~0.1-0.2 ms of CPU whatever it does
   * (ARCHITECTURE.md "One clock"). Never called twice at once; errors are counted by the scheduler.
   */
  poll?(): Promise<void>;
  /**
   * A cheap synchronous look between polls (every GLANCE_MS, while `glancing()`), for what cannot wait:
   * the profiler reads a process it has just met while it still lives. Errors are counted as poll errors.
   */
  glance?(): void;
  /** Whether glances are wanted now (asked after every poll; the glance stops when none wants it). */
  glancing?(): boolean;
  /**
   * The windows that are complete now that `ended` has ended (every window still open when `final`,
   * at shutdown). Never called twice at once (the scheduler waits for one before the next).
   */
  closeWindows(ended: EndedWindow, final: boolean): Promise<WindowEnvelope[]>;
  /** Stops collecting and releases its BPF objects; called after the final closeWindows. */
  stop(): Promise<void>;
  health(): CollectorHealth;
}

export interface WindowSink {
  /** Takes a window; never waits for storage or the network (a sink queues, bounded, and counts drops). */
  write(w: WindowEnvelope): void;
  /** The windows written since the last seal belong together (the scheduler seals after each close):
   *  a sink that sends batches makes them one batch. */
  seal?(): void;
  /** Resolves when what was written is delivered, or `timeoutMs` passed. */
  flush(timeoutMs: number): Promise<void>;
  /** Delivers what it can within `timeoutMs`, counts the rest as dropped, and stops taking windows. */
  close(timeoutMs: number): Promise<void>;
}
