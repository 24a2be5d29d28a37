/* A sink that hands every window to several sinks in turn (e.g. the metrics tee, then the store). */
import type { WindowEnvelope, WindowSink } from './contracts.js';

export function teeSink(...sinks: WindowSink[]): WindowSink {
  return {
    write(w: WindowEnvelope): void {
      for (const s of sinks) s.write(w);
    },
    seal(): void {
      for (const s of sinks) s.seal?.();
    },
    async flush(timeoutMs: number): Promise<void> {
      await Promise.all(sinks.map((s) => s.flush(timeoutMs)));
    },
    async close(timeoutMs: number): Promise<void> {
      await Promise.all(sinks.map((s) => s.close(timeoutMs)));
    },
  };
}
