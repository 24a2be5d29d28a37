/* The real processes: `kiln server` and `kiln agent` (real BPF collectors, 5 s windows) over gRPC on
 * loopback. The server is killed (SIGKILL: no goodbye, a group may be cut mid-insert) for 30 s while
 * the agent runs, then started again: every window the agent produced in the gap is stored exactly once,
 * the sample and byte totals in the store equal what the agent says it produced. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ChdbStore } from '../store/adapters/chdb.js';
import { bpfTest, freePort, getJson, randomHex, startKilnCommand, tempDir, waitExit, type KilnProcess } from '../testing/testkit.js';

interface AgentStatus {
  push: { registered: boolean; spool: { batches: number; acknowledged: number }; pushes: Record<string, number>; failures: number };
}

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('kiln agent → kiln server, the server killed for 30 s', bpfTest(), () => {
  const procs: KilnProcess[] = [];
  after(async () => {
    for (const p of procs) await p.stop();
  });

  it('stores every window of the gap exactly once: the totals equal what the agent produced', async () => {
    const serverDir = tempDir('e2e-server');
    const agentDir = tempDir('e2e-agent');
    const [apiPort, ingestPort, agentPort] = [await freePort(), await freePort(), await freePort()];
    const hostName = `e2e-${randomHex(4)}`;
    const startServer = async () => {
      const s = await startKilnCommand('server', ['--data-dir', serverDir, '--listen', `127.0.0.1:${apiPort}`, '--ingest-listen', `127.0.0.1:${ingestPort}`], 'server listening on', 60_000);
      procs.push(s);
      return s;
    };
    let server = await startServer();
    const agent = await startKilnCommand('agent', ['--server', `127.0.0.1:${ingestPort}`, '--data-dir', agentDir, '--window', '5', '--listen', `127.0.0.1:${agentPort}`, '--host-name', hostName], 'pushing', 120_000);
    procs.push(agent);
    const status = async () => (await getJson<AgentStatus>(`http://127.0.0.1:${agentPort}/api/v1/status`)).body.push;

    await until('the agent to push its first batches', async () => ((await status()).pushes.OK ?? 0) >= 2, 60_000);
    server.proc.kill('SIGKILL');
    await waitExit(server.proc);
    const downAt = Date.now();
    await until('pushes to fail', async () => (await status()).failures > 0, 30_000);
    // the gap: 30 s of windows go to the spool only
    await until('30 s with the server away', () => Date.now() - downAt >= 30_000, 40_000);
    const during = await status();
    assert.ok(during.spool.batches >= 4, `${during.spool.batches} batches waited in the spool`);
    const ackedBefore = during.spool.acknowledged;

    server = await startServer();
    await until('the spool to drain', async () => {
      const s = await status();
      return s.failures === 0 && s.spool.acknowledged >= ackedBefore + during.spool.batches;
    }, 60_000);

    // stop the agent first: it closes its open windows and sends them; its last line says what it produced
    await agent.stop();
    const m = /stopped: (\d+) windows spooled \((\d+) samples, (\d+) bytes sent by flows\); (\d+) batches acknowledged, (\d+) left in the spool.*dropped: (.*)/.exec(agent.log());
    assert.ok(m, agent.log());
    const [windows, samples, bytesSent, , left, dropped] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), m[6]];
    assert.equal(left, 0, 'every batch acknowledged');
    assert.equal(dropped.trim(), 'none');
    assert.ok(samples > 0 && bytesSent > 0 && windows > 0, m[0]);
    assert.match(agent.log(), /retrying with backoff, batches stay in the spool/);
    assert.match(agent.log(), /the server takes batches again/);

    await server.stop();
    const store = new ChdbStore(serverDir);
    try {
      const sum = async (sql: string) => Number((await store.query<{ n: string }>(sql, { h: hostName }))[0].n);
      assert.equal(await sum('SELECT sum(samples) AS n FROM profile_samples WHERE host = {h:String}'), samples, 'samples stored once each');
      assert.equal(await sum('SELECT sum(samples) AS n FROM profile_samples_1h WHERE host = {h:String}'), samples, 'the hourly rollup too');
      assert.equal(await sum('SELECT sum(bytes_sent) AS n FROM net_flows WHERE host = {h:String}'), bytesSent, 'flow bytes stored once each');
    } finally {
      await store.close();
    }
  });
});
