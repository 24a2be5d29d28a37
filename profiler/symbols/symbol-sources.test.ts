import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFixtures, repoRoot, tempDir } from '../../testing/testkit.js';
import { ElfCache, debugFileCandidates, functionStartOf } from './elf-cache.js';
import { ElfFile, fileOffsetToVaddr, segmentForFileOffset } from './elf.js';
import { Kallsyms, parseKallsyms } from './kallsyms.js';
import { PerfMap, parsePerfMap } from './perf-map.js';
import { runSymbolSourceContract } from './symbol-source.contract.js';
import { SymbolTable } from './symbol-table.js';

runSymbolSourceContract({ name: 'SymbolTable', sized: true, base: 0x400000n, make: (s) => new SymbolTable(s) });

runSymbolSourceContract({
  name: 'perf map file',
  sized: true,
  base: 0x7f0000000000n,
  make: (syms) => {
    const path = join(tempDir('perfmap'), 'perf-1.map');
    writeFileSync(path, syms.map((s) => `${s.start.toString(16)} ${s.size.toString(16)} ${s.name}\n`).join(''));
    const pm = new PerfMap(path);
    assert.equal(pm.refresh(), true);
    return pm.table!;
  },
});

runSymbolSourceContract({
  name: 'kallsyms',
  sized: false,
  base: 0xffffffff81000000n,
  make: (syms) => new Kallsyms(parseKallsyms(syms.map((s) => `${s.start.toString(16)} T ${s.name}`).join('\n'))).table,
});

test('perf map: a later line for the same address wins (JIT code replaced)', () => {
  const t = new SymbolTable(parsePerfMap('1000 10 LazyCompile:~f\n1000 10 LazyCompile:*f\n'), 0n);
  assert.equal(t.lookup(0x1004n)?.name, 'LazyCompile:*f');
});

test('kallsyms: keeps text symbols only, with module names, skips hidden (zero) addresses', () => {
  const syms = parseKallsyms('ffffffff81000000 T _stext\nffffffff81000100 D some_data\nffffffffc0000000 t xfs_iget\t[xfs]\n0000000000000000 T hidden\n');
  assert.deepEqual(
    syms.map((s) => s.name),
    ['_stext', 'xfs_iget [xfs]'],
  );
});

test('ELF reader agrees with nm and readelf on symbols, build id and segments', () => {
  const fx = buildFixtures();
  const elf = ElfFile.open(fx.cpusplit);
  try {
    const notes = execFileSync('readelf', ['-n', fx.cpusplit], { encoding: 'utf8' });
    assert.equal(elf.info.buildId, /Build ID: ([0-9a-f]+)/.exec(notes)![1]);
    assert.equal(elf.info.isDyn, true, 'Debian builds PIE by default');
    const nm = execFileSync('nm', [fx.cpusplit], { encoding: 'utf8' });
    const nmAddr = (name: string) => BigInt(`0x${new RegExp(`^([0-9a-f]+) T ${name}$`, 'm').exec(nm)![1]}`);
    const table = new SymbolTable(elf.functionSymbols());
    for (const fn of ['main', 'kiln_caller', 'kiln_hot_a', 'kiln_hot_b']) {
      assert.equal(table.lookup(nmAddr(fn))?.name, fn);
      assert.equal(table.lookup(nmAddr(fn) + 4n)?.name, fn);
    }
    // file offset -> link-time address through the executable segment
    const exec = elf.info.segments.find((s) => s.executable)!;
    const off = exec.offset + 0x10n;
    assert.equal(segmentForFileOffset(elf.info.segments, off), exec);
    assert.equal(fileOffsetToVaddr(exec, off), exec.vaddr + 0x10n);
  } finally {
    elf.close();
  }
  assert.throws(() => ElfFile.open(fx.jitScript), /not an ELF/);
});

test('ELF cache: finds a separate debug file through .gnu_debuglink and through .build-id', () => {
  const fx = buildFixtures();
  const cache = new ElfCache({ debugDirs: [] });
  const viaLink = cache.get(fx.cpusplitDebuglink, fx.cpusplitDebuglink, '', 'a');
  assert.equal(viaLink.debugFile, `${fx.cpusplitDebuglink}.debug`);
  assert.ok(viaLink.symbols && viaLink.symbols.size > 0);
  const stripped = cache.get(fx.cpusplitStripped, fx.cpusplitStripped, '', 'b');
  // a fully stripped executable has no function symbols, only its PLT stubs (named from .dynsym);
  // it was built like cpusplit, so its functions sit where cpusplit's do
  const mainAt = BigInt(`0x${/^([0-9a-f]+) T main$/m.exec(execFileSync('nm', [fx.cpusplit], { encoding: 'utf8' }))![1]}`);
  assert.equal(stripped.symbols?.lookup(mainAt) ?? null, null, 'a fully stripped executable has no function symbols');
  assert.match(stripped.symbols?.lookup(BigInt(`0x${/^([0-9a-f]+) <\w+@plt>:$/m.exec(execFileSync('objdump', ['-d', '-j', '.plt', fx.cpusplitStripped], { encoding: 'utf8' }))![1]}`))?.name ?? '', /@plt$/);

  // a build-id debug directory, as /usr/lib/debug/.build-id/ab/cdef....debug
  const debugDir = tempDir('debugdir');
  const info = stripped.info;
  const target = join(debugDir, '.build-id', info.buildId.slice(0, 2), `${info.buildId.slice(2)}.debug`);
  execFileSync('mkdir', ['-p', join(target, '..')]);
  execFileSync('cp', [fx.cpusplitDebuglink + '.debug', target]);
  assert.deepEqual(debugFileCandidates('/x/y', info, [debugDir])[0], target);
  // the debug file belongs to another build: refused, so still no symbols
  const refused = new ElfCache({ debugDirs: [debugDir] }).get(fx.cpusplitStripped, fx.cpusplitStripped, '', 'c');
  assert.equal(refused.debugFile, null, 'a debug file with a different build id is not used');
  assert.equal(refused.symbols?.lookup(mainAt) ?? null, null);

  // the right build: a copy of the debuglink binary moved away from its .debug file, found by build id only
  const moved = join(tempDir('moved'), 'cpusplit-dbglink');
  execFileSync('cp', [fx.cpusplitDebuglink, moved]);
  const movedInfo = ElfFile.open(moved);
  const id = movedInfo.info.buildId;
  movedInfo.close();
  const byId = join(debugDir, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
  execFileSync('mkdir', ['-p', join(byId, '..')]);
  execFileSync('cp', [fx.cpusplitDebuglink + '.debug', byId]);
  const found = new ElfCache({ debugDirs: [debugDir] }).get(moved, moved, '', 'd');
  assert.equal(found.debugFile, byId);
  assert.ok(found.symbols?.lookup(0n) === null && found.symbols.size > 0);
});

test('ELF cache: tables held as bytes, bounded by bytes: a big binary evicts the older ones, and the bound holds', () => {
  const fx = buildFixtures();
  const node = realpathSync('/usr/bin/node');
  // Debian's node: ~78 k function symbols with long C++ names, held as columns (not an object each)
  const big = new ElfCache({ debugDirs: [] }).get(node, node, '', 'node').symbols!;
  assert.ok(big.size > 50_000, `${big.size} symbols`);
  assert.ok(big.bytes < big.size * 200, `${big.bytes} bytes for ${big.size} symbols`);
  const main = execFileSync('nm', ['-D', '--defined-only', node], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const uvRun = /^([0-9a-f]+) T uv_run$/m.exec(main)!;
  assert.equal(big.lookup(BigInt(`0x${uvRun[1]}`))?.name, 'uv_run');

  const bound = big.bytes + (1 << 20);
  const cache = new ElfCache({ debugDirs: [], maxBytes: bound });
  cache.get(fx.cpusplit, fx.cpusplit, '', 'small-1');
  cache.get(fx.cpusplitDebuglink, fx.cpusplitDebuglink, '', 'small-2');
  const before = cache.binaries;
  cache.get(node, node, '', 'node');
  assert.ok(cache.symbolBytes <= bound, `${cache.symbolBytes} > ${bound}`);
  assert.ok(cache.binaries < before + 2, 'the older binaries went to make room');
  cache.get(fx.cpusplit, fx.cpusplit, '', 'small-1');
  assert.ok(cache.symbolBytes <= bound);
});

/** objdump's names for the stubs of a binary's .plt section: address -> name@plt. */
function objdumpPlt(path: string): Map<bigint, string> {
  const out = execFileSync('objdump', ['-d', '-j', '.plt', path], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const m = new Map<bigint, string>();
  for (const [, addr, name] of out.matchAll(/^([0-9a-f]+) <([^>]+@plt)>:$/gm)) m.set(BigInt(`0x${addr}`), name);
  return m;
}

test("PLT stubs are named name@plt as objdump names them, on the distribution's own binaries", () => {
  for (const path of ['/usr/bin/ls', '/usr/lib/x86_64-linux-gnu/libcrypto.so.3']) {
    const want = objdumpPlt(path);
    assert.ok(want.size > 10, `${path}: objdump names ${want.size} stubs`);
    const elf = ElfFile.open(path);
    try {
      const table = new SymbolTable(elf.pltSymbols());
      for (const [addr, name] of want) {
        assert.equal(table.lookup(addr)?.name, name, `${path} 0x${addr.toString(16)}`);
        assert.equal(table.lookup(addr + 15n)?.name, name, `${path} 0x${addr.toString(16)} + 15`);
      }
      assert.equal(table.size, want.size, `${path}: no stub of our own`);
    } finally {
      elf.close();
    }
  }
});

test('code no symbol covers is grouped by its function, from .eh_frame_hdr: a -O2 binary, stripped', () => {
  const dir = tempDir('ehhdr');
  const bin = join(dir, 'cpusplit-o2');
  execFileSync('cc', ['-O2', '-o', bin, join(repoRoot, 'testing/testdata/cpusplit.c')]);
  const nm = execFileSync('nm', ['--defined-only', '-S', bin], { encoding: 'utf8' });
  const fns = [...nm.matchAll(/^([0-9a-f]+) ([0-9a-f]+) [Tt] (kiln_\w+)$/gm)].map(([, a, size, name]) => ({ name, start: BigInt(`0x${a}`), size: BigInt(`0x${size}`) }));
  assert.ok(fns.length >= 2, nm);
  execFileSync('strip', ['--strip-all', bin]);
  const cache = new ElfCache();
  const stripped = cache.get(bin, bin, '', 'test:stripped');
  for (const f of fns) {
    assert.equal(stripped.symbols?.lookup(f.start) ?? null, null, `${f.name} has no symbol once stripped`);
    // every address inside the function names the function's start
    for (const at of [f.start, f.start + f.size / 2n, f.start + f.size - 1n]) assert.equal(functionStartOf(stripped, at), f.start, `${f.name} at +0x${(at - f.start).toString(16)}`);
  }
});
