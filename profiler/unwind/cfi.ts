/* Call frame information (DWARF 5 §6.4, and the .eh_frame variant of the System V x86-64 ABI and the
 * LSB) → rows "from this address on, find the caller like this", for x86-64.
 *
 * Only what the walk in bpf/profile.bpf.c can use is kept per row: how to compute the canonical frame
 * address (CFA) from rsp or rbp, where the caller's rbp was saved, and whether the return address sits
 * at CFA-8 as the ABI's call instruction leaves it. Anything else ends the walk there with a reason
 * (see UnwindKind). The table format and why it looks this way: ARCHITECTURE.md, "Unwinding". */

/** What a row tells the walk to do; the values are `enum unwind_kind` in bpf/profile.h. */
export const UnwindKind = {
  /** no unwind information covers the address: take a frame-pointer step */
  none: 0,
  /** CFA = rsp + offset */
  cfaRsp: 1,
  /** CFA = rbp + offset */
  cfaRbp: 2,
  /** a PLT entry's expression: CFA = rsp + offset, plus 8 when (pc & 15) >= threshold */
  plt: 3,
  /** the return address is undefined: the outermost frame (_start, a thread's start) */
  outermost: 4,
  /** a signal trampoline (augmentation "S"): ends the walk, counted */
  signal: 5,
  /** a rule the walk does not follow (other CFA expressions, registers, offsets out of range): ends it, counted */
  unsupported: 6,
} as const;
export type UnwindKindValue = (typeof UnwindKind)[keyof typeof UnwindKind];

/** DWARF register numbers on x86-64 (System V ABI, figure 3.36). */
const REG_RBP = 6;
const REG_RSP = 7;
const REG_RA = 16;

/** One row, unpacked (for tests and reports): kind, CFA offset in units of 8 bytes, where rbp was saved
 *  relative to the CFA in units of 8 (0: rbp unchanged; for `plt` the threshold instead). */
export interface CfiRow {
  pc: number;
  kind: UnwindKindValue;
  cfaOffset8: number;
  rbpOffset8: number;
}

/** A row's rule packed as struct unwind_row's second word: cfa_off8 | kind << 16 | (u8)rbp_off8 << 24. */
export function packRule(kind: number, cfaOffset8: number, rbpOffset8: number): number {
  return (cfaOffset8 | (kind << 16) | ((rbpOffset8 & 0xff) << 24)) >>> 0;
}

export function unpackRule(pc: number, rule: number): CfiRow {
  return { pc, kind: ((rule >>> 16) & 0xff) as UnwindKindValue, cfaOffset8: rule & 0xffff, rbpOffset8: (rule << 0) >> 24 };
}

const RULE_NONE = packRule(UnwindKind.none, 0, 0);
const RULE_SIGNAL = packRule(UnwindKind.signal, 0, 0);
const RULE_OUTERMOST = packRule(UnwindKind.outermost, 0, 0);
const RULE_UNSUPPORTED = packRule(UnwindKind.unsupported, 0, 0);

/** Rows sorted by pc: pcs[i] is where rules[i] starts to apply (ELF addresses below 4 GiB). */
export interface CfiTable {
  pcs: Uint32Array;
  rules: Uint32Array;
}

/** Appends (pc, rule) pairs to typed arrays that grow by doubling: no object per row. */
class RowBuffer {
  pcs = new Uint32Array(1024);
  rules = new Uint32Array(1024);
  length = 0;
  push(pc: number, rule: number): void {
    if (this.length === this.pcs.length) {
      const pcs = new Uint32Array(this.length * 2);
      pcs.set(this.pcs);
      const rules = new Uint32Array(this.length * 2);
      rules.set(this.rules);
      this.pcs = pcs;
      this.rules = rules;
    }
    this.pcs[this.length] = pc;
    this.rules[this.length++] = rule;
  }
}

export interface CfiStats {
  cies: number;
  fdes: number;
  /** FDEs skipped: bad encoding, instructions past their end, an address above 4 GiB */
  fdesSkipped: number;
  /** rows by kind before rows with equal rules are merged */
  rowsByKind: Record<keyof typeof UnwindKind, number>;
}

export interface CfiSection {
  data: Uint8Array;
  /** the section's address in the ELF (sh_addr), for pc-relative pointers */
  vaddr: number;
  /** true for .debug_frame (CIE id 0xffffffff, absolute addresses), false for .eh_frame */
  debugFrame: boolean;
}

export class CfiError extends Error {}

class Reader {
  pos: number;
  readonly #view: DataView;
  constructor(
    readonly data: Uint8Array,
    pos: number,
    public end: number,
  ) {
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.pos = pos;
  }
  #need(n: number): void {
    if (this.pos + n > this.end) throw new CfiError(`read past the end of an entry at ${this.pos}`);
  }
  u8(): number {
    this.#need(1);
    return this.data[this.pos++];
  }
  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i16(): number {
    this.#need(2);
    const v = this.#view.getInt16(this.pos, true);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.#need(4);
    const v = this.#view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** 64-bit values as numbers: addresses here stay below 2^53 (tables cover ELF addresses < 4 GiB) */
  u64(): number {
    this.#need(8);
    const v = Number(this.#view.getBigUint64(this.pos, true));
    this.pos += 8;
    return v;
  }
  i64(): number {
    this.#need(8);
    const v = Number(this.#view.getBigInt64(this.pos, true));
    this.pos += 8;
    return v;
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) return result;
    }
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) return b & 0x40 ? result - mul : result;
    }
  }
  cstring(): string {
    const start = this.pos;
    while (this.u8() !== 0);
    return String.fromCharCode(...this.data.subarray(start, this.pos - 1));
  }
}

// pointer encodings (LSB, "DWARF Exception Header Encoding")
const DW_EH_PE_omit = 0xff;

function readEncoded(r: Reader, enc: number, sectionVaddr: number): number {
  if (enc === DW_EH_PE_omit) return 0;
  const fieldAddr = sectionVaddr + r.pos;
  let v: number;
  switch (enc & 0x0f) {
    case 0x00: v = r.u64(); break;
    case 0x01: v = r.uleb(); break;
    case 0x02: v = r.u16(); break;
    case 0x03: v = r.u32(); break;
    case 0x04: v = r.u64(); break;
    case 0x09: v = r.sleb(); break;
    case 0x0a: v = r.i16(); break;
    case 0x0b: v = r.i32(); break;
    case 0x0c: v = r.i64(); break;
    default: throw new CfiError(`pointer encoding 0x${enc.toString(16)}`);
  }
  switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += fieldAddr; break; // pcrel
    default: throw new CfiError(`pointer application 0x${(enc & 0x70).toString(16)}`);
  }
  return v;
}

/** The size of a pointer's value alone (pc_range uses the format without the application). */
function readEncodedRange(r: Reader, enc: number): number {
  return readEncoded(r, enc & 0x0f, 0);
}

interface Cie {
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEncoding: number;
  hasAugData: boolean;
  signal: boolean;
  instrStart: number;
  instrEnd: number;
}

// a register's rule: how to find the caller's value
const R_SAME = 0;
const R_UNDEFINED = 1;
const R_OFFSET = 2; // saved at CFA + n
const R_OTHER = 3; // register, expression, val_offset ...: not followed
// the CFA's rule
const C_REG = 0;
const C_PLT = 1;
const C_EXPR = 2;

/**
 * Recognises the expression GCC and binutils give PLT entries: DW_OP_breg7 (rsp) N; DW_OP_breg16 (rip) 0;
 * DW_OP_lit15; DW_OP_and; DW_OP_lit<T>; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus — "rsp + N, plus 8
 * once the entry's push has run", which depends on where in the 16-byte entry rip is. Returns
 * N | T << 8, or -1.
 */
function pltExpression(d: Uint8Array, at: number, len: number): number {
  if (len !== 11) return -1;
  const n = d[at + 1];
  const lt = d[at + 6];
  if (d[at] !== 0x77 || d[at + 2] !== 0x80 || d[at + 3] !== 0 || d[at + 4] !== 0x3f || d[at + 5] !== 0x1a) return -1;
  if (d[at + 7] !== 0x2a || d[at + 8] !== 0x33 || d[at + 9] !== 0x24 || d[at + 10] !== 0x22) return -1;
  if (lt < 0x30 || lt > 0x4f || n > 0x3f) return -1; // a literal 0..31, a small positive offset
  return n | ((lt - 0x30) << 8);
}

/** Fields of a frame state, in the order the remember stack keeps them. */
const STATE_FIELDS = 8;

/**
 * The CFA program interpreter: one per section, its state in numbers (no object per instruction or row),
 * reused for every FDE.
 */
class Interpreter {
  // the state: CFA rule (kind, register, offset, PLT word), rbp rule, return address rule
  cfaKind = C_REG;
  cfaReg = REG_RSP;
  cfaOff = 8;
  plt = 0;
  rbpT = R_SAME;
  rbpN = 0;
  raT = R_SAME;
  raN = 0;
  // the CIE's rules, for DW_CFA_restore
  iRbpT = R_SAME;
  iRbpN = 0;
  iRaT = R_SAME;
  iRaN = 0;
  stack: number[] = [];
  readonly r: Reader;

  constructor(readonly sec: CfiSection) {
    this.r = new Reader(sec.data, 0, sec.data.length);
  }

  rule(signal: boolean): number {
    if (signal) return RULE_SIGNAL;
    if (this.raT === R_UNDEFINED) return RULE_OUTERMOST;
    let rbpOffset8 = 0;
    if (this.rbpT === R_OFFSET) {
      const n = this.rbpN;
      if (n % 8 !== 0 || n / 8 < -128 || n / 8 > 127 || n === 0) return RULE_UNSUPPORTED;
      rbpOffset8 = n / 8;
    }
    // the call instruction leaves the return address right below the caller's stack pointer
    if (this.raT !== R_OFFSET || this.raN !== -8) return RULE_UNSUPPORTED;
    if (this.cfaKind === C_PLT) {
      const off = this.plt & 0xff;
      return off % 8 !== 0 ? RULE_UNSUPPORTED : packRule(UnwindKind.plt, off / 8, this.plt >> 8);
    }
    if (this.cfaKind !== C_REG) return RULE_UNSUPPORTED;
    const off = this.cfaOff;
    if (off % 8 !== 0 || off < 0 || off / 8 > 0xffff) return RULE_UNSUPPORTED;
    if (this.cfaReg === REG_RSP) return packRule(UnwindKind.cfaRsp, off / 8, rbpOffset8);
    if (this.cfaReg === REG_RBP) return packRule(UnwindKind.cfaRbp, off / 8, rbpOffset8);
    return RULE_UNSUPPORTED;
  }

  #setReg(cie: Cie, reg: number, t: number, n: number): void {
    if (reg === REG_RBP) {
      this.rbpT = t;
      this.rbpN = n;
    } else if (reg === REG_RA || reg === cie.raReg) {
      this.raT = t;
      this.raN = n;
    }
  }

  #restoreReg(cie: Cie, reg: number): void {
    if (reg === REG_RBP) {
      this.rbpT = this.iRbpT;
      this.rbpN = this.iRbpN;
    } else if (reg === REG_RA || reg === cie.raReg) {
      this.raT = this.iRaT;
      this.raN = this.iRaN;
    }
  }

  /**
   * Runs one FDE's instructions after its CIE's initial ones and appends a row at every address where
   * the rule changes, plus a `none` row at the FDE's end (removed later when the next FDE starts there).
   */
  fde(cie: Cie, pcBegin: number, pcEnd: number, instrStart: number, instrEnd: number, out: RowBuffer): void {
    this.cfaKind = C_REG;
    this.cfaReg = REG_RSP;
    this.cfaOff = 8;
    this.plt = 0;
    this.rbpT = this.iRbpT = R_SAME;
    this.raT = this.iRaT = R_SAME;
    this.rbpN = this.raN = this.iRbpN = this.iRaN = 0;
    this.stack.length = 0;
    this.#run(cie, cie.instrStart, cie.instrEnd, -1, 0, out);
    this.iRbpT = this.rbpT; // DW_CFA_restore goes back to the CIE's rules
    this.iRbpN = this.rbpN;
    this.iRaT = this.raT;
    this.iRaN = this.raN;
    this.stack.length = 0;
    const loc = this.#run(cie, instrStart, instrEnd, pcBegin, pcEnd, out);
    this.#emit(cie, loc, pcEnd, out, out.length);
    out.push(pcEnd, RULE_NONE);
  }

  #emit(cie: Cie, loc: number, pcEnd: number, out: RowBuffer, first: number): void {
    if (loc >= pcEnd) return;
    const rule = this.rule(cie.signal);
    // a later rule at the same address replaces the earlier one
    if (out.length > first && out.pcs[out.length - 1] === loc) out.rules[out.length - 1] = rule;
    else out.push(loc, rule);
  }

  /** Runs instructions in [start, end); loc < 0 for a CIE's (no rows). Returns the final location. */
  #run(cie: Cie, start: number, end: number, loc: number, pcEnd: number, out: RowBuffer): number {
    const r = this.r;
    r.pos = start;
    r.end = end;
    const first = out.length;
    const isCie = loc < 0;
    const advance = (to: number) => {
      if (!isCie) {
        this.#emit(cie, loc, pcEnd, out, first);
        loc = to;
      }
    };
    while (r.pos < end) {
      const op = r.u8();
      const high = op & 0xc0;
      const low = op & 0x3f;
      if (high === 0x40) { advance(loc + low * cie.codeAlign); continue; } // advance_loc
      if (high === 0x80) { this.#setReg(cie, low, R_OFFSET, r.uleb() * cie.dataAlign); continue; } // offset
      if (high === 0xc0) { this.#restoreReg(cie, low); continue; } // restore
      switch (op) {
        case 0x00: break; // nop
        case 0x01: advance(readEncoded(r, cie.fdeEncoding, this.sec.vaddr)); break; // set_loc
        case 0x02: advance(loc + r.u8() * cie.codeAlign); break; // advance_loc1
        case 0x03: advance(loc + r.u16() * cie.codeAlign); break; // advance_loc2
        case 0x04: advance(loc + r.u32() * cie.codeAlign); break; // advance_loc4
        case 0x05: { const reg = r.uleb(); this.#setReg(cie, reg, R_OFFSET, r.uleb() * cie.dataAlign); break; } // offset_extended
        case 0x06: this.#restoreReg(cie, r.uleb()); break; // restore_extended
        case 0x07: this.#setReg(cie, r.uleb(), R_UNDEFINED, 0); break;
        case 0x08: this.#setReg(cie, r.uleb(), R_SAME, 0); break;
        case 0x09: { const reg = r.uleb(); r.uleb(); this.#setReg(cie, reg, R_OTHER, 0); break; } // register
        case 0x0a: // remember_state
          this.stack.push(this.cfaKind, this.cfaReg, this.cfaOff, this.plt, this.rbpT, this.rbpN, this.raT, this.raN);
          break;
        case 0x0b: { // restore_state: the CFA rule comes back too, as GCC's epilogues expect
          const st = this.stack;
          if (st.length >= STATE_FIELDS) {
            this.raN = st.pop()!;
            this.raT = st.pop()!;
            this.rbpN = st.pop()!;
            this.rbpT = st.pop()!;
            this.plt = st.pop()!;
            this.cfaOff = st.pop()!;
            this.cfaReg = st.pop()!;
            this.cfaKind = st.pop()!;
          }
          break;
        }
        case 0x0c: this.cfaKind = C_REG; this.cfaReg = r.uleb(); this.cfaOff = r.uleb(); break; // def_cfa
        case 0x0d: // def_cfa_register
          if (this.cfaKind !== C_REG) { this.cfaKind = C_REG; this.cfaOff = 0; }
          this.cfaReg = r.uleb();
          break;
        case 0x0e: { const off = r.uleb(); if (this.cfaKind === C_REG) this.cfaOff = off; else this.cfaKind = C_EXPR; break; } // def_cfa_offset
        case 0x0f: { // def_cfa_expression
          const len = r.uleb();
          if (r.pos + len > end) throw new CfiError('expression past the end');
          this.plt = pltExpression(this.sec.data, r.pos, len);
          this.cfaKind = this.plt >= 0 ? C_PLT : C_EXPR;
          r.pos += len;
          break;
        }
        case 0x10: case 0x16: { // expression, val_expression
          const reg = r.uleb();
          const len = r.uleb(); // read before moving: `r.pos += r.uleb()` would add to the old position
          r.pos += len;
          this.#setReg(cie, reg, R_OTHER, 0);
          break;
        }
        case 0x11: { const reg = r.uleb(); this.#setReg(cie, reg, R_OFFSET, r.sleb() * cie.dataAlign); break; } // offset_extended_sf
        case 0x12: this.cfaKind = C_REG; this.cfaReg = r.uleb(); this.cfaOff = r.sleb() * cie.dataAlign; break; // def_cfa_sf
        case 0x13: { const off = r.sleb() * cie.dataAlign; if (this.cfaKind === C_REG) this.cfaOff = off; else this.cfaKind = C_EXPR; break; } // def_cfa_offset_sf
        case 0x14: { const reg = r.uleb(); r.uleb(); this.#setReg(cie, reg, R_OTHER, 0); break; } // val_offset
        case 0x15: { const reg = r.uleb(); r.sleb(); this.#setReg(cie, reg, R_OTHER, 0); break; } // val_offset_sf
        case 0x2e: r.uleb(); break; // GNU_args_size
        case 0x2f: { const reg = r.uleb(); this.#setReg(cie, reg, R_OFFSET, -r.uleb() * cie.dataAlign); break; } // GNU_negative_offset_extended
        default: throw new CfiError(`call frame instruction 0x${op.toString(16)}`);
      }
    }
    return loc;
  }
}

function parseCie(sec: CfiSection, start: number, end: number): Cie {
  const r = new Reader(sec.data, start, end);
  const version = r.u8();
  if (version !== 1 && version !== 3 && version !== 4) throw new CfiError(`CIE version ${version}`);
  const aug = r.cstring();
  if (aug.includes('eh')) r.u64();
  if (version === 4) {
    if (r.u8() !== 8) throw new CfiError('address size other than 8');
    r.u8(); // segment selector size
  }
  const codeAlign = r.uleb();
  const dataAlign = r.sleb();
  const raReg = version === 1 ? r.u8() : r.uleb();
  let fdeEncoding = 0; // .debug_frame: absolute 8-byte addresses
  let signal = false;
  const hasAugData = aug.startsWith('z');
  if (hasAugData) {
    const len = r.uleb();
    const augEnd = r.pos + len;
    for (const c of aug.slice(1)) {
      if (c === 'R') fdeEncoding = r.u8();
      else if (c === 'L') r.u8();
      else if (c === 'P') readEncoded(r, r.u8() & 0x7f, sec.vaddr);
      else if (c === 'S') signal = true;
      else break; // unknown: the length lets us skip the rest
    }
    r.pos = augEnd;
  } else if (aug.includes('S')) {
    signal = true;
  }
  return { codeAlign, dataAlign, raReg, fdeEncoding, hasAugData, signal, instrStart: r.pos, instrEnd: end };
}

/** Gaps between FDEs shorter than this are alignment padding that never runs: no `none` row for them. */
const PADDING_BYTES = 16;

/**
 * Every row of a .eh_frame or .debug_frame section, sorted by address, with `none` rows where no FDE
 * covers the code and rows that repeat the previous rule merged away.
 */
export function parseCfi(sec: CfiSection): { table: CfiTable; stats: CfiStats } {
  const stats: CfiStats = {
    cies: 0,
    fdes: 0,
    fdesSkipped: 0,
    rowsByKind: { none: 0, cfaRsp: 0, cfaRbp: 0, plt: 0, outermost: 0, signal: 0, unsupported: 0 },
  };
  const data = sec.data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const cies = new Map<number, Cie | null>();
  const raw = new RowBuffer();
  const interp = new Interpreter(sec);
  const fdePc: number[] = [];
  const fdeFirst: number[] = [];
  const cieAt = (off: number): Cie | null => {
    let c = cies.get(off);
    if (c !== undefined) return c;
    c = null;
    try {
      if (off + 4 <= data.length) {
        let len = view.getUint32(off, true);
        let body = off + 4;
        if (len === 0xffffffff) { len = Number(view.getBigUint64(off + 4, true)); body += 8; }
        const idLen = sec.debugFrame && body === off + 12 ? 8 : 4;
        if (body + len <= data.length) c = parseCie(sec, body + idLen, body + len);
      }
    } catch {
      c = null;
    }
    cies.set(off, c);
    return c;
  };

  let pos = 0;
  while (pos + 4 <= data.length) {
    let len = view.getUint32(pos, true);
    pos += 4;
    if (len === 0) {
      if (!sec.debugFrame) break; // the .eh_frame terminator
      continue;
    }
    let is64 = false;
    if (len === 0xffffffff) {
      if (pos + 8 > data.length) break;
      len = Number(view.getBigUint64(pos, true));
      pos += 8;
      is64 = true;
    }
    const idField = pos;
    const end = idField + len;
    if (end > data.length) break;
    pos = end;
    const id = is64 ? view.getBigUint64(idField, true) : BigInt(view.getUint32(idField, true));
    const isCie = sec.debugFrame ? id === (is64 ? 0xffffffffffffffffn : 0xffffffffn) : id === 0n;
    if (isCie) {
      stats.cies++;
      continue;
    }
    stats.fdes++;
    const cieOff = sec.debugFrame ? Number(id) : idField - Number(id);
    const cie = cieAt(cieOff);
    if (!cie) { stats.fdesSkipped++; continue; }
    const first = raw.length;
    try {
      const r = new Reader(data, idField + (is64 ? 8 : 4), end);
      const pcBegin = readEncoded(r, cie.fdeEncoding, sec.vaddr);
      const pcRange = readEncodedRange(r, cie.fdeEncoding);
      if (cie.hasAugData) {
        const augLen = r.uleb(); // the LSDA pointer of C++ code, usually
        r.pos += augLen;
      }
      if (pcRange === 0) continue;
      if (pcBegin < 0 || pcBegin + pcRange > 0xffffffff) { stats.fdesSkipped++; continue; }
      interp.fde(cie, pcBegin, pcBegin + pcRange, r.pos, end, raw);
      fdePc.push(pcBegin);
      fdeFirst.push(first);
    } catch {
      raw.length = first;
      stats.fdesSkipped++;
    }
  }

  // FDEs in address order (.eh_frame is usually sorted already), then rows merged into the table
  const order = Array.from(fdePc.keys());
  order.sort((a, b) => fdePc[a] - fdePc[b] || a - b);
  const out = new RowBuffer();
  for (const f of order) {
    const fEnd = f + 1 < fdeFirst.length ? fdeFirst[f + 1] : raw.length;
    const fPc = fdePc[f];
    // the previous FDE's closing `none` row goes when this one starts within padding distance of it
    if (out.length > 0 && out.rules[out.length - 1] === RULE_NONE && fPc - out.pcs[out.length - 1] < PADDING_BYTES) out.length--;
    for (let i = fdeFirst[f]; i < fEnd; i++) {
      const pc = raw.pcs[i];
      const rule = raw.rules[i];
      stats.rowsByKind[kindName((rule >>> 16) & 0xff)]++;
      // overlapping FDEs (rare): the later start wins from its first address on
      while (out.length > 0 && out.pcs[out.length - 1] >= pc) out.length--;
      if (out.length > 0 && out.rules[out.length - 1] === rule) continue;
      out.push(pc, rule);
    }
  }
  return { table: { pcs: out.pcs.slice(0, out.length), rules: out.rules.slice(0, out.length) }, stats };
}

const KIND_NAMES = Object.fromEntries(Object.entries(UnwindKind).map(([k, v]) => [v, k])) as Record<number, keyof typeof UnwindKind>;
export function kindName(kind: number): keyof typeof UnwindKind {
  return KIND_NAMES[kind] ?? 'unsupported';
}

/** The row in force at `pc`, or null before the first. */
export function ruleAt(table: CfiTable, pc: number): CfiRow | null {
  let lo = 0;
  let hi = table.pcs.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (table.pcs[mid] <= pc) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best < 0 ? null : unpackRule(table.pcs[best], table.rules[best]);
}
