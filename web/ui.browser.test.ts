/* The UI in a real browser (Debian chromium driven by playwright-core) against the real `kiln run`
 * profiling a program whose hot function switches mid-run. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { bpfTest, buildFixtures, getJson, launchChromium, repoRoot, startKiln, storedThrough, tempDir, waitExit, type KilnProcess } from '../testing/testkit.js';

const WINDOW = 2;
const PHASE = 15;
export const ARTIFACTS = join(repoRoot, 'test-artifacts');

interface Changes {
  functions: { function: string; status: string; total_delta: number; total_share: number; total_share_base: number }[];
}

describe('comparison of a profiled workload whose hot function switches mid-run', bpfTest(), () => {
  let kiln: KilnProcess;
  let browser: Browser | undefined;
  let T = 0;
  let fx: ReturnType<typeof buildFixtures>;
  let firstPid = 0;

  before(async () => {
    fx = buildFixtures();
    kiln = await startKiln(['--window', String(WINDOW), '--sample-hz', '199', '--data-dir', tempDir('ui-data'), '--cpu-price-usd-per-core-hour', '0.05']);
    // start on a window boundary, so each phase fills whole windows
    const nowMs = Date.now();
    T = Math.ceil(nowMs / 1000 / WINDOW) * WINDOW + WINDOW;
    await sleep(T * 1000 - nowMs);
    const p = spawn(fx.switcher, [String(PHASE)], { stdio: 'ignore' });
    assert.equal(await waitExit(p), 0);
    firstPid = p.pid!;
    await sleep(WINDOW * 1000 + 2500);
  });

  after(async () => {
    await browser?.close();
    await kiln?.stop();
  });

  // samples are placed in the window of the drain that read them (up to 1 s late): leave the
  // windows around the switch out of both sides
  const baseRange = () => `base_from=${T}&base_to=${T + PHASE - WINDOW}`;
  const comparedRange = () => `from=${T + PHASE + WINDOW}&to=${T + 2 * PHASE}`;

  it('ranks the function that really changed first', async () => {
    const { status, body } = await getJson<Changes>(`${kiln.url}/api/v1/profile/changes?app=switcher&${comparedRange()}&${baseRange()}`);
    assert.equal(status, 200, JSON.stringify(body));
    const [first, second] = body.functions;
    assert.equal(first.function, 'kiln_hot_b', JSON.stringify(body.functions.slice(0, 5)));
    assert.equal(first.status, 'changed');
    assert.ok(first.total_share > 0.6 && first.total_share_base === 0, JSON.stringify(first));
    assert.equal(second.function, 'kiln_hot_a');
    assert.ok(second.total_delta < 0);
    const main = body.functions.find((f) => f.function === 'main')!;
    assert.equal(main.status, 'unchanged');
  });

  it('go tool pprof -diff_base works on the two downloaded sides', async () => {
    const dir = tempDir('diffbase');
    const get = async (q: string, file: string) => {
      const r = await fetch(`${kiln.url}/api/v1/profile/pprof?app=switcher&${q}`);
      assert.equal(r.status, 200);
      writeFileSync(join(dir, file), Buffer.from(await r.arrayBuffer()));
    };
    await get(`from=${T}&to=${T + PHASE - WINDOW}`, 'base.pb.gz');
    await get(comparedRange(), 'new.pb.gz');
    const out = execFileSync('go', ['tool', 'pprof', '-top', '-diff_base', join(dir, 'base.pb.gz'), join(dir, 'new.pb.gz')], {
      encoding: 'utf8',
      env: { ...process.env, HOME: dir, PPROF_TMPDIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // flat column: kiln_hot_b gained time, kiln_hot_a lost it
    const flat = (fn: string) => {
      const line = out.split('\n').find((l) => l.trim().endsWith(` ${fn}`));
      assert.ok(line, `${fn} in:\n${out}`);
      return Number.parseFloat(line.trim().split(/\s+/)[0]);
    };
    assert.ok(flat('kiln_hot_b') > 0, out);
    assert.ok(flat('kiln_hot_a') < 0, out);
  });

  it('renders the differential flamegraph in Chromium with the grown function in red', async () => {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${kiln.url}/?app=switcher&${comparedRange()}&base=custom&${baseRange()}&mode=relative`);
    await page.waitForSelector('#changes-body tr', { timeout: 15_000 }).catch(async (e: Error) => {
      throw new Error(`${e.message}\npage status: ${await page.textContent('#status')}; page errors: ${errors.join('; ')}`);
    });
    await page.waitForSelector('#chart svg g title', { timeout: 15_000, state: 'attached' });
    await sleep(600); // let the transition settle for the screenshot
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-diff.png'), fullPage: true });

    const frames = await page.$$eval('#chart svg g', (gs) =>
      gs.map((g) => ({ title: g.querySelector('title')?.textContent ?? '', fill: g.querySelector('rect')?.getAttribute('fill') ?? '' })),
    );
    const rgb = (fill: string) => (/rgb\((\d+),\s*(\d+),\s*(\d+)\)/.exec(fill) ?? []).slice(1).map(Number);
    const hot = frames.find((f) => f.title.startsWith('kiln_hot_b\n'));
    assert.ok(hot, `kiln_hot_b frame rendered; frames: ${frames.map((f) => f.title.split('\n')[0]).join(', ')}`);
    const [r, g, b] = rgb(hot.fill);
    assert.ok(r > g + 60 && r > b + 60, `kiln_hot_b coloured as grown (red), got ${hot.fill}`);
    assert.match(hot.title, /samples \(\d+\.\d+%\)\nbase: 0 samples; change \+/);
    const steady = frames.find((f) => f.title.startsWith('kiln_steady\n'));
    assert.ok(steady);
    const [sr, sg] = rgb(steady.fill);
    assert.ok(sg > sr, `kiln_steady shrank (30% from 50%): green, got ${steady.fill}`);
    assert.match(await page.textContent('#legend') ?? '', /grew .* shrank — relative: base scaled/);
    assert.equal((await page.textContent('#changes-body tr:first-child td:first-child'))?.trim(), 'kiln_hot_b');

    // clicking a row focuses that function: search highlight and zoom
    await page.click('#changes-body tr:nth-child(2)');
    assert.equal(await page.inputValue('#search'), 'kiln_hot_a');
    assert.match(page.url(), /q=kiln_hot_a/);
    assert.match(page.url(), /base=custom.*mode=relative|mode=relative/);
    const pprofBase = await page.getAttribute('#pprof-base', 'href');
    assert.match(pprofBase ?? '', new RegExp(`/api/v1/profile/pprof\\?app=switcher&from=${T}&to=${T + PHASE - WINDOW}`));
    assert.deepEqual(errors, []);
  });

  it("does the developer's job without typing a time: find the app, drag two ranges, read the changes, download both sides", async () => {
    browser ??= await launchChromium();
    const dir = tempDir('uijob');
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(kiln.url);
    await page.waitForSelector('#app option', { state: 'attached' });
    // the home ranks applications by CPU; find ours by typing its name in the search box
    await page.fill('#app-search', 'switcher');
    await page.press('#app-search', 'Enter');
    await page.waitForFunction(() => (document.getElementById('app') as HTMLSelectElement).value === 'switcher');
    // the shortest view that holds the whole run, then a comparison with another range
    const view = Date.now() / 1000 - T < 250 ? 'now-5m' : 'now-15m';
    await page.selectOption('#range', view);
    await page.selectOption('#base', 'custom');
    // both timelines drawn by the same render, over the chosen view
    const span = view === 'now-5m' ? 300 : 900;
    await page.waitForFunction((span) => {
      const a = document.getElementById('cpu-chart')!;
      const b = document.getElementById('base-cpu-chart')!;
      return !document.getElementById('base-timeline')!.hidden && a.dataset.seq !== undefined && a.dataset.seq === b.dataset.seq && Math.abs(Number(a.dataset.to) - Number(a.dataset.from) - span) < 5;
    }, span);
    /** drags on a timeline from one unix second to another */
    const drag = async (id: string, from: number, to: number) => {
      const svg = page.locator(`#${id}`);
      const box = (await svg.boundingBox())!;
      const [f, t, x0] = await Promise.all(['data-from', 'data-to', 'data-x0'].map(async (a) => Number(await svg.getAttribute(a))));
      const x = (s: number) => box.x + x0 + ((s - f) / (t - f)) * (box.width - x0);
      const y = box.y + box.height / 2;
      await page.mouse.move(x(from), y);
      await page.mouse.down();
      await page.mouse.move((x(from) + x(to)) / 2, y, { steps: 4 });
      await page.mouse.move(x(to), y, { steps: 4 });
      await page.mouse.up();
    };
    // the compared side well inside phase 2, the base well inside phase 1 (away from the switch)
    /** both timelines drawn by the same render, the compared one for the selection in the URL */
    const settled = () =>
      page.waitForFunction(() => {
        const p = new URLSearchParams(location.search);
        const a = document.getElementById('cpu-chart')!;
        const b = document.getElementById('base-cpu-chart')!;
        return /^\d+$/.test(p.get('from') ?? '') && a.dataset.sel === `${p.get('from')}-${p.get('to')}` && a.dataset.seq === b.dataset.seq;
      });
    await drag('cpu-chart', T + PHASE + 4, T + 2 * PHASE - 2);
    await settled();
    const compared = new URL(page.url()).searchParams;
    assert.ok(Math.abs(Number(compared.get('from')) - (T + PHASE + 4)) <= 2 && Math.abs(Number(compared.get('to')) - (T + 2 * PHASE - 2)) <= 2, `the dragged range became the selection: ${page.url()} (T=${T})`);
    await drag('base-cpu-chart', T + 2, T + PHASE - 4);
    await page.waitForFunction((t) => Number(new URLSearchParams(location.search).get('base_from')) >= t, T);
    const based = new URL(page.url()).searchParams;
    assert.ok(Math.abs(Number(based.get('base_from')) - (T + 2)) <= 2 && Math.abs(Number(based.get('base_to')) - (T + PHASE - 4)) <= 2, `the dragged base: ${page.url()} (T=${T})`);
    await page.waitForSelector('#changes-body tr');
    const leader = (await page.textContent('#changes-body tr:first-child td:first-child'))?.trim();
    assert.equal(leader, 'kiln_hot_b', `the table's leader; status: ${await page.textContent('#status')}`);
    // every column of the table visible at 1366 px
    const cut = await page.evaluate(() => {
      const panel = document.getElementById('changes')!.getBoundingClientRect();
      return Array.from(document.querySelectorAll('#changes thead th'), (th) => th.getBoundingClientRect()).filter((r) => r.right > panel.right + 0.5 || r.left < panel.left - 0.5).length;
    });
    assert.equal(cut, 0, 'columns outside the panel');
    // both sides as pprof, and go tool pprof -diff_base agrees with the table's leader
    const save = async (link: string, file: string) => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(link)]);
      await download.saveAs(join(dir, file));
    };
    await save('#pprof', 'new.pb.gz');
    await save('#pprof-base', 'base.pb.gz');
    const out = execFileSync('go', ['tool', 'pprof', '-top', '-diff_base', join(dir, 'base.pb.gz'), join(dir, 'new.pb.gz')], {
      encoding: 'utf8',
      env: { ...process.env, HOME: dir, PPROF_TMPDIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const rows = out
      .split('\n')
      .map((l) => /^\s*(-?[\d.]+)(?:ms|s|us|ns|m|h)?\s+\S+%\s+\S+%\s+\S+\s+\S+%\s+(\S+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ flat: Number.parseFloat(m[1]), fn: m[2] }));
    const top = rows.reduce((a, b) => (Math.abs(b.flat) > Math.abs(a.flat) ? b : a));
    assert.equal(top.fn, leader, `pprof -diff_base's largest change is the table's leader:\n${out}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-job-1366.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('fits the changes table in its panel at 1366 px, and says so when the base side is empty', async () => {
    browser ??= await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await page.goto(`${kiln.url}/?app=switcher&${comparedRange()}&base=custom&${baseRange()}&mode=relative`);
    await page.waitForSelector('#changes-body tr', { timeout: 15_000 });
    const fit = await page.evaluate(() => {
      const panel = document.getElementById('changes')!.getBoundingClientRect();
      const heads = Array.from(document.querySelectorAll('#changes thead th'), (th) => {
        const r = th.getBoundingClientRect();
        return { text: th.textContent, left: r.left, right: r.right };
      });
      const table = document.querySelector('#changes table') as HTMLElement;
      // a number wider than its column would spill over the next one: every one fits its cell
      const spilled = Array.from(document.querySelectorAll('#changes td.num, #changes th:not(:first-child)'), (c) => c as HTMLElement)
        .filter((c) => c.scrollWidth > c.clientWidth)
        .map((c) => `${c.textContent} (${c.scrollWidth} > ${c.clientWidth})`);
      return { panel: { left: panel.left, right: panel.right }, heads, tableWidth: table.scrollWidth, panelWidth: document.getElementById('changes')!.clientWidth, spilled };
    });
    assert.deepEqual(fit.spilled, [], 'numbers cut in their cells');
    assert.ok(fit.tableWidth <= fit.panelWidth, `table ${fit.tableWidth} px in a ${fit.panelWidth} px panel`);
    for (const h of fit.heads) assert.ok(h.left >= fit.panel.left - 0.5 && h.right <= fit.panel.right + 0.5, `column ${h.text} inside the panel: ${JSON.stringify(fit)}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-diff-1366.png'), fullPage: true });

    // a base range before anything ran: the panel says the base is empty, no rows of "too few samples"
    await page.goto(`${kiln.url}/?app=switcher&${comparedRange()}&base=custom&base_from=${T - 7200}&base_to=${T - 3600}&mode=relative`);
    await page.waitForSelector('#changes-empty:not([hidden])', { timeout: 15_000 });
    assert.match((await page.textContent('#changes-empty')) ?? '', /^The base range has no samples of switcher/);
    assert.equal(await page.$$eval('#changes-body tr', (trs) => trs.length), 0);
    assert.match((await page.textContent('#legend')) ?? '', /relative: nothing to scale, one side has no samples/);
    await page.close();
  });
  it('narrows the flamegraph to one process of an application from the process picker', async () => {
    // a second switcher, another command line, after the comparison's ranges
    const second = spawn(fx.switcher, ['3'], { stdio: 'ignore' });
    assert.equal(await waitExit(second), 0);
    // every window of both switchers stored: the page reads the same counts now and after a reload
    await storedThrough(kiln);
    type Proc = { pid: number; cmdline: string; samples: number };
    const rows = (await getJson<Proc[]>(`${kiln.url}/api/v1/processes?app=switcher&from=${T}&to=now`)).body;
    assert.ok(rows.some((r) => r.pid === second.pid && r.samples > 100), `the second switcher is listed: ${JSON.stringify(rows)}`);
    const samplesOf = (pid: number) => rows.find((r) => r.pid === pid)?.samples ?? 0;
    browser ??= await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${kiln.url}/?app=switcher&from=now-15m&to=now`);
    await page.waitForFunction((pid) => Array.from((document.getElementById('process') as HTMLSelectElement).options).some((o) => o.value === `pid:${pid}`), second.pid);
    const options = await page.$$eval('#process option', (os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? '']));
    assert.deepEqual(options[0], ['', 'all processes']);
    assert.match(options.find(([v]) => v === `pid:${second.pid}`)?.[1] ?? '', new RegExp(`^pid ${second.pid}: switcher 3 — `));
    assert.match(options.find(([v]) => v === `pid:${firstPid}`)?.[1] ?? '', new RegExp(`^pid ${firstPid}: switcher ${PHASE} — `));
    const samples = async () => Number(/^(\d+) samples/.exec((await page.textContent('#status')) ?? '')?.[1] ?? -1);
    await page.waitForFunction(() => /^\d+ samples/.test(document.getElementById('status')!.textContent ?? ''));
    const all = await samples();
    await page.selectOption('#process', `pid:${second.pid}`);
    await page.waitForFunction((pid) => new URLSearchParams(location.search).get('pid') === String(pid) && /^\d+ samples/.test(document.getElementById('status')!.textContent ?? ''), second.pid);
    const one = await samples();
    assert.ok(one > 0 && one < all, `one process ${one} of the application's ${all} samples`);
    assert.equal(one, samplesOf(second.pid!), "its flamegraph holds exactly the samples listed for it");
    assert.match((await page.getAttribute('#pprof', 'href')) ?? '', new RegExp(`pid=${second.pid}`));
    // a link keeps the process
    await page.goto(page.url());
    await page.waitForFunction((pid) => (document.getElementById('process') as HTMLSelectElement).value === `pid:${pid}`, second.pid);
    await page.waitForFunction(() => /^\d+ samples/.test(document.getElementById('status')!.textContent ?? ''));
    assert.equal(await samples(), one, 'the link shows the same process');
    await page.waitForSelector('#chart svg g title', { timeout: 15_000, state: 'attached' });
    // with a CPU price: the range's dollars and the month's projection, with the price they come from,
    // and each frame's share of them
    assert.match((await page.textContent('#status')) ?? '', /^\d+ samples · \d+\.\d\d CPU-s = \$[\d.]+, \$[\d.]+\/month at this rate \(0\.05 USD per core-hour, --cpu-price-usd-per-core-hour/);
    const titles = await page.$$eval('#chart svg g title', (ts) => ts.map((t) => t.textContent ?? ''));
    assert.ok(titles.some((t) => /samples \(\d+\.\d+%\); \d+\.\d\d CPU-s = \$[\d.]+, \$[\d.]+\/month/.test(t)), titles.slice(0, 3).join(' | '));
    await sleep(600); // let the transition settle for the screenshot
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-process-1366.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });
  it('lays every page out at 1366x768 and 1920x1080: nothing wider than the window, screenshots kept', async () => {
    browser ??= await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const pages: [string, string, (page: import('playwright-core').Page) => Promise<unknown>][] = [
      ['compare', `/?app=switcher&${comparedRange()}&base=custom&${baseRange()}&mode=relative`, (p) => p.waitForSelector('#changes-body tr', { timeout: 15_000 })],
      ['cost', '/cost', (p) => p.waitForFunction(() => document.getElementById('status')!.textContent !== 'loading…' && document.getElementById('price-source')!.textContent !== '')],
      ['dns', '/dns', (p) => p.waitForFunction(() => /rows|no /i.test(document.getElementById('status')!.textContent ?? ''))],
    ];
    for (const [width, height] of [
      [1366, 768],
      [1920, 1080],
    ]) {
      const page = await browser.newPage({ viewport: { width, height } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      for (const [name, path, ready] of pages) {
        await page.goto(`${kiln.url}${path}`);
        await ready(page);
        await sleep(600); // let transitions settle for the screenshot
        const wide = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
        assert.ok(wide.scroll <= wide.inner, `${name} at ${width}x${height}: ${wide.scroll} px wide in a ${wide.inner} px window`);
        if (name === 'dns' && /^0 of 0 rows/.test((await page.textContent('#status')) ?? '')) {
          assert.equal((await page.textContent('#dns-body'))?.trim(), 'No DNS queries seen in this range.', 'an empty table says so');
        }
        await page.screenshot({ path: join(ARTIFACTS, `page-${name}-${width}.png`), fullPage: true });
      }
      assert.deepEqual(errors, [], `${width}x${height}`);
      await page.close();
    }
  });
});
