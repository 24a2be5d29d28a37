/* The kernel's egress map is bounded (egressKeys distinct sender × stack × peer keys between two
 * drains): sends to more peers than it holds fill it, the points that did not fit are counted as lost
 * (health: egress_map_full), and every point that fit reaches a window. Its own file: one collector per
 * test process. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ProcessTable } from '../host/process-table.js';
import { bpfTest } from '../testing/testkit.js';
import { ProfileCollector } from './collector.js';
import { TcpCollector } from '../netcost/tcp-collector.js';

const PEERS = 16;
const KEYS = 4;

describe('egress stacks: the kernel map bound', bpfTest(), () => {
  it('holds: points past it are counted lost, every point kept reaches a window', { timeout: 120_000 }, async () => {
    const collector = new ProfileCollector({ sampleHz: 19, windowSeconds: 3600, host: 'test', processes: new ProcessTable(), egressBytesPerSample: 4096, egressKeys: KEYS });
    // the sends are counted down by the TCP collector's program, with the profiler's maps
    const tcp = new TcpCollector({ egress: collector.sampler.egressShare() });
    const tcpClosed = () => { try { tcp.openConnections(); return false; } catch { return true; } };
    const servers: net.Server[] = [];
    const clients: net.Socket[] = [];
    try {
      for (let i = 0; i < PEERS; i++) {
        const s = net.createServer((c) => c.resume());
        s.listen(0, '127.0.0.1');
        await once(s, 'listening');
        servers.push(s);
        const c = net.connect((s.address() as net.AddressInfo).port, '127.0.0.1');
        await once(c, 'connect');
        clients.push(c);
      }
      const chunk = Buffer.alloc(256 << 10, 1);
      // several rounds, each filling the map between two drains
      for (let round = 0; round < 5; round++) {
        await Promise.all(clients.map((c) => new Promise<void>((r) => (c.write(chunk) ? r() : c.once('drain', () => r())))));
        await collector.tick();
      }
      // no more points from here (other processes send too): the counters and the windows then agree
      tcp.close();
      await collector.tick(true);
      const windows = await collector.closeWindows({ start: 0, seconds: 3600 }, true);
      const st = collector.stats();
      const kept = windows.flatMap((w) => w.kind === 'profile' ? (w.egress?.profiles ?? []) : []).flatMap((p) => p.stacks).reduce((n, s) => n + s.count, 0);
      // 16 peers × 256 KiB per round at 4 KiB a point: ~1,000 points a round, in 16+ keys of which 4 fit
      assert.ok(st.egressPointsLost > 0n, `lost ${st.egressPointsLost}, kept ${st.egressPoints}`);
      assert.equal(BigInt(kept), st.egressPoints, 'every point the map took reached a window');
      const peersKept = new Set(windows.flatMap((w) => (w.kind === 'profile' ? (w.egress?.profiles ?? []) : [])).map((p) => p.peerPort));
      assert.ok(peersKept.size <= KEYS * 6, `at most ${KEYS} keys per drain: ${peersKept.size} peers kept`);
      assert.equal(collector.health().losses.egress_map_full, Number(st.egressPointsLost));
      // points kept and lost together are the bytes sent at 4 KiB a point
      const all = Number(st.egressPoints + st.egressPointsLost);
      const expected = (PEERS * 5 * chunk.length) / st.egressBytesPerSample;
      assert.ok(Math.abs(all / expected - 1) < 0.1, `${all} points for ${expected} expected`);
    } finally {
      for (const c of clients) c.destroy();
      for (const s of servers) s.close();
      if (!tcpClosed()) tcp.close();
      await collector.stop();
    }
  });
});
