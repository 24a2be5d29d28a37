/* The TCP collector's kernel maps hold their bounds: with more connections open at once than the
 * connection map holds, the overflow is counted (never silent); when they close, every entry leaves
 * the map, and new connections are tracked again with exact bytes. The map serves the whole host:
 * the test counts only its own port's entries, and leaves room for other connections on a busy machine. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bpfTest } from '../testing/testkit.js';
import { TcpCollector } from './tcp-collector.js';

const MAP = 1024;
/** 2 × 700 sockets (both ends) for 1,024 entries */
const MANY = 700;

describe('TCP kernel maps at their bounds', bpfTest(), () => {
  let tcp: TcpCollector;
  const server = createServer((s) => {
    s.on('data', () => undefined);
    s.on('error', () => undefined);
  });
  let port = 0;

  before(async () => {
    tcp = new TcpCollector({ maxConnections: MAP });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server.close();
    tcp?.close();
  });

  async function open(n: number): Promise<Socket[]> {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const s = createConnection({ host: '127.0.0.1', port });
        await once(s, 'connect');
        return s;
      }),
    );
  }

  async function closeAll(socks: Socket[]): Promise<void> {
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.end(() => r()))));
    for (const s of socks) s.destroy();
  }

  it(`counts the connections past ${MAP} entries, empties when they close, then tracks new ones exactly`, async () => {
    const many = await open(MANY);
    tcp.collect();
    assert.ok(tcp.losses().connsMapFull >= BigInt(2 * MANY - MAP), `overflow counted: ${tcp.losses().connsMapFull}`);
    await closeAll(many);
    // every entry of ours leaves the map once its socket closes (drained by collect())
    for (const deadline = Date.now() + 10_000; ; await sleep(100)) {
      tcp.collect();
      if (tcp.openConnections(port) === 0) break;
      assert.ok(Date.now() < deadline, `connections left in the map: ${tcp.openConnections(port)}`);
    }
    const before = tcp.losses().connsMapFull;
    const few = await open(10);
    const payload = Buffer.alloc(10_000, 7);
    await Promise.all(few.map((s) => new Promise<void>((r) => s.write(payload, () => r()))));
    await sleep(200);
    const deltas = tcp.collect().filter((d) => !d.inbound && d.remotePort === port);
    assert.equal(tcp.losses().connsMapFull, before, 'nothing lost once there is room');
    assert.equal(deltas.length, 10);
    assert.ok(deltas.every((d) => d.bytesSent === 10_000), `bytes: ${deltas.map((d) => d.bytesSent)}`);
    await closeAll(few);
  });
});
