/* The DNS collector's socket map holds its bound: sockets of processes that exited leave it at the next
 * window (an LRU eviction would otherwise push out live sockets silently), counted. Sends go to
 * 127.0.0.1:53 where nothing answers: nothing leaves this machine. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { HostIdentity } from '../host/identity.js';
import { bpfTest } from '../testing/testkit.js';
import { DnsCollector } from './collector.js';

describe('DNS socket map under process churn', bpfTest(), () => {
  let dns: DnsCollector;

  before(() => {
    dns = new DnsCollector({
      windowSeconds: 3600,
      host: 'test',
      identity: HostIdentity.create(),
      maxSockets: 1024,
    });
    dns.start();
  });

  after(async () => {
    await dns?.stop();
  });

  it('removes the sockets of 600 exited processes at the next window, and counts them', async () => {
    // each subshell is a process of its own that connects a UDP socket to port 53 and sends a byte
    execFileSync('bash', ['-c', "for i in $(seq 600); do (printf x > /dev/udp/127.0.0.1/53) 2>/dev/null; done; true"]);
    await dns.closeWindows({ start: Math.floor(Date.now() / 3_600_000) * 3600, seconds: 3600 }, false);
    const s = dns.stats();
    assert.ok(s.socketsOfExitedProcesses >= 590, `removed: ${s.socketsOfExitedProcesses}`);
    assert.ok(s.dnsSockets < 10, `left: ${s.dnsSockets}`);
    assert.equal(s.sockRegisterFailed, 0);
  });
});
