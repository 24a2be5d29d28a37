/** Where a frame's address lives: a binary's executable segment in its own (link-time) address
 * space, so the same code in two processes (ASLR) has one mapping and one address. */
export interface MappingDesc {
  file: string;
  buildId: string;
  /** link-time start of the segment, page aligned */
  start: bigint;
  limit: bigint;
  /** file offset of `start` */
  offset: bigint;
}

export interface Frame {
  name: string;
  mapping: MappingDesc;
  /** for ELF code the link-time address (what addr2line -e FILE takes); for kernel and JIT code the runtime address */
  address: bigint;
}

export const UNKNOWN_MAPPING: MappingDesc = { file: '[unknown]', buildId: '', start: 0n, limit: 0n, offset: 0n };
