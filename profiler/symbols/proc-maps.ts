/* /proc/PID/maps lines → mappings. */

export interface ProcMapping {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  dev: string;
  inode: number;
  /** file path as the process sees it, or a pseudo name like [vdso], [anon:...], '' for anonymous */
  path: string;
}

export function parseProcMaps(text: string): ProcMapping[] {
  const out: ProcMapping[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms: m[3],
      offset: BigInt(`0x${m[4]}`),
      dev: m[5],
      inode: Number(m[6]),
      path: m[7],
    });
  }
  return out;
}

/** The mapping containing an address (maps are sorted by start, as the kernel prints them). */
export function findMapping(maps: ProcMapping[], address: bigint): ProcMapping | null {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid];
    if (address < m.start) hi = mid - 1;
    else if (address >= m.end) lo = mid + 1;
    else return m;
  }
  return null;
}

/** A mapping backed by a file on disk (not anonymous memory, [vdso], memfd or a deleted file). */
export function isFileBacked(m: ProcMapping): boolean {
  return m.inode !== 0 && m.path.startsWith('/') && !m.path.startsWith('/memfd:');
}
