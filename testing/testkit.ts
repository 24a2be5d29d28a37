/* Helpers for tests that run real parts: BPF gating, C fixtures, cgroups named like container
 * runtimes, and the real `kiln run` as a child process. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { cgroup2Root } from '../host/cgroup-resolver.js';

export { cgroup2Root };

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Node flags the agent runs with (package.json start script, the kiln shebang): V8's memory reducer
 * runs full mark-compacts over the whole heap whenever allocation slows down, which made up most of
 * the collectors' CPU at 97 Hz, sporadically. An agent's heap is steady; shrinking it buys nothing.
 */
export const AGENT_NODE_FLAGS = ['--no-memory-reducer'];
export const testdataDir = join(repoRoot, 'testing/testdata');

/**
 * Options for a test that loads BPF: runs as root; outside CI without root it skips with the reason;
 * with CI=true and no root it fails, because CI must run it.
 */
export function bpfTest(): { skip?: string } {
  if (process.geteuid?.() === 0) return {};
  if (process.env.CI === 'true') throw new Error('CI=true but not running as root: BPF tests must run in CI');
  return { skip: 'loads BPF: needs root' };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kiln-${prefix}-`));
}

export interface Fixtures {
  dir: string;
  cpusplit: string;
  cpusplitStripped: string;
  cpusplitDebuglink: string;
  libuser: string;
  syscaller: string;
  switcher: string;
  busy: string;
  light: string;
  /** 4,096 distinct recurring call paths on N threads (argv[1], default 2) */
  manypaths: string;
  /** threads created, woken and exited by the thousand (argv[1] rounds) */
  threadchurn: string;
  /** spins in anonymous executable memory (JIT-like); prints the loop's address */
  anonloop: string;
  /** kiln-exec-a and kiln-exec-b exec each other hundreds of times a second; A spins 3× longer */
  execA: string;
  jitScript: string;
}

/** Builds the C fixtures with frame pointers, plus a stripped copy and one with a separate debug file. */
export function buildFixtures(): Fixtures {
  const dir = tempDir('fixtures');
  const src = (f: string) => join(testdataDir, f);
  // -O0: every function, leaf ones included, sets up a frame (GCC 12 at -O1 drops leaf frames
  // even with -mno-omit-leaf-frame-pointer, and the frame-pointer walk then skips the caller)
  const cflags = ['-O0', '-g', '-fno-omit-frame-pointer'];
  const cc = (args: string[]) => execFileSync('cc', args, { stdio: 'pipe' });
  const f: Fixtures = {
    dir,
    cpusplit: join(dir, 'cpusplit'),
    cpusplitStripped: join(dir, 'cpusplit-stripped'),
    cpusplitDebuglink: join(dir, 'cpusplit-dbglink'),
    libuser: join(dir, 'libuser'),
    syscaller: join(dir, 'syscaller'),
    switcher: join(dir, 'switcher'),
    busy: join(dir, 'busy'),
    light: join(dir, 'light'),
    manypaths: join(dir, 'manypaths'),
    anonloop: join(dir, 'anonloop'),
    threadchurn: join(dir, 'threadchurn'),
    execA: join(dir, 'kiln-exec-a'),
    jitScript: src('jit-hot.js'),
  };
  cc([...cflags, '-o', f.cpusplit, src('cpusplit.c')]);
  cc([...cflags, '-o', f.syscaller, src('syscaller.c')]);
  cc([...cflags, '-o', f.switcher, src('switcher.c')]);
  cc([...cflags, '-o', f.busy, src('busy.c')]);
  cc([...cflags, '-o', f.light, src('light.c')]);
  cc([...cflags, '-pthread', '-o', f.manypaths, src('manypaths.c')]);
  cc([...cflags, '-o', f.anonloop, src('anonloop.c')]);
  cc(['-O2', '-pthread', '-o', f.threadchurn, src('threadchurn.c')]);
  cc([...cflags, '-DKILN_SIDE_A', '-o', f.execA, src('execpair.c')]);
  cc([...cflags, '-DKILN_SIDE_B', '-o', join(dir, 'kiln-exec-b'), src('execpair.c')]);
  cc([...cflags, '-shared', '-fPIC', '-o', join(dir, 'libkilnhot.so'), src('libhot.c')]);
  cc([...cflags, '-o', f.libuser, src('libuser.c'), `-L${dir}`, '-lkilnhot', `-Wl,-rpath,${dir}`]);
  // The copies get build ids of their own: symbols are shared by build id, and these must not
  // borrow the unstripped binary's.
  const ownBuildId = () => `-Wl,--build-id=0x${randomHex(20)}`;
  // fully stripped: no .symtab, no debug file -> frames must show as cpusplit-stripped+0x...
  cc([...cflags, ownBuildId(), '-o', f.cpusplitStripped, src('cpusplit.c')]);
  execFileSync('strip', ['--strip-all', f.cpusplitStripped]);
  // stripped, with its symbols in a separate file found through .gnu_debuglink
  cc([...cflags, ownBuildId(), '-o', f.cpusplitDebuglink, src('cpusplit.c')]);
  execFileSync('objcopy', ['--only-keep-debug', f.cpusplitDebuglink, `${f.cpusplitDebuglink}.debug`]);
  execFileSync('strip', ['--strip-all', f.cpusplitDebuglink]);
  execFileSync('objcopy', [`--add-gnu-debuglink=${f.cpusplitDebuglink}.debug`, f.cpusplitDebuglink], { cwd: dir });
  return f;
}

export function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Creates a cgroup (and parents) under the v2 root; returns its absolute directory. */
export function makeCgroup(relPath: string): string {
  const dir = join(cgroup2Root(), relPath);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Removes a cgroup and its now-empty parents up to (not including) the v2 root. */
export function removeCgroup(relPath: string): void {
  const parts = relPath.split('/').filter(Boolean);
  for (let i = parts.length; i > 0; i--) {
    try {
      rmdirSync(join(cgroup2Root(), ...parts.slice(0, i)));
    } catch {
      return; // still in use or has other children: leave it
    }
  }
}

/** Starts a command already inside a cgroup (the shell moves itself in, then execs). */
export function spawnInCgroup(cgroupDir: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): ChildProcess {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return spawn('sh', ['-c', `echo $$ > '${cgroupDir}/cgroup.procs' && exec ${quoted}`], { stdio: 'ignore', env, cwd });
}

export function waitExit(p: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    // a process killed by a signal has no exit code, only a signal code
    if (p.exitCode !== null || p.signalCode !== null) resolve(p.exitCode);
    else p.once('exit', (code) => resolve(code));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface KilnProcess {
  url: string;
  proc: ChildProcess;
  log: () => string;
  stop: () => Promise<void>;
}

/** Runs the real `kiln run` (dist/cli.js of this checkout, or of `root`) and waits until it listens. */
export async function startKiln(args: string[], timeoutMs = 30_000, root = repoRoot): Promise<KilnProcess> {
  const port = await freePort();
  const k = await startKilnCommand('run', ['--listen', `127.0.0.1:${port}`, ...args], 'listening on', timeoutMs, root);
  return { ...k, url: `http://127.0.0.1:${port}` };
}

/** Runs `kiln <command> ...args` and waits until its output shows `ready` (`url` is left empty). */
export async function startKilnCommand(command: string, args: string[], ready: string, timeoutMs = 30_000, root = repoRoot): Promise<KilnProcess> {
  const proc = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(root, 'dist/cli.js'), command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`kiln ${command} did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      if (out.includes(ready)) {
        clearTimeout(t);
        resolve();
      }
    };
    proc.stderr!.on('data', check);
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`kiln ${command} exited with ${code}:\n${out}`));
    });
  });
  return {
    url: '',
    proc,
    log: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await waitExit(proc);
      }
    },
  };
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as T };
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Debian's headless Chromium as this machine allows it (no sandbox as root, no background networking). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    // host-resolver-rules: without it Chromium still looks up Google hostnames through the host's
    // resolver (Kiln's own DNS table showed them): no name leaves this machine, loopback stays reachable
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
}
