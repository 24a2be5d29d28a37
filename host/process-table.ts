/* pid → application, container, mappings: read from /proc when a process is first sampled and kept
 * (bounded LRU) so a process that exits before its window is flushed is still named and symbolized. */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { cgroupV2Path, defaultProviders, executableName, nameApp, parseCgroupPath, type ContainerMetadataProvider } from './app-naming.js';
import { parseProcMaps, type ProcMapping } from '../profiler/symbols/proc-maps.js';
import { cgroup2Root } from './cgroup-resolver.js';
import type { ProcessView } from '../profiler/symbolizer.js';

export const KERNEL_APP = 'kernel';

export interface ProcessEntry {
  /** unique per entry: a new one after exec or a cgroup move, so caches keyed by it never mix programs */
  serial: number;
  pid: number;
  comm: string;
  /** the executable as /proc/PID/exe named it when read ('' if unreadable) */
  exe: string;
  /** the command line as /proc/PID/cmdline gave it when read: arguments joined by spaces, at most
   *  MAX_CMDLINE_CHARS ('' for kernel threads and processes gone before they were read) */
  cmdline: string;
  /** which process image this entry describes: the executable's inode and the stack start (differs
   *  per exec); 0n when unknown */
  exeIno: bigint;
  startStack: bigint;
  /** where the image's argument strings start (arg_start, field 48 of /proc/PID/stat): the value the
   *  kernel holds as its stack start while exec is still building the stack (setup_arg_pages sets it
   *  there, load_elf_binary moves it below argv and auxv), so a sample taken in exec matches; 0n unknown */
  argStart: bigint;
  /** names seen for this process (samples carry the process's comm: it changes on exec, or when the
   *  program renames itself) */
  comms: Set<string>;
  cgroupId: bigint;
  app: string;
  containerId: string;
  /** null when the process was gone before we could read /proc */
  view: ProcessView | null;
  /** performance.now() of the last lookup that returned this entry */
  seenAt?: number;
}

export interface ProcessTableOptions {
  procRoot?: string;
  /** prefix for runtime metadata (docker/containerd/CRI-O state), e.g. /host when Kiln runs in a container */
  runtimeRoot?: string;
  providers?: ContainerMetadataProvider[];
  maxProcesses?: number;
  /** the path of a cgroup by id (the cgroup v2 hierarchy walked by inode), for a process gone before
   *  /proc could be read: its samples are still named by its container or unit */
  cgroupPathOf?: (id: bigint) => string | null;
}

/** Mappings are re-read when an address falls outside them (new library, JIT region), at most this
 *  often per process: stacks walked through code without frame pointers are full of garbage
 *  addresses that no re-read will ever find. */
const MAPS_REFRESH_MIN_INTERVAL_MS = 1000;
/** thread names remembered per process; past this, a new name costs one readlink per drain */
const MAX_COMMS_PER_PROCESS = 64;
/** a command line is a label of every sample row (README "Process labels"): long ones are cut here */
export const MAX_CMDLINE_CHARS = 256;

/** /proc/PID/cmdline as one line: NUL-separated arguments joined by spaces, cut to MAX_CMDLINE_CHARS
 *  (with an ellipsis); '' when unreadable or empty (a kernel thread, a zombie). */
export function readCmdline(procDir: string): string {
  let raw: string;
  try {
    raw = readFileSync(`${procDir}/cmdline`, 'utf8');
  } catch {
    return '';
  }
  const line = raw.replace(/\0+$/, '').replace(/\0/g, ' ').replace(/[\x00-\x1f\x7f]/g, ' ');
  return line.length > MAX_CMDLINE_CHARS ? `${line.slice(0, MAX_CMDLINE_CHARS - 1)}…` : line;
}

class LiveProcess implements ProcessView {
  #maps: ProcMapping[] = [];
  #readAt = -Infinity;
  /** the process exec'd since: its mappings now are another program's, never read again */
  #replaced = false;
  constructor(
    readonly pid: number,
    readonly nsPid: number,
    readonly rootPrefix: string,
    private readonly procRoot: string,
    /** the image this view describes (0n: unknown, not checked) */
    private readonly startStack: bigint,
  ) {}
  maps(): ProcMapping[] {
    return this.#maps;
  }
  refreshMaps(): ProcMapping[] {
    const now = performance.now();
    if (this.#replaced || now - this.#readAt < MAPS_REFRESH_MIN_INTERVAL_MS) return this.#maps;
    this.#readAt = now;
    const text = readFileSync(`${this.procRoot}/${this.pid}/maps`, 'utf8');
    // mappings read after an exec describe the next program: symbolizing this image's addresses
    // against them would credit its samples to functions it never ran (a process exec-ing in a loop)
    if (this.startStack !== 0n && readStartStack(`${this.procRoot}/${this.pid}`) !== this.startStack) {
      this.#replaced = true;
      return this.#maps;
    }
    // keep only executable mappings: the rest never hold an instruction pointer
    this.#maps = parseProcMaps(text).filter((m) => m.perms[2] === 'x');
    return this.#maps;
  }
}

/** What the kernel saw running at a sample: the image a sample belongs to (see bpf/profile.h). */
export interface ProcessImage {
  exeIno: bigint;
  startStack: bigint;
}

interface ProcImage {
  exe: string;
  exeIno: bigint;
  startStack: bigint;
  argStart: bigint;
}

/** Executables remembered by inode, to name an image that exec'd away before /proc could be read. */
const MAX_KNOWN_EXECUTABLES = 4096;
/** Images already gone when first sampled (rapid exec), remembered so each is worked out once. */
const MAX_GONE_IMAGES = 1024;
/** reads of a process image that exec'd in between, before it is taken as unknown */
const IMAGE_READ_ATTEMPTS = 3;

/** The image's stack start (startstack, field 28 of /proc/PID/stat, proc(5)): mm->start_stack, which the
 *  profile program reads too, so it tells one exec of a pid from the next. Throws when the process is gone. */
export function readStartStack(procDir: string): bigint {
  return readStackStarts(procDir).startStack;
}

/** The image's stack start and where its argument strings start (arg_start, field 48). */
export function readStackStarts(procDir: string): { startStack: bigint; argStart: bigint } {
  const stat = readFileSync(`${procDir}/stat`, 'latin1');
  // fields after the comm's closing parenthesis: startstack is index 25 there, arg_start index 45
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { startStack: BigInt(f[25] ?? 0), argStart: BigInt(f[45] ?? 0) };
}

/** Whether a stack start the kernel sampled is this image's: its final one, or the one exec set first
 *  (arg_start) before it laid argv and auxv below it. CI: the one sample a 2 s program took inside its
 *  own exec was read as another image, and became a second row of that pid without its command line. */
function isImageStack(e: { startStack: bigint; argStart: bigint }, sampled: bigint): boolean {
  return e.startStack === sampled || (e.argStart !== 0n && e.argStart === sampled);
}

export class ProcessTable {
  readonly #procRoot: string;
  readonly #providers: ContainerMetadataProvider[];
  readonly #byPid: LRUCache<number, ProcessEntry>;
  /** cgroup id → parsed name, so a container's metadata is read once */
  readonly #byCgroup = new LRUCache<string, { app: string; containerId: string } | false>({ max: 8192 });
  readonly #exeByIno = new LRUCache<bigint, string>({ max: MAX_KNOWN_EXECUTABLES });
  readonly #gone = new LRUCache<string, ProcessEntry>({ max: MAX_GONE_IMAGES });
  readErrors = 0;
  /** samples of an image that had exec'd away before it was read: named by its executable, frames unknown */
  goneImages = 0;
  #serial = 0;

  constructor(opts: ProcessTableOptions = {}) {
    this.#procRoot = opts.procRoot ?? '/proc';
    this.#providers = opts.providers ?? defaultProviders(opts.runtimeRoot ?? '/');
    this.#byPid = new LRUCache({ max: opts.maxProcesses ?? 16384 });
    this.#cgroupPathOf = opts.cgroupPathOf;
  }

  readonly #cgroupPathOf: ((id: bigint) => string | null) | undefined;

  get size(): number {
    return this.#byPid.size;
  }

  /** The entry for a sampled process; re-read when its comm or cgroup changed (exec, cgroup move), or
   *  when the sample's image (from the kernel) is not the one the entry describes. */
  lookup(tgid: number, cgroupId: bigint, comm: string, kthread: boolean, image?: ProcessImage): ProcessEntry {
    if (kthread) return { serial: 0, pid: tgid, comm, exe: '', cmdline: `[${comm}]`, exeIno: 0n, startStack: 0n, argStart: 0n, comms: new Set(), cgroupId, app: KERNEL_APP, containerId: '', view: null };
    const known = image !== undefined && image.startStack !== 0n;
    const hit = this.#byPid.get(tgid);
    // the sampled image is the entry's when neither its stack start nor its executable's inode (both from
    // the kernel, at the sample) says otherwise: an entry read while the process exec'd may lack the
    // stack start, and /proc read now may already show the next program
    const sameImage = (e: ProcessEntry) =>
      !known || ((e.startStack === 0n || isImageStack(e, image.startStack)) && (e.exeIno === 0n || image.exeIno === 0n || e.exeIno === image.exeIno));
    if (hit && hit.cgroupId === cgroupId && sameImage(hit)) {
      hit.seenAt = performance.now();
      if (hit.comms.has(comm)) return hit;
      // another name for the very image this entry was read from, by the kernel's word at the sample
      // (its stack start and executable): a rename, even after the process is gone, is not another
      // process (CI: one sample of a 2 s program became a second row without its command line)
      const sameReadImage = known && isImageStack(hit, image.startStack) && hit.exeIno !== 0n && hit.exeIno === image.exeIno;
      // else a new name is another thread of the same program, or an exec; the executable tells
      // (an entry of a process gone before it was read knows no executable: only its own name matches it)
      if (sameReadImage || (hit.comms.size < MAX_COMMS_PER_PROCESS && hit.exe !== '' && this.#exe(tgid) === hit.exe)) {
        if (hit.comms.size < MAX_COMMS_PER_PROCESS) hit.comms.add(comm);
        return hit;
      }
      // a sample exec took after it switched to this executable's memory but before it set the stack
      // start and the new name (the name is still the parent's): this executable's, by its inode
      if (!known && image !== undefined && image.exeIno !== 0n && hit.exeIno === image.exeIno) return hit;
    }
    const gone = this.#gone.get(`${tgid}:${known ? image.startStack : 0n}:${comm}`);
    if (gone && gone.cgroupId === cgroupId) return gone;
    let current: ProcImage | null = null;
    if (known) {
      current = this.#image(tgid);
      if (current === null || (current.startStack !== 0n && !isImageStack(current, image.startStack))) {
        // the process exec'd again since this sample: /proc shows another image. Name the sampled one
        // by its executable (known by inode from this or an earlier look) and leave its frames
        // unresolved rather than symbolize them against another program's mappings.
        const exe = this.#exeByIno.get(image.exeIno) ?? '';
        const exeBase = executableName(exe, comm);
        const id = this.#tryIdentity(`${this.#procRoot}/${tgid}`, cgroupId, exeBase);
        const ghost: ProcessEntry = { serial: ++this.#serial, pid: tgid, comm, exe, cmdline: '', exeIno: image.exeIno, startStack: image.startStack, argStart: 0n, comms: new Set([comm]), cgroupId, app: id.app, containerId: id.containerId, view: null };
        this.goneImages++;
        this.#gone.set(`${tgid}:${image.startStack}:${comm}`, ghost);
        return ghost;
      }
    }
    const read = current ?? this.#image(tgid) ?? { exe: this.#exe(tgid), exeIno: 0n, startStack: 0n, argStart: 0n };
    if (read.startStack === 0n) {
      // gone before this look: the entry describes the image the kernel sampled, so a sample of another
      // image of this pid (the shell's fork before it exec'd a program) neither matches it nor is
      // credited to it; the executable is named if an earlier look met its inode. Kept apart from the
      // pid's entry, which may be the other image's, read while it lived (with its mappings).
      const ghost = this.#read(tgid, cgroupId, comm, known ? { exe: this.#exeByIno.get(image.exeIno) ?? read.exe, exeIno: image.exeIno, startStack: image.startStack, argStart: 0n } : read);
      this.#gone.set(`${tgid}:${known ? image.startStack : 0n}:${comm}`, ghost);
      return ghost;
    }
    const entry = this.#read(tgid, cgroupId, comm, read);
    entry.seenAt = performance.now();
    this.#byPid.set(tgid, entry);
    return entry;
  }

  /**
   * Reads a process the profiler has just met (its first sample asked for unwind tables), while it
   * lives: a program that exits before the next drain is still named and its frames resolved from the
   * mappings read here. The entry is the one the drain's lookup then finds (same cgroup id, image and
   * comm as its samples carry). Null when the process is gone already, or is mid-exec.
   */
  observe(tgid: number): ProcessEntry | null {
    const dir = `${this.#procRoot}/${tgid}`;
    let comm: string;
    let cgroupId = 0n;
    try {
      comm = readFileSync(`${dir}/comm`, 'utf8').replace(/\n$/, '');
      const path = cgroupV2Path(readFileSync(`${dir}/cgroup`, 'utf8'));
      const root = this.#cgroupRootDir();
      if (path !== null && root !== null) cgroupId = statSync(join(root, path), { bigint: true }).ino;
    } catch {
      return null;
    }
    const image = this.#image(tgid);
    // the comm and the image must be one program's: a process exec-ing between the reads is left to
    // the drain, which has the kernel's word for both
    if (image === null || image.startStack === 0n) return null;
    try {
      if (readFileSync(`${dir}/comm`, 'utf8').replace(/\n$/, '') !== comm || this.#startStack(dir) !== image.startStack) return null;
    } catch {
      return null;
    }
    const entry = this.lookup(tgid, cgroupId, comm, false, image);
    return entry.view ? entry : null;
  }

  /** Forgets processes that exited and have not been looked up for `idleMs`: their samples and waits
   *  were all named by now (drains run every second, windows close every minute). Under churn the
   *  table otherwise fills to its bound with the dead (~10 KB each: mappings, names). Returns how many. */
  sweep(idleMs = 120_000, now = performance.now()): number {
    const gone: number[] = [];
    for (const [pid, e] of this.#byPid.entries()) {
      if (now - (e.seenAt ?? 0) >= idleMs && !existsSync(`${this.#procRoot}/${pid}`)) gone.push(pid);
    }
    for (const pid of gone) this.#byPid.delete(pid);
    this.swept += gone.length;
    return gone.length;
  }

  /** exited processes forgotten by sweep() */
  swept = 0;

  /** The image /proc shows now: its executable (remembered by inode, to name images that exec away
   *  later) and its stack start (from /proc/PID/stat). The executable is opened, so its path and inode
   *  are one file's; the stack start is read before and after, so all three are one image's. A process
   *  exec-ing between two reads would otherwise pair one program's name with the next one's inode and
   *  name every later sample of that binary after the other (seen: 9 in 10 samples on one side). */
  #image(pid: number): ProcImage | null {
    const dir = `${this.#procRoot}/${pid}`;
    for (let attempt = 0; attempt < IMAGE_READ_ATTEMPTS; attempt++) {
      const before = this.#startStack(dir);
      const { exe, exeIno } = this.#openExe(dir);
      const { startStack, argStart } = this.#stackStarts(dir);
      if (before === startStack) {
        if (exe && exeIno !== 0n) this.#exeByIno.set(exeIno, exe);
        return { exe, exeIno, startStack, argStart };
      }
    }
    return null; // exec-ing faster than it can be read
  }

  /** The executable's path and inode, from one open file (a kernel thread or a process gone: none). */
  #openExe(dir: string): { exe: string; exeIno: bigint } {
    let fd: number;
    try {
      fd = openSync(`${dir}/exe`, 'r');
    } catch {
      // not readable (no CAP_DAC_READ_SEARCH, or gone): the link alone, which names it without an inode
      return { exe: this.#readExe(dir), exeIno: 0n };
    }
    try {
      return { exeIno: fstatSync(fd, { bigint: true }).ino, exe: readlinkSync(`/proc/self/fd/${fd}`) };
    } catch {
      return { exe: '', exeIno: 0n };
    } finally {
      closeSync(fd);
    }
  }

  #startStack(dir: string): bigint {
    return this.#stackStarts(dir).startStack;
  }

  #stackStarts(dir: string): { startStack: bigint; argStart: bigint } {
    try {
      return readStackStarts(dir);
    } catch {
      return { startStack: 0n, argStart: 0n };
    }
  }

  #tryIdentity(dir: string, cgroupId: bigint, exeBase: string): { app: string; containerId: string } {
    try {
      return this.#identityFromCgroup(dir, cgroupId, exeBase);
    } catch {
      return { app: exeBase, containerId: '' };
    }
  }

  #exe(pid: number): string {
    return this.#readExe(`${this.#procRoot}/${pid}`);
  }

  #readExe(dir: string): string {
    try {
      return readlinkSync(`${dir}/exe`);
    } catch {
      return '';
    }
  }

  /** Reads a process from /proc, as the image the caller just read. */
  #read(pid: number, cgroupId: bigint, comm: string, image: ProcImage): ProcessEntry {
    const dir = `${this.#procRoot}/${pid}`;
    const { exe, exeIno, startStack, argStart } = image;
    const exeBase = executableName(exe, comm);
    let view: LiveProcess | null = null;
    let identity: { app: string; containerId: string } | null = null;
    try {
      identity = this.#identityFromCgroup(dir, cgroupId, exeBase);
    } catch {
      // named by its executable below
    }
    try {
      const status = readFileSync(`${dir}/status`, 'utf8');
      const nsLine = /^NSpid:\s*(.*)$/m.exec(status);
      const nsPids = nsLine ? nsLine[1].trim().split(/\s+/).map(Number) : [pid];
      view = new LiveProcess(pid, nsPids[nsPids.length - 1] ?? pid, `${dir}/root`, this.#procRoot, startStack);
      view.refreshMaps();
    } catch {
      this.readErrors++;
    }
    const id = identity ?? { app: exeBase, containerId: '' };
    const cmdline = readCmdline(dir);
    return { serial: ++this.#serial, pid, comm, exe, cmdline, exeIno, startStack, argStart, comms: new Set([comm]), cgroupId, app: id.app, containerId: id.containerId, view };
  }

  #identityFromCgroup(dir: string, cgroupId: bigint, exeBase: string): { app: string; containerId: string } {
    const key = cgroupId.toString();
    let cached = this.#byCgroup.get(key);
    if (cached === undefined) {
      let path: string | null;
      let sampled: boolean;
      try {
        path = cgroupV2Path(readFileSync(`${dir}/cgroup`, 'utf8'));
        sampled = path !== null && this.#isCgroup(path, cgroupId);
      } catch (e) {
        // gone before this first look (a short program, or a drain that ran late): the sampled
        // cgroup id still names its cgroup while the cgroup exists
        path = cgroupId !== 0n ? (this.#cgroupPathOf?.(cgroupId) ?? null) : null;
        if (path === null) throw e;
        sampled = true;
      }
      const cg = path ? parseCgroupPath(path) : null;
      // only containers and units are named per cgroup; plain processes are named per executable
      cached = cg ? nameApp(cg, exeBase, this.#providers) : false;
      // The process may have moved since the sample: a shell sampled in its parent's cgroup that then
      // wrote itself into a container's cgroup.procs and exec'd. What /proc shows now is named, but
      // remembered for the sampled id only when it is that cgroup; else every later process of the
      // parent's cgroup (the host's root cgroup, say) would be named after the container.
      if (sampled) this.#byCgroup.set(key, cached);
    }
    return cached || { app: exeBase, containerId: '' };
  }

  /** The cgroup v2 mount (null: none, or a /proc that is not this host's). */
  #cgroupRootDir(): string | null {
    if (this.#cgroupRoot === undefined) {
      try {
        this.#cgroupRoot = this.#procRoot === '/proc' ? cgroup2Root() : null;
      } catch {
        this.#cgroupRoot = null;
      }
    }
    return this.#cgroupRoot;
  }

  /** Whether the cgroup at `path` (as /proc/PID/cgroup prints it) has the id `id`. */
  #isCgroup(path: string, id: bigint): boolean {
    const root = this.#cgroupRootDir();
    if (root === null) return true; // no cgroup v2: ids cannot be checked, nor can they move
    try {
      return statSync(join(root, path), { bigint: true }).ino === id;
    } catch {
      return false; // removed since
    }
  }

  /** the cgroup v2 mount, once looked up (null: none, or a /proc that is not this host's) */
  #cgroupRoot: string | null | undefined;
}
