/* Minimal ELF64 little-endian reader: program headers, sections, build id, .gnu_debuglink,
 * .symtab/.dynsym functions, PLT stubs (name@plt, from .rela.plt), and function starts from
 * .eh_frame_hdr (for code no symbol covers). Reads only the parts it needs, by offset (binaries can be
 * 100+ MB). */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { SymbolColumnsBuilder, type SymbolColumns } from './symbol-table.js';

const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_DYNSYM = 11;
const SHT_NOBITS = 8;
const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const NT_GNU_BUILD_ID = 3;
const ET_DYN = 3;
const SHT_RELA = 4;
/** x86-64 relocation types of .rela.plt entries that name a symbol */
const R_X86_64_JUMP_SLOT = 7;
/** the PLT entry size on x86-64, in .plt and .plt.sec alike */
const PLT_ENTRY = 16;
/** DW_EH_PE encodings .eh_frame_hdr uses in practice: udata4 count, datarel|sdata4 table */
const DW_EH_PE_udata4 = 0x03;
const DW_EH_PE_datarel_sdata4 = 0x3b;

export interface LoadSegment {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  executable: boolean;
}

interface Section {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfInfo {
  type: number;
  /** true for ET_DYN (PIE executables and shared libraries) */
  isDyn: boolean;
  buildId: string;
  debuglink: string | null;
  segments: LoadSegment[];
  hasSymtab: boolean;
}

export class ElfFile {
  readonly #fd: number;
  readonly #size: number;
  #sections: Section[] = [];
  readonly info: ElfInfo;

  private constructor(fd: number) {
    this.#fd = fd;
    this.#size = fstatSync(fd).size;
    this.info = this.#parse();
  }

  /** Opens and parses the headers; throws on a file that is not ELF64 little-endian. */
  static open(path: string): ElfFile {
    const fd = openSync(path, 'r');
    try {
      return new ElfFile(fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  close(): void {
    closeSync(this.#fd);
  }

  #read(offset: number, length: number): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.#size) throw new Error(`ELF read out of bounds (${offset}+${length})`);
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.#fd, buf, done, length - done, offset + done);
      if (n <= 0) throw new Error('short read in ELF file');
      done += n;
    }
    return buf;
  }

  #parse(): ElfInfo {
    const h = this.#read(0, 64);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
    if (h[4] !== 2 || h[5] !== 1) throw new Error('only ELF64 little-endian is supported');
    const type = h.readUInt16LE(16);
    const phoff = Number(h.readBigUInt64LE(32));
    const shoff = Number(h.readBigUInt64LE(40));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const shentsize = h.readUInt16LE(58);
    const shnum = h.readUInt16LE(60);
    const shstrndx = h.readUInt16LE(62);

    const segments: LoadSegment[] = [];
    const notes: { offset: number; size: number }[] = [];
    if (phnum > 0) {
      const ph = this.#read(phoff, phentsize * phnum);
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        const ptype = ph.readUInt32LE(o);
        if (ptype === PT_LOAD) {
          segments.push({
            executable: (ph.readUInt32LE(o + 4) & PF_X) !== 0,
            offset: ph.readBigUInt64LE(o + 8),
            vaddr: ph.readBigUInt64LE(o + 16),
            filesz: ph.readBigUInt64LE(o + 32),
            memsz: ph.readBigUInt64LE(o + 40),
          });
        } else if (ptype === PT_NOTE) {
          notes.push({ offset: Number(ph.readBigUInt64LE(o + 8)), size: Number(ph.readBigUInt64LE(o + 32)) });
        }
      }
    }

    if (shnum > 0 && shoff > 0 && shoff + shentsize * shnum <= this.#size) {
      const sh = this.#read(shoff, shentsize * shnum);
      const raw = [];
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize;
        raw.push({
          nameOff: sh.readUInt32LE(o),
          type: sh.readUInt32LE(o + 4),
          flags: Number(sh.readBigUInt64LE(o + 8)),
          addr: Number(sh.readBigUInt64LE(o + 16)),
          offset: Number(sh.readBigUInt64LE(o + 24)),
          size: Number(sh.readBigUInt64LE(o + 32)),
          link: sh.readUInt32LE(o + 40),
          entsize: Number(sh.readBigUInt64LE(o + 56)),
        });
      }
      const strs = shstrndx < raw.length ? this.#read(raw[shstrndx].offset, raw[shstrndx].size) : Buffer.alloc(0);
      this.#sections = raw.map((s) => {
        const end = strs.indexOf(0, s.nameOff);
        return { ...s, name: strs.toString('latin1', s.nameOff, end < 0 ? strs.length : end) };
      });
    }

    let buildId = '';
    const noteSources = notes.length > 0 ? notes : this.#sections.filter((s) => s.type === SHT_NOTE).map((s) => ({ offset: s.offset, size: s.size }));
    for (const n of noteSources) {
      buildId = this.#findBuildId(n.offset, n.size);
      if (buildId) break;
    }

    let debuglink: string | null = null;
    const dl = this.#sections.find((s) => s.name === '.gnu_debuglink' && s.type !== SHT_NOBITS);
    if (dl && dl.size > 0) {
      const b = this.#read(dl.offset, dl.size);
      const end = b.indexOf(0);
      debuglink = b.toString('utf8', 0, end < 0 ? b.length : end) || null;
    }

    return {
      type,
      isDyn: type === ET_DYN,
      buildId,
      debuglink,
      segments,
      hasSymtab: this.#sections.some((s) => s.type === SHT_SYMTAB && s.size > 0),
    };
  }

  #findBuildId(offset: number, size: number): string {
    if (size <= 0 || size > 1 << 20 || offset + size > this.#size) return '';
    const b = this.#read(offset, size);
    let o = 0;
    while (o + 12 <= b.length) {
      const namesz = b.readUInt32LE(o);
      const descsz = b.readUInt32LE(o + 4);
      const ntype = b.readUInt32LE(o + 8);
      const nameStart = o + 12;
      const descStart = nameStart + ((namesz + 3) & ~3);
      if (descStart + descsz > b.length) break;
      if (ntype === NT_GNU_BUILD_ID && namesz === 4 && b.toString('latin1', nameStart, nameStart + 3) === 'GNU') {
        return b.toString('hex', descStart, descStart + descsz);
      }
      o = descStart + ((descsz + 3) & ~3);
    }
    return '';
  }

  /** A section's bytes and address by name; null when absent, empty or without bytes in the file. */
  section(name: string, maxBytes: number): { data: Buffer; vaddr: number } | null {
    const sec = this.#sections.find((s) => s.name === name);
    if (!sec || sec.type === SHT_NOBITS || sec.size === 0) return null;
    if (sec.size > maxBytes) throw new RangeError(`${name} is ${sec.size} bytes, over the ${maxBytes}-byte bound`);
    const raw = this.#read(sec.offset, sec.size);
    if (!(sec.flags & SHF_COMPRESSED)) return { data: raw, vaddr: sec.addr };
    // Elf64_Chdr: ch_type, reserved, ch_size, ch_addralign; then the compressed bytes (Go binaries and
    // distribution debug files compress their debug sections). zlib only: zstd is not read.
    if (raw.length < 24 || raw.readUInt32LE(0) !== ELFCOMPRESS_ZLIB) return null;
    const size = Number(raw.readBigUInt64LE(8));
    if (size > maxBytes) throw new RangeError(`${name} is ${size} bytes uncompressed, over the ${maxBytes}-byte bound`);
    return { data: inflateSync(raw.subarray(24), { maxOutputLength: Math.max(1, size) }), vaddr: sec.addr };
  }

  /** PLT stubs as symbols named `name@plt` (as objdump and perf name them): entry i of .rela.plt is
   *  entry i of .plt.sec when the binary has one (built with IBT), else entry i + 1 of .plt (entry 0
   *  is the resolver's). Empty for anything else (statically linked, no lazy binding, not x86-64). */
  pltSymbols(): SymbolColumns {
    const out = new SymbolColumnsBuilder();
    const rela = this.#sections.find((s) => s.name === '.rela.plt' && s.type === SHT_RELA);
    const pltSec = this.#sections.find((s) => s.name === '.plt.sec' && s.type !== SHT_NOBITS);
    const plt = this.#sections.find((s) => s.name === '.plt' && s.type !== SHT_NOBITS);
    const dynsym = rela ? this.#sections[rela.link] : undefined;
    const dynstr = dynsym ? this.#sections[dynsym.link] : undefined;
    if (!rela || !dynsym || !dynstr || dynsym.type !== SHT_DYNSYM || !(pltSec ?? plt) || rela.size > 16 << 20) return out.build();
    const base = pltSec ? pltSec.addr : plt!.addr + PLT_ENTRY;
    const limit = pltSec ? pltSec.addr + pltSec.size : plt!.addr + plt!.size;
    const relas = this.#read(rela.offset, rela.size);
    const syms = this.#read(dynsym.offset, dynsym.size);
    const strs = this.#read(dynstr.offset, dynstr.size);
    const suffix = Buffer.from('@plt');
    const entsize = rela.entsize || 24;
    for (let i = 0, o = 0; o + entsize <= relas.length; i++, o += entsize) {
      const at = base + i * PLT_ENTRY;
      if (at + PLT_ENTRY > limit) break;
      const info = relas.readBigUInt64LE(o + 8);
      if (Number(info & 0xffffffffn) !== R_X86_64_JUMP_SLOT) continue;
      const symOff = Number(info >> 32n) * (dynsym.entsize || 24);
      if (symOff === 0 || symOff + 24 > syms.length) continue;
      const nameOff = syms.readUInt32LE(symOff);
      const end = strs.indexOf(0, nameOff);
      if (nameOff >= strs.length || end <= nameOff) continue;
      const name = Buffer.concat([strs.subarray(nameOff, end), suffix]);
      out.add(BigInt(at), BigInt(PLT_ENTRY), name, 0, name.length);
    }
    return out.build();
  }

  /** Function start addresses from .eh_frame_hdr's sorted search table (one per FDE), or null when
   *  the binary has none, or one in an encoding other than the linkers' usual one, or more than `max`. */
  functionStarts(max = 1 << 22): BigUint64Array | null {
    const hdr = this.#sections.find((s) => s.name === '.eh_frame_hdr' && s.type !== SHT_NOBITS);
    if (!hdr || hdr.size < 12) return null;
    const head = this.#read(hdr.offset, 12);
    // eh_frame_ptr must take 4 bytes (linkers write pcrel|sdata4) for the count to sit at offset 8
    if (head[0] !== 1 || ![0x03, 0x0b].includes(head[1] & 0x0f) || head[2] !== DW_EH_PE_udata4 || head[3] !== DW_EH_PE_datarel_sdata4) return null;
    const count = head.readUInt32LE(8);
    if (count === 0 || count > max || 12 + count * 8 > hdr.size) return null;
    const table = this.#read(hdr.offset + 12, count * 8);
    const starts = new BigUint64Array(count);
    for (let i = 0; i < count; i++) starts[i] = BigInt(hdr.addr + table.readInt32LE(i * 8));
    return starts;
  }

  /** Function symbols from .dynsym, then .symtab (it has the local ones, and wins at equal addresses),
   *  as columns: names are copied as bytes, no object or string per symbol. */
  functionSymbols(): SymbolColumns {
    const out = new SymbolColumnsBuilder();
    for (const type of [SHT_DYNSYM, SHT_SYMTAB]) {
      for (const sec of this.#sections.filter((s) => s.type === type && s.size > 0)) {
        const strsec = this.#sections[sec.link];
        if (!strsec || strsec.type === SHT_NOBITS) continue;
        const entsize = sec.entsize || 24;
        const syms = this.#read(sec.offset, sec.size);
        const strs = this.#read(strsec.offset, strsec.size);
        for (let o = 0; o + entsize <= syms.length; o += entsize) {
          const info = syms[o + 4];
          const stype = info & 0xf;
          if (stype !== STT_FUNC && stype !== STT_GNU_IFUNC) continue;
          const shndx = syms.readUInt16LE(o + 6);
          const value = syms.readBigUInt64LE(o + 8);
          if (shndx === 0 || value === 0n) continue;
          const nameOff = syms.readUInt32LE(o);
          if (nameOff >= strs.length) continue;
          const end = strs.indexOf(0, nameOff);
          const to = end < 0 ? strs.length : end;
          if (to === nameOff) continue;
          out.add(value, syms.readBigUInt64LE(o + 16), strs, nameOff, to);
        }
      }
    }
    return out.build();
  }
}

/** The executable PT_LOAD segment containing a file offset, for file offset → ELF address. */
export function segmentForFileOffset(segments: LoadSegment[], fileOffset: bigint): LoadSegment | null {
  for (const s of segments) {
    if (fileOffset >= s.offset && fileOffset < s.offset + s.filesz) return s;
  }
  return null;
}

export function fileOffsetToVaddr(seg: LoadSegment, fileOffset: bigint): bigint {
  return fileOffset - seg.offset + seg.vaddr;
}
