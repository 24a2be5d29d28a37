/* User-space half of unwinding by tables (ARCHITECTURE.md, "Unwinding"): answers the BPF walk's requests
 * for a process by reading its executable mappings, compiling each binary's table once (shared by every
 * process that maps it, keyed by build id), and writing rows, tables and the process's mapping list into
 * the BPF maps. Bounded: a fixed row space and table count; what does not fit falls back to frame
 * pointers and is counted by reason. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import type { BpfMap } from '../../native/index.js';
import { u32Buffer } from '../../native/decode.js';
import { readStartStack } from '../../host/process-table.js';
import { UNWIND_MAPPING, UNWIND_MAX_MAPPINGS, UNWIND_PROC, UNWIND_REQUEST_VALUE as V, UNWIND_ROW, UNWIND_TABLE } from '../bpf-layout.js';
import type { LoadSegment } from '../symbols/elf.js';
import { parseProcMaps, type ProcMapping } from '../symbols/proc-maps.js';
import { buildBinaryTable, type BinaryTable } from './binary-table.js';

export interface UnwindMapsOptions {
  rows: BpfMap;
  tables: BpfMap;
  procs: BpfMap;
  requests: BpfMap;
  /** requests made so far (a counter the walk keeps): when it has not moved, the request map is not
   *  drained. Without it, every poll drains. */
  requestsMade?: () => bigint;
  /** where separate debug files live (default /usr/lib/debug) */
  debugDirs?: string[];
  /** how long a table nobody maps stays loaded when its space is not needed */
  idleTableMs?: number;
  /** loader time allowed per second of wall time, in ms (default 50: 5% of a core), and its burst (2000) */
  budgetMsPerSecond?: number;
  budgetBurstMs?: number;
  /** a process new to the walk (or exec'd) asked for tables: told before they are built (and whether or
   *  not the budget lets them be), so what must be read while the process lives is read now */
  onNewImage?: (tgid: number) => void;
}

/** Why a binary's code is walked by frame pointers instead of its table. */
export type FallbackReason =
  | 'no_unwind_info'
  | 'table_too_large'
  | 'row_space_full'
  | 'table_ids_full'
  | 'unreadable'
  | 'mappings_over_limit';

export interface UnwindStats {
  processes: number;
  processesFull: number;
  /** requests left for the process to make again: the loader had used its time budget (process churn) */
  requestsDeferred: number;
  /** re-reads that found the same executable mappings (JIT code outside them): backed off */
  refreshesUnchanged: number;
  requests: Record<'new' | 'exec' | 'refresh', number>;
  tables: number;
  tablesBuilt: number;
  tablesEvicted: number;
  rowsUsed: number;
  rowsCapacity: number;
  /** bytes of BPF map memory for rows and tables (preallocated), and process entries in use */
  rowBytes: number;
  procBytes: number;
  buildMsTotal: number;
  cfiBytesParsed: number;
  /** binaries (by identity) whose code falls back to frame pointers, by reason */
  fallbackBinaries: Record<FallbackReason, number>;
}

interface TableEntry {
  id: number;
  key: string;
  first: number;
  rows: number;
  refs: number;
  idleSince: number;
}

interface ProcEntry {
  image: bigint;
  tables: TableEntry[];
  /** the executable mappings as read, to tell a re-read that found nothing new */
  signature: string;
  /** wait before the walk may ask again for a pc outside every mapping: doubles while nothing changes */
  backoffMs: number;
  /** a table did not fit (rows or ids): the next request reads the process again in full */
  incomplete: boolean;
}

/** Re-reads of a process whose mappings did not change back off from 1 s to 60 s: JIT code is outside
 *  every mapping for good, a dlopen'd library shows up in the next re-read. */
const REFRESH_MIN_MS = 1000;
/** the loader's time budget: 5% of a core on average, 2 s in a burst (start-up on a busy host) */
const BUDGET_MS_PER_SECOND = 50;
const BUDGET_BURST_MS = 2000;
const REFRESH_MAX_MS = 60_000;

/** Free row ranges, first fit, neighbours merged on free. */
class RowSpace {
  #free: { start: number; len: number }[];
  constructor(readonly capacity: number) {
    this.#free = [{ start: 0, len: capacity }];
  }
  get used(): number {
    return this.capacity - this.#free.reduce((a, f) => a + f.len, 0);
  }
  alloc(n: number): number | null {
    for (let i = 0; i < this.#free.length; i++) {
      const f = this.#free[i];
      if (f.len < n) continue;
      const start = f.start;
      f.start += n;
      f.len -= n;
      if (f.len === 0) this.#free.splice(i, 1);
      return start;
    }
    return null;
  }
  free(start: number, len: number): void {
    let i = 0;
    while (i < this.#free.length && this.#free[i].start < start) i++;
    this.#free.splice(i, 0, { start, len });
    // merge with the next, then with the previous
    const cur = this.#free[i];
    const next = this.#free[i + 1];
    if (next && cur.start + cur.len === next.start) {
      cur.len += next.len;
      this.#free.splice(i + 1, 1);
    }
    const prev = this.#free[i - 1];
    if (prev && prev.start + prev.len === cur.start) {
      prev.len += cur.len;
      this.#free.splice(i, 1);
    }
  }
}


export class UnwindMaps {
  readonly #o: UnwindMapsOptions;
  readonly #space: RowSpace;
  readonly #maxRowsPerTable: number;
  readonly #tableIds: number[] = [];
  readonly #tables = new Map<string, TableEntry>();
  /** dev:inode of a mapping → the table key (build id) or a fallback, with the file's size and mtime */
  readonly #identities = new LRUCache<string, { size: number; mtimeMs: number; key: string | null; segments: LoadSegment[] }>({ max: 8192 });
  readonly #procs = new Map<number, ProcEntry>();
  readonly #maxProcs: number;
  readonly #stats: Omit<UnwindStats, 'processes' | 'tables' | 'rowsUsed' | 'rowsCapacity' | 'rowBytes' | 'procBytes'> = {
    processesFull: 0,
    requestsDeferred: 0,
    refreshesUnchanged: 0,
    requests: { new: 0, exec: 0, refresh: 0 },
    tablesBuilt: 0,
    tablesEvicted: 0,
    buildMsTotal: 0,
    cfiBytesParsed: 0,
    fallbackBinaries: {
      no_unwind_info: 0,
      table_too_large: 0,
      row_space_full: 0,
      table_ids_full: 0,
      unreadable: 0,
      mappings_over_limit: 0,
    },
  };
  #lastSweep = 0;
  /** token bucket of loader time, in ms */
  #budgetMs: number;
  #budgetAt = performance.now();

  constructor(opts: UnwindMapsOptions) {
    this.#o = opts;
    this.#space = new RowSpace(opts.rows.info.maxEntries);
    // one binary may take half the row space: a huge one (libchdb.so: 5.7 M rows) cannot crowd out the rest
    this.#maxRowsPerTable = Math.min(Math.floor(opts.rows.info.maxEntries / 2), 1 << 24);
    for (let i = opts.tables.info.maxEntries - 1; i >= 0; i--) this.#tableIds.push(i);
    this.#maxProcs = opts.procs.info.maxEntries;
    this.#budgetMs = opts.budgetBurstMs ?? BUDGET_BURST_MS;
  }

  /** Answers every pending request from the BPF walk, and every few seconds forgets exited processes. */
  poll(now = Date.now()): void {
    if (now - this.#lastSweep >= 5000) {
      this.#lastSweep = now;
      this.sweep(now);
    }
    const made = this.#o.requestsMade?.();
    if (made !== undefined && made === this.#requestsSeen) return;
    this.#requestsSeen = made;
    const { keys, values, count } = this.#o.requests.drain();
    const order: { tgid: number; why: number; samples: number }[] = [];
    for (let i = 0; i < count; i++) order.push({ tgid: keys.readUInt32LE(i * 4), why: values.readUInt32LE(i * V.size + V.reason), samples: values.readUInt32LE(i * V.size + V.samples) });
    // processes without tables first (a refresh only adds a library to a process already walked), the
    // busiest first: under a budget, the samples that matter most get whole stacks soonest
    order.sort((a, b) => (a.why === 3 ? 1 : 0) - (b.why === 3 ? 1 : 0) || b.samples - a.samples);
    if (this.#o.onNewImage) for (const { tgid, why } of order) if (why !== 3) this.#o.onNewImage(tgid);
    // Bounded cost under process churn (a shell loop starting hundreds of programs a second): past the
    // budget, requests are dropped; a process that lives on is sampled again and asks again
    const t = performance.now();
    this.#budgetMs = Math.min(this.#o.budgetBurstMs ?? BUDGET_BURST_MS, this.#budgetMs + ((t - this.#budgetAt) * (this.#o.budgetMsPerSecond ?? BUDGET_MS_PER_SECOND)) / 1000);
    this.#budgetAt = t;
    for (const { tgid, why } of order) {
      if (this.#budgetMs <= 0) {
        this.#stats.requestsDeferred++;
        continue;
      }
      this.#stats.requests[why === 2 ? 'exec' : why === 3 ? 'refresh' : 'new']++;
      // CPU time, not wall time: on a busy host a load waits for the CPU far longer than it uses it
      const c0 = process.cpuUsage();
      this.loadProcess(tgid);
      const c = process.cpuUsage(c0);
      this.#budgetMs -= (c.user + c.system) / 1000;
    }
  }
  #requestsSeen: bigint | undefined;

  /** Reads a process's executable mappings and writes its entry (tables built or shared as needed). */
  loadProcess(tgid: number): void {
    let image: bigint;
    let maps: ProcMapping[];
    try {
      // the image first: if the process execs before its maps are read, the entry names the image
      // that is gone and no sample ever matches it; the other order would walk the new image by the old maps
      image = readStartStack(`/proc/${tgid}`);
      maps = parseProcMaps(readFileSync(`/proc/${tgid}/maps`, 'latin1'));
    } catch {
      this.#forget(tgid); // gone
      return;
    }
    const old = this.#procs.get(tgid);
    if (!old && this.#procs.size >= this.#maxProcs) {
      this.#stats.processesFull++;
      return;
    }
    const exec = maps.filter((m) => m.perms[2] === 'x' && m.inode !== 0 && m.path.startsWith('/'));
    const signature = exec.map((m) => `${m.start}-${m.end}:${m.dev}:${m.inode}`).join(',');
    // a process some of whose tables did not fit is read again in full: room may have been made since
    const unchanged = old !== undefined && !old.incomplete && old.image === image && old.signature === signature;
    const backoffMs = unchanged ? Math.min(REFRESH_MAX_MS, old.backoffMs * 2) : REFRESH_MIN_MS;
    const refreshAfterNs = process.hrtime.bigint() + BigInt(backoffMs) * 1_000_000n; // CLOCK_MONOTONIC, as bpf_ktime_get_ns
    if (unchanged) {
      // nothing new: only the back-off moves (one field of the entry, rewritten whole)
      this.#stats.refreshesUnchanged++;
      old.backoffMs = backoffMs;
      const v = this.#o.procs.lookup(u32Buffer(tgid));
      if (v) {
        v.writeBigUInt64LE(refreshAfterNs, UNWIND_PROC.refresh_after_ns);
        this.#o.procs.update(u32Buffer(tgid), v);
      }
      return;
    }
    const entries: { m: ProcMapping; bias: bigint; table: TableEntry }[] = [];
    const tables: TableEntry[] = [];
    let overLimit = false;
    let incomplete = false;
    for (const m of exec) {
      const got = this.#tableFor(tgid, m);
      if (got === 'retry') incomplete = true;
      if (!got || got === 'retry') continue;
      if (entries.length >= UNWIND_MAX_MAPPINGS) {
        overLimit = true;
        continue;
      }
      entries.push({ m, bias: got.bias, table: got.table });
      if (!tables.includes(got.table)) {
        tables.push(got.table);
        got.table.refs++;
      }
    }
    if (overLimit) this.#stats.fallbackBinaries.mappings_over_limit++;

    const v = Buffer.alloc(UNWIND_PROC.size);
    v.writeBigUInt64LE(image, UNWIND_PROC.image);
    v.writeBigUInt64LE(refreshAfterNs, UNWIND_PROC.refresh_after_ns);
    v.writeUInt32LE(entries.length, UNWIND_PROC.count);
    entries.forEach((e, i) => {
      const o = UNWIND_PROC.maps + i * UNWIND_MAPPING.size;
      v.writeBigUInt64LE(e.m.start, o + UNWIND_MAPPING.start);
      v.writeBigUInt64LE(e.m.end, o + UNWIND_MAPPING.end);
      v.writeBigUInt64LE(BigInt.asUintN(64, e.bias), o + UNWIND_MAPPING.bias);
      v.writeUInt32LE(e.table.id, o + UNWIND_MAPPING.table);
    });
    try {
      this.#o.procs.update(u32Buffer(tgid), v);
    } catch {
      this.#stats.processesFull++;
      for (const t of tables) this.#unref(t);
      return;
    }
    this.#procs.set(tgid, { image, tables, signature, backoffMs, incomplete });
    if (old) for (const t of old.tables) this.#unref(t);
  }

  /** The table for one executable mapping and its bias (pc - bias = ELF address), or null (frame pointers). */
  #tableFor(tgid: number, m: ProcMapping): { table: TableEntry; bias: bigint } | 'retry' | null {
    const mapFile = `/proc/${tgid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`;
    const realPath = m.path.replace(/ \(deleted\)$/, '');
    let st: { size: number; mtimeMs: number };
    let openPath = mapFile;
    try {
      st = statSync(mapFile);
    } catch {
      openPath = `/proc/${tgid}/root${realPath}`;
      try {
        st = statSync(openPath);
      } catch {
        return null;
      }
    }
    const idKey = `${m.dev}:${m.inode}`;
    let id = this.#identities.get(idKey);
    if (id && (id.size !== st.size || id.mtimeMs !== st.mtimeMs)) id = undefined; // the inode was reused
    let built: BinaryTable | null = null;
    if (!id || (id.key && !this.#tables.has(id.key))) {
      built = buildBinaryTable(openPath, realPath, `/proc/${tgid}/root`, this.#maxRowsPerTable, this.#o.debugDirs ?? ['/usr/lib/debug']);
      const key = built.info?.buildId ? `build:${built.info.buildId}` : `file:${idKey}:${st.size}:${st.mtimeMs}`;
      id = { size: st.size, mtimeMs: st.mtimeMs, key: built.ok ? key : null, segments: built.info?.segments ?? [] };
      if (!built.ok) this.#stats.fallbackBinaries[built.reason]++;
      this.#identities.set(idKey, id);
    }
    if (!id.key) return null;
    let table = this.#tables.get(id.key);
    if (!table) {
      if (!built || !built.ok) return null;
      table = this.#install(id.key, built) ?? undefined;
      if (!table) {
        // refused for room (rows or ids), not for what the binary is: built again when asked again
        this.#identities.delete(idKey);
        return 'retry';
      }
    }
    // the ELF address of the mapping's first byte comes from the segment holding its file offset (the
    // mapping starts at the page holding the segment's first byte)
    const seg = id.segments.find((s) => s.executable && m.offset >= (s.offset & ~0xfffn) && m.offset < s.offset + s.filesz);
    if (!seg) return null;
    const bias = m.start - m.offset + seg.offset - seg.vaddr;
    return { table, bias };
  }

  /** Writes a built table into the row space; evicts idle tables to make room. */
  #install(key: string, built: Extract<BinaryTable, { ok: true }>): TableEntry | null {
    const n = built.table.pcs.length;
    let first = this.#space.alloc(n);
    while (first === null && this.#evictOneIdle()) first = this.#space.alloc(n);
    if (first === null) {
      this.#refused(key, 'row_space_full');
      return null;
    }
    if (this.#tableIds.length === 0 && !this.#evictOneIdle()) {
      this.#space.free(first, n);
      this.#refused(key, 'table_ids_full');
      return null;
    }
    const id = this.#tableIds.pop()!;
    const keys = Buffer.alloc(n * 4);
    const vals = Buffer.alloc(n * UNWIND_ROW.size);
    for (let i = 0; i < n; i++) {
      keys.writeUInt32LE(first + i, i * 4);
      vals.writeUInt32LE(built.table.pcs[i], i * 8);
      vals.writeUInt32LE(built.table.rules[i], i * 8 + 4);
    }
    this.#o.rows.updateBatch(keys, vals);
    const t = Buffer.alloc(UNWIND_TABLE.size);
    t.writeUInt32LE(first, UNWIND_TABLE.first);
    t.writeUInt32LE(n, UNWIND_TABLE.rows);
    this.#o.tables.update(u32Buffer(id), t);
    const entry: TableEntry = { id, key, first, rows: n, refs: 0, idleSince: Date.now() };
    this.#tables.set(key, entry);
    this.#stats.tablesBuilt++;
    this.#stats.buildMsTotal += built.buildMs;
    this.#stats.cfiBytesParsed += built.cfiBytes;
    return entry;
  }

  /** binaries refused for room, counted once each (they are tried again on each request) */
  readonly #refusedKeys = new LRUCache<string, true>({ max: 4096 });
  #refused(key: string, reason: 'row_space_full' | 'table_ids_full'): void {
    if (this.#refusedKeys.has(`${reason}:${key}`)) return;
    this.#refusedKeys.set(`${reason}:${key}`, true);
    this.#stats.fallbackBinaries[reason]++;
  }

  #unref(t: TableEntry): void {
    if (--t.refs <= 0) {
      t.refs = 0;
      t.idleSince = Date.now();
    }
  }

  /** Frees the table idle longest; false when every table is in use. */
  #evictOneIdle(): boolean {
    let victim: TableEntry | null = null;
    for (const t of this.#tables.values()) if (t.refs === 0 && (!victim || t.idleSince < victim.idleSince)) victim = t;
    if (!victim) return false;
    this.#evict(victim);
    return true;
  }

  #evict(t: TableEntry): void {
    // the table's row count goes to 0 first: a walk still holding the id finds no rows, not another's
    this.#o.tables.update(u32Buffer(t.id), Buffer.alloc(UNWIND_TABLE.size));
    this.#space.free(t.first, t.rows);
    this.#tableIds.push(t.id);
    this.#tables.delete(t.key);
    this.#stats.tablesEvicted++;
  }

  #forget(tgid: number): void {
    const p = this.#procs.get(tgid);
    if (!p) return; // only user space writes entries: none to delete
    this.#o.procs.delete(u32Buffer(tgid));
    this.#procs.delete(tgid);
    for (const t of p.tables) this.#unref(t);
  }

  /** Drops exited processes, then tables nobody has mapped for idleTableMs. */
  sweep(now = Date.now()): void {
    for (const tgid of [...this.#procs.keys()]) {
      if (!existsSync(`/proc/${tgid}`)) this.#forget(tgid);
    }
    const idleMs = this.#o.idleTableMs ?? 60_000;
    for (const t of [...this.#tables.values()]) if (t.refs === 0 && now - t.idleSince >= idleMs) this.#evict(t);
  }

  stats(): UnwindStats {
    return {
      ...this.#stats,
      requests: { ...this.#stats.requests },
      fallbackBinaries: { ...this.#stats.fallbackBinaries },
      processes: this.#procs.size,
      tables: this.#tables.size,
      rowsUsed: this.#space.used,
      rowsCapacity: this.#space.capacity,
      rowBytes: this.#space.capacity * UNWIND_ROW.size + this.#o.tables.info.maxEntries * UNWIND_TABLE.size,
      procBytes: this.#procs.size * (UNWIND_PROC.size + 64),
    };
  }
}
