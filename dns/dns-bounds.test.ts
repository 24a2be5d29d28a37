/* The DNS collector's socket map holds its bound: unconnected sockets that sent to port 53 (the only ones
 * it keeps: a connected socket's peer port says it is DNS) leave it at the next window when their process
 * has exited (an LRU eviction would otherwise push out live sockets silently), counted. Sends go to
 * 127.0.0.1:53 where nothing answers: nothing leaves this machine. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostIdentity } from '../host/identity.js';
import { bpfTest, tempDir, testdataDir } from '../testing/testkit.js';
import { DnsCollector } from './collector.js';

describe('DNS socket map under process churn', bpfTest(), () => {
  let dns: DnsCollector;
  let churn: string;

  before(() => {
    churn = join(tempDir('dnschurn'), 'dnschurn');
    execFileSync('cc', ['-O2', '-o', churn, join(testdataDir, 'dnschurn.c')]);
    dns = new DnsCollector({ windowSeconds: 3600, host: 'test', identity: HostIdentity.create(), maxSockets: 1024 });
    dns.start();
  });

  after(async () => {
    await dns?.stop();
  });

  it('removes the sockets of 600 exited processes at the next window, and counts them', async () => {
    // each is a process of its own that sends a byte to port 53 from an unconnected UDP socket
    execFileSync(churn, ['600']);
    await dns.closeWindows({ start: Math.floor(Date.now() / 3_600_000) * 3600, seconds: 3600 }, false);
    const s = dns.stats();
    assert.ok(s.socketsOfExitedProcesses >= 590, `removed: ${s.socketsOfExitedProcesses}`);
    assert.ok(s.dnsSockets < 10, `left: ${s.dnsSockets}`);
    assert.equal(s.sockRegisterFailed, 0);
  });
});
