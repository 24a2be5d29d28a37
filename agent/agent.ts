/* The agent part of Kiln, built in one place for `kiln run`, the benches and (next) `kiln agent`:
 * host identity built once, every collector of the registry, one scheduler closing their windows into
 * one sink (ARCHITECTURE.md "Composition"). */
import { HostIdentity } from '../host/identity.js';
import { isNativeError, type ProgStat } from '../native/index.js';
import type { Collector, EndedWindow, WindowSink } from '../pipeline/contracts.js';
import { WindowScheduler } from '../pipeline/scheduler.js';
import { ProfileCollector, type UnwindHealth } from '../profiler/collector.js';
import { COLLECTORS, type AgentSettings } from './registry.js';

export interface AgentOptions {
  settings: AgentSettings;
  sink: WindowSink;
  runtimeRoot?: string;
  /** collectors to run, by name (default: all of the registry) */
  only?: string[];
  log: (line: string) => void;
}

/** A collector the kernel refused: one line saying which and why. */
export class CollectorLoadError extends Error {
  override name = 'CollectorLoadError';
}

export interface Agent {
  identity: HostIdentity;
  collectors: Collector[];
  scheduler: WindowScheduler;
  start(): void;
  /** Closes every open window into the sink and stops every collector. */
  stop(): Promise<void>;
  /** /api/v1/status per collector: its own status plus windows flushed and failed */
  status(): Record<string, unknown>;
  losses(): { collector: string; reason: string; value: number }[];
  programs(): ProgStat[];
  /** the profiler's unwinding by tables, for /metrics (null without it) */
  unwind(): UnwindHealth | null;
}

/** An error with its cause chain, one link per part: the user sees why, not only what. */
export function why(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c !== undefined && parts.length < 4; c = (c as Error | undefined)?.cause) parts.push(c instanceof Error ? c.message : String(c));
  return parts.join(': ');
}

export function buildAgent(opts: AgentOptions): Agent {
  let identity: HostIdentity;
  try {
    identity = HostIdentity.create({ runtimeRoot: opts.runtimeRoot, cgroupScope: opts.settings.cgroupScope });
  } catch (e) {
    throw new CollectorLoadError((e as Error).message);
  }
  const collectors: Collector[] = [];
  const shared = {};
  try {
    for (const f of COLLECTORS) {
      if (opts.only && !opts.only.includes(f.name)) continue;
      try {
        collectors.push(f.create({ settings: opts.settings, identity, shared, onError: (e) => opts.log(`${f.name}: ${why(e)}`) }));
      } catch (e) {
        if (isNativeError(e)) throw new CollectorLoadError(`the kernel refused ${f.what} (${e.code}): ${e.message.split('\n')[0]}`);
        throw new CollectorLoadError(`the ${f.name} collector cannot start: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  } catch (e) {
    // what loaded before the failure is released
    for (const c of collectors) void c.stop().catch(() => undefined);
    throw e;
  }
  const scheduler = new WindowScheduler({
    windowSeconds: opts.settings.windowSeconds,
    pollMs: opts.settings.drainIntervalMs,
    host: opts.settings.host,
    collectors,
    sink: opts.sink,
    onError: (name, e) => opts.log(`${name}: ${why(e)}`),
    onLoss: (name, losses, ended: EndedWindow) =>
      opts.log(`${name} lost data in the window of ${new Date(ended.start * 1000).toISOString()}: ${Object.entries(losses).map(([r, n]) => `${n} ${r}`).join(', ')}`),
  });
  return {
    identity,
    collectors,
    scheduler,
    start: () => scheduler.start(),
    stop: () => scheduler.stop(),
    status: () => Object.fromEntries(collectors.map((c) => [c.name, { ...c.health().status, ...scheduler.stats(c.name) }])),
    losses: () => collectors.flatMap((c) => Object.entries(c.health().losses).map(([reason, value]) => ({ collector: c.name, reason, value }))),
    programs: () => collectors.flatMap((c) => c.health().programs),
    unwind: () => collectors.find((c): c is ProfileCollector => c instanceof ProfileCollector)?.unwindHealth() ?? null,
  };
}
