import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ElfFile } from '../symbols/elf.js';
import { UnwindKind, kindName, parseCfi, ruleAt, type CfiRow } from './cfi.js';

/** Rows as readelf's interpreter prints them (`readelf -wF`): per FDE, the CFA, rbp and ra at each LOC. */
function readelfRows(path: string): { fdeStart: number; fdeEnd: number; rows: { pc: number; cfa: string; rbp: string; ra: string }[] }[] {
  // readelf exits 1 on some of Debian's binaries after printing every frame (a note it cannot decode)
  const text = spawnSync('readelf', ['-wF', path], { maxBuffer: 1 << 30, encoding: 'utf8' }).stdout;
  assert.ok(text.includes('FDE'), `readelf printed the frames of ${path}`);
  const fdes: ReturnType<typeof readelfRows> = [];
  let cur: (typeof fdes)[number] | null = null;
  let cols: string[] = [];
  for (const line of text.split('\n')) {
    const fde = /FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (fde) {
      cur = { fdeStart: Number.parseInt(fde[1], 16), fdeEnd: Number.parseInt(fde[2], 16), rows: [] };
      fdes.push(cur);
      continue;
    }
    if (/CIE/.test(line)) { cur = null; continue; }
    if (/^\s+LOC\s+CFA/.test(line)) { cols = line.trim().split(/\s+/); continue; }
    const row = /^([0-9a-f]{16}) (.*)$/.exec(line);
    if (row && cur) {
      // a register rule prints as "r10 (r10)": one column, two words
      const vals = row[2].replace(/(r\d+) \((\w+)\)/g, '$1($2)').trim().split(/\s+/);
      const get = (c: string) => vals[cols.indexOf(c) - 1] ?? 'u';
      cur.rows.push({ pc: Number.parseInt(row[1], 16), cfa: get('CFA'), rbp: cols.includes('rbp') ? get('rbp') : 'u', ra: get('ra') });
    }
  }
  return fdes;
}

/** What our row should say given readelf's view of the same address. */
function expected(r: { cfa: string; rbp: string; ra: string }): Partial<CfiRow> | 'any-unsupported' {
  if (r.ra === 'u') return { kind: UnwindKind.outermost };
  if (r.ra !== 'c-8') return 'any-unsupported';
  let rbpOffset8 = 0;
  const rbp = /^c([+-]\d+)$/.exec(r.rbp);
  if (rbp) rbpOffset8 = Number(rbp[1]) / 8;
  else if (r.rbp !== 'u') return 'any-unsupported';
  if (r.cfa === 'exp') return 'any-unsupported';
  const cfa = /^(rsp|rbp)\+(\d+)$/.exec(r.cfa);
  if (!cfa) return 'any-unsupported';
  return { kind: cfa[1] === 'rsp' ? UnwindKind.cfaRsp : UnwindKind.cfaRbp, cfaOffset8: Number(cfa[2]) / 8, rbpOffset8 };
}

function compareWithReadelf(path: string): { checked: number; rows: number } {
  const elf = ElfFile.open(path);
  const sec = elf.section('.eh_frame', 256 << 20);
  elf.close();
  assert.ok(sec, `${path} has .eh_frame`);
  const { table: rows, stats } = parseCfi({ data: sec.data, vaddr: sec.vaddr, debugFrame: false });
  assert.equal(stats.fdesSkipped, 0, `${path}: no FDE skipped`);
  let checked = 0;
  for (const fde of readelfRows(path)) {
    for (let i = 0; i < fde.rows.length; i++) {
      const r = fde.rows[i];
      const got = ruleAt(rows, r.pc);
      assert.ok(got, `${path}: a row at 0x${r.pc.toString(16)}`);
      const want = expected(r);
      if (want === 'any-unsupported') {
        // readelf says "exp" for both a PLT expression and others; a signal frame is also only "exp"
        assert.ok([UnwindKind.plt, UnwindKind.unsupported, UnwindKind.signal].includes(got.kind as 3), `${path} 0x${r.pc.toString(16)}: ${kindName(got.kind)} for ${JSON.stringify(r)}`);
      } else {
        const cmp = { kind: got.kind, cfaOffset8: got.cfaOffset8, rbpOffset8: got.rbpOffset8 };
        assert.deepEqual(cmp, { cfaOffset8: 0, rbpOffset8: 0, ...want }, `${path} 0x${r.pc.toString(16)}: ${JSON.stringify(r)}`);
      }
      checked++;
    }
  }
  return { checked, rows: rows.pcs.length };
}

test('.eh_frame rows match readelf on Debian\'s libc, python3, ld.so and libstdc++ (C++: FDEs with an LSDA)', () => {
  for (const path of ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/bin/python3.11', '/lib64/ld-linux-x86-64.so.2', '/usr/lib/x86_64-linux-gnu/libstdc++.so.6']) {
    const { checked, rows } = compareWithReadelf(path);
    assert.ok(checked > 10_000 || path.includes('ld-linux'), `${path}: ${checked} rows checked`);
    assert.ok(rows > 1000, `${path}: ${rows} rows`);
  }
});

test('PLT entries get the PLT rule, code between FDEs none, _start outermost', () => {
  const path = '/usr/bin/python3.11';
  const elf = ElfFile.open(path);
  const sec = elf.section('.eh_frame', 64 << 20)!;
  const plt = elf.section('.plt', 64 << 20);
  elf.close();
  const { table: rows } = parseCfi({ data: sec.data, vaddr: sec.vaddr, debugFrame: false });
  assert.ok(plt, 'python3 has a .plt');
  const r = ruleAt(rows, plt.vaddr + 16 + 4);
  assert.equal(r?.kind, UnwindKind.plt);
  assert.equal(r?.cfaOffset8, 1);
  assert.ok(r!.rbpOffset8 === 11 || r!.rbpOffset8 === 10, `threshold ${r?.rbpOffset8}`);
  const kinds = new Set(Array.from(rows.rules, (r) => (r >>> 16) & 0xff));
  assert.ok(kinds.has(UnwindKind.outermost), 'an outermost row (_start)');
  assert.ok(kinds.has(UnwindKind.none), 'none rows between FDEs');
});
