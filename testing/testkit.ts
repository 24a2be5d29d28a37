/* Helpers for tests that run real parts: BPF gating, C fixtures, cgroups named like container
 * runtimes, and the real `kiln run` as a child process. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { after } from 'node:test';
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
  /** kiln-short: two threads named hot-worker spin argv[1] ms, then it exits printing its CPU seconds */
  shortThreads: string;
  /** one executable, two services: `kiln-roles orders|billing CPU_SECONDS` (-O2, no frame pointers) */
  roles: string;
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
    shortThreads: join(dir, 'kiln-short'),
    roles: join(dir, 'kiln-roles'),
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
  cc([...cflags, '-pthread', '-o', f.shortThreads, src('shortthreads.c')]);
  // as distributions build: -O2, no frame pointers (walked by .eh_frame tables)
  cc(['-O2', '-g', '-o', f.roles, src('roles.c')]);
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

/** Every kiln process a test started and has not seen exit. */
const running = new Set<ChildProcess>();
/** kiln processes that did not stop on SIGTERM within the deadline (each was killed) */
const stopFailures: string[] = [];

/** Every process below this one (children of children too), from /proc. */
export function descendants(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue; // exited, waiting for its parent to reap it: nothing to kill
      children.set(Number(ppid), [...(children.get(Number(ppid)) ?? []), Number(d)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/**
 * A test that times out leaves its `finally` unrun, and a failing cleanup step skips the ones after it:
 * a kiln or helper left running keeps this test file's process alive (piped output, sockets), so the
 * whole run would wait for it. After the file's last test whatever this file started and left running
 * is killed and named; a kiln that had to be killed on stop fails the file here.
 */
function killRunning(): void {
  for (const p of running) p.kill('SIGKILL');
}
// only inside a test run: a root-level hook in a bench script would start a test report of its own
if (process.env.NODE_TEST_CONTEXT || /\.test\.js$/.test(process.argv[1] ?? '')) {
  after(async () => {
    const left = [...running];
    killRunning();
    await Promise.all(left.map(waitExit));
    const strays = descendants();
    for (const pid of strays) {
      let what = String(pid);
      try {
        what = `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`;
        process.kill(pid, 'SIGKILL');
        process.stderr.write(`testkit: killed a process this test file left running: ${what}\n`);
      } catch {
        // gone meanwhile
      }
    }
    if (stopFailures.length) throw new Error(stopFailures.join('\n\n'));
  });
}
process.once('exit', killRunning);

/** How long a kiln process may take to stop after SIGTERM before the test kills it and fails. */
export const STOP_DEADLINE_MS = 30_000;

/** Runs `kiln <command> ...args` and waits until its output shows `ready` (`url` is left empty). */
export async function startKilnCommand(command: string, args: string[], ready: string, timeoutMs = 30_000, root = repoRoot): Promise<KilnProcess> {
  // KILN_PROF_DIR=DIR [KILN_PROF_COMMAND=server]: a V8 CPU profile of one command (benches' hot spots).
  // Not of the agent by default: the profiler's signals interrupt BPF verification (EAGAIN at load)
  const prof = process.env.KILN_PROF_DIR && command === (process.env.KILN_PROF_COMMAND ?? 'server') ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KILN_PROF_DIR}`] : [];
  const proc = spawn(process.execPath, [...AGENT_NODE_FLAGS, ...prof, join(root, 'dist/cli.js'), command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`kiln ${command} did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
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
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([waitExit(proc).then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), STOP_DEADLINE_MS)))]);
      clearTimeout(timer);
      if (!stopped) {
        // killed, and the file fails at its end (throwing here would skip the caller's other cleanup)
        proc.kill('SIGKILL');
        await waitExit(proc);
        const msg = `kiln ${command} did not stop within ${STOP_DEADLINE_MS / 1000} s of SIGTERM (killed):\n${out.slice(-3000)}`;
        stopFailures.push(msg);
        process.stderr.write(`testkit: ${msg}\n`);
      }
    },
  };
}

/** A request's deadline in tests: a server that stops answering fails the test with the address. */
export const REQUEST_DEADLINE_MS = 60_000;

export async function getJson<T>(url: string, timeoutMs = REQUEST_DEADLINE_MS): Promise<{ status: number; body: T }> {
  let r: Response;
  try {
    r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new Error(`GET ${url}: ${(e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e as Error).message}`, { cause: e });
  }
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) as T };
  } catch {
    throw new Error(`GET ${url}: ${r.status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
}

let markers = 0;
let markerDir: string | undefined;
/**
 * Waits until everything `kiln` sampled before this call is in its store. A marker (a copy of the
 * distribution's `yes`, writing to /dev/null, under a name of its own) runs until it shows in /api/v1/apps: every drain reads all that was
 * sampled before it, windows close in order and one worker stores them in order, so once the marker's
 * window is stored, so is every profile sample taken before the marker started. The other collectors'
 * windows of the same close are written after the profiler's: `allKinds` waits for a second marker,
 * started once the first is stored, so those are in too (flows, DNS, run queues).
 */
export async function storedThrough(kiln: KilnProcess, { timeoutMs = 60_000, allKinds = false } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  markerDir ??= tempDir('markers');
  for (let round = allKinds ? 2 : 1; round > 0; round--) {
    const name = `kiln-mark-${++markers}`;
    const bin = join(markerDir, name);
    copyFileSync('/usr/bin/yes', bin);
    const from = Math.floor(Date.now() / 1000) - 5;
    const marker = spawn(bin, [], { stdio: 'ignore' });
    try {
      for (;;) {
        const { body } = await getJson<{ app: string }[]>(`${kiln.url}/api/v1/apps?from=${from}&to=now`);
        if (body.some((a) => a.app === name)) break;
        if (Date.now() > deadline) throw new Error(`the marker ${name} was not stored within ${timeoutMs} ms`);
        await sleep(250);
      }
    } finally {
      marker.kill('SIGKILL');
      await waitExit(marker);
    }
  }
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
