import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { preflight } from './preflight.js';
import { repoRoot, tempDir } from './testing/testkit.js';

const cli = join(repoRoot, 'dist/cli.js');

test('kiln --help lists the commands; every command has its own --help', () => {
  const r = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const s of ['kiln run', 'kiln report', 'kiln pricing refresh', 'kiln COMMAND --help']) assert.ok(r.stdout.includes(s), s);
  const run = spawnSync(process.execPath, [cli, 'run', '--help'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  for (const s of ['--listen', '--data-dir', '--window', '--sample-hz', '--zones', '--token-file', '--query-timeout', '--clickhouse-url']) assert.ok(run.stdout.includes(s), s);
  for (const [cmd, want] of [[['report', '--help'], '--month'], [['pricing', '--help'], '--region']] as const) {
    const h = spawnSync(process.execPath, [cli, ...cmd], { encoding: 'utf8' });
    assert.equal(h.status, 0, h.stderr);
    assert.ok(h.stdout.includes(want), `${cmd.join(' ')}: ${h.stdout}`);
  }
});

test('preflight: without capabilities or BTF it names what is missing and how to fix it', () => {
  const status = (capEff: string) => `Name:\tnode\nCapEff:\t${capEff}\n`;
  assert.match(preflight({ procStatus: status('0000000000000000'), btfPath: '/sys/kernel/btf/vmlinux' })!, /needs root .*sudo/);
  // CAP_BPF + CAP_PERFMON without CAP_SYS_ADMIN is enough
  assert.equal(preflight({ procStatus: status((1n << 38n | 1n << 39n).toString(16).padStart(16, '0')), btfPath: process.execPath }), null);
  assert.match(preflight({ procStatus: status('000001ffffffffff'), btfPath: '/nonexistent/vmlinux' })!, /kernel BTF not found at \/nonexistent\/vmlinux: needs a kernel built with CONFIG_DEBUG_INFO_BTF=y/);
});

test('kiln run exits with one line when BTF is missing', () => {
  // an existing data directory from an older kiln: nothing is said of it (or done to it) before the BTF check
  const r = spawnSync(process.execPath, [cli, 'run', '--data-dir', join(tempDir('btf'), 'data')], { encoding: 'utf8', env: { ...process.env, KILN_BTF_PATH: '/nonexistent/vmlinux' } });
  if (process.geteuid?.() !== 0) {
    assert.match(r.stderr, /needs root/);
  } else {
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^kiln: kernel BTF not found/);
  }
});

test('kiln run without the capabilities it needs exits with one line saying it needs root', { skip: process.geteuid?.() !== 0 ? 'needs root to drop capabilities' : undefined }, () => {
  // every capability dropped (what an unprivileged user has), still able to read the checkout wherever
  // it is: a clone in a 0700 directory is not readable by another user
  const r = spawnSync('setpriv', ['--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', process.execPath, cli, 'run', '--data-dir', '/tmp/kiln-never'], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^kiln: needs root .* run it as root/);
});

test('kiln rejects bad flags with a clear message', () => {
  const bad = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.match(bad(['run', '--window', '0']).stderr, /--window must be an integer from 1 to 3600, got "0"/);
  assert.match(bad(['run', '--listen', 'nope']).stderr, /--listen must be HOST:PORT/);
  assert.match(bad(['run', '--bogus']).stderr, /Unknown option '--bogus'/);
  assert.match(bad(['run', '--cpu-price-usd-per-core-hour=-1']).stderr, /--cpu-price-usd-per-core-hour must be a price in US dollars above 0 and at most 1000, got "-1"/);
  assert.match(bad(['server', '--cpu-price-usd-per-core-hour', 'cheap']).stderr, /--cpu-price-usd-per-core-hour must be a price/);
  assert.match(bad(['agent', '--server', '127.0.0.1:7171', '--cgroup', 'relative.slice']).stderr, /--cgroup relative\.slice: give the cgroup v2 path from the hierarchy's root/);
  assert.match(bad(['frobnicate']).stderr, /unknown command "frobnicate"/);
  assert.match(bad(['run', '--listen', '0.0.0.0:7070']).stderr, /refusing to serve on 0.0.0.0:7070 \(not loopback\) without a token: pass --token or set KILN_TOKEN/);
  assert.match(bad(['run', '--listen', '0.0.0.0:7070', '--token', 'short']).stderr, /--token must be at least 8 characters/);
  assert.match(bad(['server', '--clickhouse-cluster', 'prod']).stderr, /--clickhouse-cluster needs --clickhouse-url/);
  assert.match(bad(['server', '--clickhouse-url', 'http://ch:8123', '--clickhouse-cluster', 'a;b']).stderr, /--clickhouse-cluster must be a cluster name/);
  assert.match(bad(['server', '--clickhouse-url', 'tcp://ch:9000']).stderr, /--clickhouse-url: tcp: is not http: or https:/);
  assert.match(bad(['server', '--clickhouse-cluster', 'prod', '--print-ddl']).stdout, /CREATE TABLE IF NOT EXISTS profile_stacks ON CLUSTER prod AS profile_stacks_local ENGINE = Distributed\(prod, currentDatabase\(\), profile_stacks_local, stack_id\)/);
});

test('kiln run on a data directory another process holds: one line naming that process', { skip: process.geteuid?.() !== 0 ? 'kiln run needs root to get as far as the store' : undefined }, async () => {
  const dir = tempDir('held');
  const holder = spawn(process.execPath, ['--input-type=module', '-e', `import { ChdbStore } from '${join(repoRoot, 'dist/store/adapters/chdb.js')}'; const s = new ChdbStore('${dir}'); await s.query('SELECT 1'); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (d) => String(d).includes('held') && resolve());
      holder.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
    });
    const r = spawnSync(process.execPath, [cli, 'run', '--data-dir', dir, '--listen', '127.0.0.1:1'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^kiln: the data directory ${dir} is in use by process ${holder.pid} \\(.*node.*\\): stop it, or pass another --data-dir`));
  } finally {
    holder.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--token-file: the token from a file only its owner can read', () => {
  const dir = tempDir('token');
  const file = join(dir, 'token');
  writeFileSync(file, 'a-long-enough-token\n', { mode: 0o644 });
  chmodSync(file, 0o644);
  const r = spawnSync(process.execPath, [cli, 'run', '--token-file', file], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--token-file .* is readable by other users \(mode 644\): chmod 600/);
  const both = spawnSync(process.execPath, [cli, 'run', '--token-file', file, '--token', 'another-token'], { encoding: 'utf8' });
  assert.match(both.stderr, /give --token or --token-file, not both/);
  rmSync(dir, { recursive: true, force: true });
});

test('kiln run on a data directory a newer kiln wrote: one line, nothing written', { skip: process.geteuid?.() !== 0 ? 'kiln run needs root to get as far as the store' : undefined }, async () => {
  const dir = tempDir('newer');
  const { ChdbStore } = await import('./store/adapters/chdb.js');
  const { SCHEMA_VERSION, applySchema } = await import('./store/schema.js');
  const s = new ChdbStore(dir);
  await applySchema(s, { retentionDays: 7, kilnVersion: '0.1.0' });
  await s.insert('kiln_schema', [{ version: SCHEMA_VERSION + 1, applied_at: Math.floor(Date.now() / 1000), kiln: '9.9.9' }]);
  await s.close();
  try {
    for (const cmd of ['run', 'server']) {
      const r = spawnSync(process.execPath, [cli, cmd, '--data-dir', dir, '--listen', '127.0.0.1:1'], { encoding: 'utf8' });
      assert.equal(r.status, 1, `${cmd}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^kiln: the store's schema is version ${SCHEMA_VERSION + 1} \\(written by kiln 9\\.9\\.9\\), newer than the version ${SCHEMA_VERSION} this kiln knows: run that kiln or a newer one, or use another --data-dir`));
    }
    const again = new ChdbStore(dir);
    try {
      // refused before anything was written: the versions as they were
      assert.deepEqual((await again.query<{ version: number }>('SELECT version FROM kiln_schema ORDER BY version')).map((x) => Number(x.version)), [SCHEMA_VERSION, SCHEMA_VERSION + 1]);
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
