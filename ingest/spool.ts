/* The agent's durable spool (ARCHITECTURE.md "Many hosts"): each batch is a file written before it is
 * sent (temp file, fsync, rename, fsync of the folder) with a header (magic, format version, sequence,
 * time, length, CRC-32 of the body) and deleted only after the server acknowledged it. Bounded by bytes
 * and by age: past either the oldest batches are dropped and counted by reason. A file that does not
 * check out is moved aside to `corrupt/` (the newest few kept) and counted; it never stops the agent. */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const MAGIC = Buffer.from('KILNSPL\0');
/** v1: the body is one kiln.ingest.v1 PushRequest */
export const SPOOL_FORMAT = 1;
/** magic, format, CRC-32, sequence, spooled at (ms), body length */
export const SPOOL_HEADER_BYTES = 8 + 4 + 4 + 8 + 8 + 4;
const HEADER_BYTES = SPOOL_HEADER_BYTES;
const CORRUPT_KEPT = 16;

export type DropReason = 'spool_full' | 'too_old' | 'corrupt' | 'rejected';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  maxAgeMs: number;
  now?: () => number;
}

export interface SpoolEntry {
  sequence: bigint;
  spooledAtMs: number;
  bytes: number;
}

export interface SpoolStats {
  batches: number;
  bytes: number;
  oldestAgeSeconds: number;
  written: number;
  acknowledged: number;
  dropped: Record<DropReason, number>;
}

const fileName = (seq: bigint) => `${seq.toString().padStart(20, '0')}.batch`;

export function encodeSpoolFile(seq: bigint, spooledAtMs: number, body: Uint8Array): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(SPOOL_FORMAT, 8);
  h.writeUInt32LE(crc32(body), 12);
  h.writeBigUInt64LE(seq, 16);
  h.writeBigUInt64LE(BigInt(spooledAtMs), 24);
  h.writeUInt32LE(body.byteLength, 32);
  return Buffer.concat([h, body]);
}

/** The body of a spool file, or why it does not check out. */
export function decodeSpoolFile(buf: Buffer): { sequence: bigint; spooledAtMs: number; body: Buffer } | string {
  if (buf.length < HEADER_BYTES) return `${buf.length} bytes, shorter than a header`;
  if (!buf.subarray(0, 8).equals(MAGIC)) return 'not a Kiln spool file';
  const version = buf.readUInt32LE(8);
  if (version !== SPOOL_FORMAT) return `spool format ${version} (this agent reads ${SPOOL_FORMAT})`;
  const len = buf.readUInt32LE(32);
  if (buf.length !== HEADER_BYTES + len) return `${buf.length - HEADER_BYTES} body bytes where the header says ${len}`;
  const body = buf.subarray(HEADER_BYTES);
  if (crc32(body) !== buf.readUInt32LE(12)) return 'checksum mismatch';
  return { sequence: buf.readBigUInt64LE(16), spooledAtMs: Number(buf.readBigUInt64LE(24)), body };
}

function writeDurably(path: string, data: Buffer): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class Spool {
  readonly #opts: SpoolOptions;
  /** oldest first */
  readonly #entries: SpoolEntry[] = [];
  #bytes = 0;
  #written = 0;
  #acked = 0;
  readonly #dropped: Record<DropReason, number> = { spool_full: 0, too_old: 0, corrupt: 0, rejected: 0 };
  #lastSequence = 0n;
  readonly #onDrop: (reason: DropReason, e: SpoolEntry, why?: string) => void;

  constructor(opts: SpoolOptions, onDrop: (reason: DropReason, e: SpoolEntry, why?: string) => void = () => undefined) {
    this.#opts = opts;
    this.#onDrop = onDrop;
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    try {
      this.#lastSequence = BigInt(readFileSync(join(opts.dir, 'last-sequence'), 'utf8').trim());
    } catch {
      // a new spool
    }
    for (const f of readdirSync(opts.dir).sort()) {
      const path = join(opts.dir, f);
      if (f.endsWith('.tmp')) {
        rmSync(path, { force: true }); // a write the agent did not finish: never acknowledged, never sent
        continue;
      }
      const m = /^(\d{20})\.batch$/.exec(f);
      if (!m) continue;
      const st = statSync(path);
      const sequence = BigInt(m[1]);
      this.#entries.push({ sequence, spooledAtMs: st.mtimeMs, bytes: st.size });
      this.#bytes += st.size;
      if (sequence > this.#lastSequence) this.#lastSequence = sequence;
    }
  }

  #now(): number {
    return this.#opts.now?.() ?? Date.now();
  }

  /** The next sequence number, never one used before (kept in `last-sequence` beside the batches). */
  nextSequence(): bigint {
    this.#lastSequence += 1n;
    writeDurably(join(this.#opts.dir, 'last-sequence'), Buffer.from(`${this.#lastSequence}\n`));
    return this.#lastSequence;
  }

  /** Writes a batch durably, then drops the oldest past the bounds (the new one included if it alone
   *  is over the byte bound). */
  append(sequence: bigint, body: Uint8Array): SpoolEntry {
    const spooledAtMs = this.#now();
    const data = encodeSpoolFile(sequence, spooledAtMs, body);
    writeDurably(join(this.#opts.dir, fileName(sequence)), data);
    fsyncDir(this.#opts.dir);
    const e = { sequence, spooledAtMs, bytes: data.length };
    this.#entries.push(e);
    this.#bytes += e.bytes;
    this.#written++;
    this.enforce();
    return e;
  }

  /** Drops batches past the age limit, then the oldest while over the byte bound. */
  enforce(): void {
    const now = this.#now();
    while (this.#entries.length && now - this.#entries[0].spooledAtMs > this.#opts.maxAgeMs) this.#drop(this.#entries[0], 'too_old');
    while (this.#entries.length && this.#bytes > this.#opts.maxBytes) this.#drop(this.#entries[0], 'spool_full');
  }

  #remove(e: SpoolEntry): boolean {
    const i = this.#entries.indexOf(e);
    if (i < 0) return false;
    this.#entries.splice(i, 1);
    this.#bytes -= e.bytes;
    return true;
  }

  #drop(e: SpoolEntry, reason: DropReason, why?: string): void {
    if (!this.#remove(e)) return;
    this.#dropped[reason]++;
    const path = join(this.#opts.dir, fileName(e.sequence));
    if (reason === 'corrupt' || reason === 'rejected') {
      const aside = join(this.#opts.dir, reason);
      mkdirSync(aside, { recursive: true, mode: 0o700 });
      try {
        renameSync(path, join(aside, fileName(e.sequence)));
      } catch {
        rmSync(path, { force: true });
      }
      const kept = readdirSync(aside).sort();
      for (const f of kept.slice(0, Math.max(0, kept.length - CORRUPT_KEPT))) rmSync(join(aside, f), { force: true });
    } else {
      rmSync(path, { force: true });
    }
    this.#onDrop(reason, e, why);
  }

  /** The oldest batch that checks out, with its body; corrupt ones on the way are set aside. */
  head(): { entry: SpoolEntry; body: Buffer } | null {
    this.enforce();
    while (this.#entries.length) {
      const e = this.#entries[0];
      let buf: Buffer;
      try {
        buf = readFileSync(join(this.#opts.dir, fileName(e.sequence)));
      } catch (err) {
        this.#drop(e, 'corrupt', (err as Error).message);
        continue;
      }
      const d = decodeSpoolFile(buf);
      if (typeof d === 'string' || d.sequence !== e.sequence) {
        this.#drop(e, 'corrupt', typeof d === 'string' ? d : `sequence ${d.sequence} in the file of ${e.sequence}`);
        continue;
      }
      e.spooledAtMs = d.spooledAtMs;
      return { entry: e, body: d.body };
    }
    return null;
  }

  /** The server stored it: delete the file. */
  acknowledge(e: SpoolEntry): void {
    if (!this.#remove(e)) return;
    this.#acked++;
    rmSync(join(this.#opts.dir, fileName(e.sequence)), { force: true });
  }

  /** The server refused it for good (malformed): set aside in `rejected/` and counted. */
  reject(e: SpoolEntry, why: string): void {
    this.#drop(e, 'rejected', why);
  }

  get size(): number {
    return this.#entries.length;
  }

  stats(): SpoolStats {
    return {
      batches: this.#entries.length,
      bytes: this.#bytes,
      oldestAgeSeconds: this.#entries.length ? Math.max(0, (this.#now() - this.#entries[0].spooledAtMs) / 1000) : 0,
      written: this.#written,
      acknowledged: this.#acked,
      dropped: { ...this.#dropped },
    };
  }
}
