/* Kiln's browser UI: an application's flamegraph over a time range, or the comparison of two
 * selections (two ranges, or two apps) as a differential flamegraph beside the ranked changes.
 * The URL holds the whole selection, so a comparison is shared as a link. */

import type { DiffNode, DiffTree, FunctionChange } from '../../profiler/diff.js';
import type { FlameNode as PlainNode } from '../../profiler/flamegraph.js';
import type { ProcessRow } from '../../store/tables/profiles.js';
import type { RunqRow } from '../../store/tables/runq-windows.js';
import { $, getJson } from './dom.js';
import { bytes, usd } from './format.js';
import type { CpuCost } from '../../profiler/cpu-cost.js';
import type { EgressSummary } from '../../netcost/egress-cost.js';

/* d3 and d3-flame-graph are loaded as globals by index.html */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const d3: any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const flamegraph: any;

/** a node of either tree: plain flamegraph or differential */
type FlameNode = PlainNode & Partial<Pick<DiffNode, 'delta' | 'base_value'>>;
/** a row of the changes table; with a CPU price, what it costs per month on each side */
type Change = FunctionChange & Partial<Record<'total_usd_per_month' | 'total_usd_per_month_base' | 'total_usd_per_month_delta', number>>;
interface HierarchyNode {
  data: FlameNode;
  value: number;
  descendants(): HierarchyNode[];
}

type BaseKind = 'none' | 'prev' | 'day' | 'week' | 'custom' | 'app';

interface Selection {
  app: string;
  from: string;
  to: string;
  base: BaseKind;
  base_app: string;
  base_from: string;
  base_to: string;
  mode: 'relative' | 'absolute';
  q: string;
  /** what the CPU timelines show (a range is dragged on them): a relative range, kept relative */
  view: string;
  /** the process filter (README "Process labels"): '' (all of the app's processes), `pid:N` or `cmd:LINE` */
  proc: string;
  /** what the flamegraph weighs: CPU time, or bytes sent (the network cost view: egress stacks) */
  metric: 'cpu' | 'egress';
  /** the network cost view's traffic class ('' all, 'nat' through a NAT gateway) and peer application */
  egress_class: string;
  peer_app: string;
}

/** The API's labels for a process filter value of the picker. */
function procParams(proc: string): Record<string, string> {
  if (proc.startsWith('pid:')) return { pid: proc.slice(4) };
  if (proc.startsWith('cmd:')) return { cmdline: proc.slice(4) };
  return {};
}

/** `now-30m`-style ranges: they stay relative in links and controls */
const RELATIVE = /^now-\d+[smhdw]$/;
/** the timelines' span while a dragged (absolute) range is selected */
let currentView = 'now-1h';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** The API's time syntax, resolved in the browser (for base ranges derived from the selection). */
function resolveTime(text: string, now: number): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const rel = /^now(?:-(\d+)([smhdw]))?$/.exec(t);
  if (rel) return rel[1] ? now - Number(rel[1]) * UNITS[rel[2]] : now;
  const ms = Date.parse(t);
  if (!Number.isNaN(ms)) return ms / 1000;
  throw new Error(`not a time: ${text}`);
}

function readSelection(): Selection {
  const p = new URLSearchParams(location.search);
  return {
    app: p.get('app') ?? '',
    from: p.get('from') ?? 'now-1h',
    to: p.get('to') ?? 'now',
    base: (p.get('base') as BaseKind) ?? (p.get('base_app') ? 'app' : p.get('base_from') ? 'custom' : 'none'),
    base_app: p.get('base_app') ?? '',
    base_from: p.get('base_from') ?? '',
    base_to: p.get('base_to') ?? '',
    mode: p.get('mode') === 'absolute' ? 'absolute' : 'relative',
    q: p.get('q') ?? '',
    view: p.get('view') ?? (RELATIVE.test(p.get('from') ?? '') && (p.get('to') ?? 'now') === 'now' ? p.get('from')! : 'now-1h'),
    proc: p.get('pid') ? `pid:${p.get('pid')}` : p.get('cmdline') !== null ? `cmd:${p.get('cmdline')}` : '',
    metric: p.get('metric') === 'egress' ? 'egress' : 'cpu',
    egress_class: p.get('egress_class') ?? '',
    peer_app: p.get('peer_app') ?? '',
  };
}

function writeSelection(s: Selection): void {
  const p = new URLSearchParams();
  p.set('app', s.app);
  p.set('from', s.from);
  p.set('to', s.to);
  for (const [k, v] of Object.entries(procParams(s.proc))) p.set(k, v);
  if (s.base !== 'none') {
    p.set('base', s.base);
    p.set('mode', s.mode);
    if (s.base === 'app') p.set('base_app', s.base_app);
    if (s.base === 'custom') {
      p.set('base_from', s.base_from);
      p.set('base_to', s.base_to);
    }
  }
  if (s.q) p.set('q', s.q);
  if (s.metric === 'egress') {
    p.set('metric', 'egress');
    if (s.egress_class) p.set('egress_class', s.egress_class);
    if (s.peer_app) p.set('peer_app', s.peer_app);
  }
  if (s.view !== s.from || s.to !== 'now') p.set('view', s.view);
  history.replaceState(null, '', `?${p}`);
}

/** The API query of the compared selection and of its base. */
function queries(s: Selection): { sel: URLSearchParams; base: URLSearchParams | null } {
  const now = Date.now() / 1000;
  const from = resolveTime(s.from, now);
  const to = resolveTime(s.to, now);
  const sel = new URLSearchParams({ app: s.app, from: String(Math.floor(from)), to: String(Math.ceil(to)), ...procParams(s.proc) });
  if (s.base === 'none') return { sel, base: null };
  // another range of the same app compares the same process(es); another app all of its own
  const base = new URLSearchParams({ app: s.base === 'app' ? s.base_app : s.app, ...(s.base === 'app' ? {} : procParams(s.proc)) });
  const shift = { prev: to - from, day: 86400, week: 604800 } as Record<string, number>;
  if (s.base in shift) {
    base.set('from', String(Math.floor(from - shift[s.base])));
    base.set('to', String(Math.ceil(to - shift[s.base])));
  } else if (s.base === 'custom') {
    base.set('from', String(Math.floor(resolveTime(s.base_from, now))));
    base.set('to', String(Math.ceil(resolveTime(s.base_to, now))));
  } else {
    base.set('from', sel.get('from')!);
    base.set('to', sel.get('to')!);
  }
  return { sel, base };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function signedPp(x: number): string {
  const v = x * 100;
  return `${v > 0 ? '+' : ''}${v.toFixed(2)} pp`;
}

/** The table's compact forms (the row's title has the two-decimal ones): one decimal, no unit. */
const pct1 = (x: number) => `${(x * 100).toFixed(1)}%`;
const pp1 = (x: number) => {
  const v = Math.round(x * 1000) / 10;
  return `${v > 0 ? '+' : ''}${v.toFixed(1)}`;
};

/** Red grew, green shrank, grey unchanged; intensity by how much of the frame changed.
 *  Search matches keep d3-flame-graph's highlight colour. */
function diffColor(d: HierarchyNode & { highlight?: boolean }): string {
  if (d.highlight) return '#E600E6';
  const delta = d.data.delta ?? 0;
  const value = Math.max(d.data.value, Math.abs(delta), 1);
  const t = Math.min(1, Math.abs(delta) / value);
  if (Math.abs(delta) < 0.5 || t < 0.02) return 'rgb(215,215,215)';
  const fade = Math.round(225 * (1 - t));
  return delta > 0 ? `rgb(235,${fade},${fade})` : `rgb(${fade},215,${fade})`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
let chart: any = null;

function renderChart(tree: FlameNode, diff: boolean, cost: CpuCost | null = null, egress = false): void {
  const host = $('chart');
  host.innerHTML = '';
  const total = tree.value || 1;
  // the network cost view: a frame's bytes sent, their dollars, and the sampling error of its share
  const sent = (d: HierarchyNode) => {
    const points = d.data.points ?? 0;
    const err = points > 0 ? ` ±${Math.round(196 / Math.sqrt(points))}% (95%, ${points} sample points)` : '';
    return `${d.data.name}\n${bytes(d.value)} sent (${pct(d.value / total)}) = ${usd(d.data.usd ?? 0)}${err}`;
  };
  // with a CPU price, a frame's CPU seconds and dollars: its share of the range's
  const priced = (n: number) => (cost ? `; ${((n / total) * cost.cpu_seconds).toFixed(2)} CPU-s = ${usd((n / total) * cost.usd)}, ${usd((n / total) * cost.usd_per_month)}/month` : '');
  // the UMD build of d3-flame-graph exports its factory as `default`
  chart = flamegraph
    .default()
    .width(Math.max(400, host.clientWidth))
    .cellHeight(18)
    .minFrameSize(2)
    .transitionDuration(250)
    .selfValue(false)
    .setDetailsElement($('details'))
    .setLabelHandler((d: HierarchyNode) => {
      if (egress) return sent(d);
      const base = `${d.data.name}\n${d.value} samples (${pct(d.value / total)})${diff ? '' : priced(d.value)}`;
      if (!diff) return base;
      const delta = d.data.delta ?? 0;
      return `${base}\nbase: ${d.data.base_value ?? 0} samples; change ${delta > 0 ? '+' : ''}${delta.toFixed(1)} samples`;
    });
  if (diff) chart.setColorMapper((d: HierarchyNode) => diffColor(d));
  d3.select('#chart').datum(tree).call(chart);
  const q = $<HTMLInputElement>('search').value;
  if (q) chart.search(q);
  // for bench/ui-render: when the first chart was drawn, and how many frames it has
  if (performance.getEntriesByName('kiln:first-render').length === 0) performance.mark('kiln:first-render');
  document.body.dataset.frames = String(host.querySelectorAll('g').length);
}

/** Highlights a function and zooms to its largest frame. */
function focusFunction(name: string): void {
  if (!chart) return;
  $<HTMLInputElement>('search').value = name;
  writeSelection(selectionFromControls());
  chart.search(name);
  const root: HierarchyNode = d3.select('#chart').datum();
  let best: HierarchyNode | null = null;
  for (const n of root.descendants()) if (n.data.name === name && (!best || n.value > best.value)) best = n;
  if (best) chart.zoomTo(best);
}

function renderChanges(rows: Change[]): void {
  const body = $('changes-body');
  body.innerHTML = '';
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.className = r.status;
    tr.dataset.fn = r.function;
    // the status is the row's style (and its title): the table keeps to columns that fit its panel
    const cells = [
      r.function,
      pp1(r.total_delta),
      `${pct1(r.total_share_base)} → ${pct1(r.total_share)}`,
      pp1(r.self_delta),
      `${r.total_samples_base} → ${r.total_samples}`,
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 1 || i === 3) td.className = r.status === 'changed' && text !== '0.0' ? (text.startsWith('+') ? 'grew' : 'shrank') : '';
      if (i > 0) td.classList.add('num');
      tr.appendChild(td);
    });
    // with a CPU price: what the change costs per month at each side's rate
    const dollars = r.total_usd_per_month_delta === undefined ? '' : `; ${r.total_usd_per_month_delta >= 0 ? '+' : ''}${usd(r.total_usd_per_month_delta)}/month (${usd(r.total_usd_per_month_base ?? 0)} → ${usd(r.total_usd_per_month ?? 0)} a month)`;
    tr.title = `${r.function}: ${r.status === 'too_few_samples' ? 'too few samples to tell' : r.status}; total ${pct(r.total_share_base)} → ${pct(r.total_share)} (${signedPp(r.total_delta)}); self ${pct(r.self_share_base)} → ${pct(r.self_share)} (${signedPp(r.self_delta)}; ${r.self_samples_base} → ${r.self_samples} samples)${dollars}`;
    tr.addEventListener('click', () => {
      for (const other of Array.from(body.querySelectorAll('tr.selected'))) other.classList.remove('selected');
      tr.classList.add('selected');
      focusFunction(r.function);
    });
    body.appendChild(tr);
  }
}

/** A time input's value: the exact text it was filled from (a link's unix seconds), unless edited since. */
function timeInput(id: string): string {
  const el = $<HTMLInputElement>(id);
  if (!el.value) return '';
  if (el.dataset.raw && el.value === localInput(el.dataset.raw)) return el.dataset.raw;
  return new Date(el.value).toISOString().replace('.000', '');
}

function setTimeInput(id: string, text: string): void {
  const el = $<HTMLInputElement>(id);
  el.dataset.raw = text;
  el.value = localInput(text);
}

function formatUs(us: number | null): string {
  if (us === null) return '–';
  return us >= 1000 ? `${(us / 1000).toFixed(us >= 10000 ? 0 : 1)} ms` : `${us.toFixed(us >= 10 ? 0 : 1)} µs`;
}

/** The run-queue panel: percentiles, delay per second of running time, and the histogram of waits. */
async function renderRunq(sel: URLSearchParams): Promise<void> {
  const summary = $('runq-summary');
  const svg = d3.select('#runq-chart');
  svg.selectAll('*').remove();
  const r = await fetch(`/api/v1/runq?${sel}`);
  if (r.status === 404) {
    summary.textContent = 'No run-queue data for this application (it is measured per container cgroup).';
    return;
  }
  const rows = (await r.json()) as RunqRow[];
  const row = rows[0];
  if (!r.ok || !row) {
    summary.textContent = 'No run-queue waits in this range.';
    return;
  }
  summary.innerHTML = `<dl><dt>p50</dt><dd>${formatUs(row.p50_us)}</dd><dt>p95</dt><dd>${formatUs(row.p95_us)}</dd><dt>p99</dt><dd>${formatUs(row.p99_us)}</dd>
    <dt>waits</dt><dd>${row.waits}</dd><dt title="time spent waiting for a CPU per second the application ran (its CPU time from the profiler): the same whatever the range">delay / CPU second</dt><dd>${row.delay_seconds_per_cpu_second === null ? '– (no CPU samples)' : `${row.delay_seconds_per_cpu_second.toFixed(3)} s`}</dd><dt>total delay</dt><dd>${row.total_delay_seconds.toFixed(3)} s</dd></dl>`;
  // fold the quarter-power buckets into powers of two for a readable chart
  const bars = new Map<number, number>();
  for (const b of row.buckets) {
    const le = b.le_us === null ? Infinity : 2 ** Math.ceil(Math.log2(b.le_us));
    bars.set(le, (bars.get(le) ?? 0) + b.count);
  }
  const data = [...bars].filter(([, n]) => n > 0);
  const w = 320;
  const h = 140;
  const x = d3.scaleBand().domain(data.map(([le]: [number, number]) => String(le))).range([0, w]).padding(0.1);
  const y = d3.scaleLinear().domain([0, d3.max(data, (d: [number, number]) => d[1])]).range([h - 16, 0]);
  svg
    .selectAll('rect')
    .data(data)
    .join('rect')
    .attr('x', (d: [number, number]) => x(String(d[0])))
    .attr('y', (d: [number, number]) => y(d[1]))
    .attr('width', x.bandwidth())
    .attr('height', (d: [number, number]) => h - 16 - y(d[1]))
    .append('title')
    .text((d: [number, number]) => `≤ ${formatUs(d[0])}: ${d[1]} waits`);
  svg
    .selectAll('text')
    .data(data.filter((_: unknown, i: number) => i % Math.ceil(data.length / 6) === 0))
    .join('text')
    .attr('x', (d: [number, number]) => x(String(d[0])))
    .attr('y', h - 4)
    .text((d: [number, number]) => (Number.isFinite(d[0]) ? formatUs(d[0]) : '∞'));
}

function selectionFromControls(): Selection {
  const range = $<HTMLSelectElement>('range').value;
  const custom = range === 'custom';
  return {
    app: $<HTMLSelectElement>('app').value,
    from: custom ? timeInput('from') : range,
    to: custom ? timeInput('to') : 'now',
    base: $<HTMLSelectElement>('base').value as BaseKind,
    base_app: $<HTMLSelectElement>('base-app').value,
    base_from: timeInput('base-from'),
    base_to: timeInput('base-to'),
    mode: $<HTMLSelectElement>('mode').value === 'absolute' ? 'absolute' : 'relative',
    q: $<HTMLInputElement>('search').value,
    view: custom ? currentView : range,
    proc: $<HTMLSelectElement>('process').value,
    metric: $<HTMLSelectElement>('metric').value === 'egress' ? 'egress' : 'cpu',
    egress_class: $<HTMLSelectElement>('egress-class').value,
    peer_app: peerApp,
  };
}

/** the peer application the network cost view is narrowed to (from a cost page link) */
let peerApp = '';

function localInput(text: string): string {
  if (!text) return '';
  const d = new Date(resolveTime(text, Date.now() / 1000) * 1000);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

interface AppCpu {
  app: string;
  cpu_seconds: number;
}

function applyToControls(s: Selection, ranked: AppCpu[]): void {
  const apps = ranked.map((a) => a.app);
  const total = ranked.reduce((t, a) => t + a.cpu_seconds, 0) || 1;
  const label = (a: AppCpu) => `${a.app} — ${((100 * a.cpu_seconds) / total).toFixed(1)}% CPU`;
  for (const id of ['app', 'base-app']) {
    const sel = $<HTMLSelectElement>(id);
    sel.innerHTML = '';
    for (const a of ranked) sel.add(new Option(label(a), a.app));
  }
  const names = $('app-names');
  names.replaceChildren(...ranked.map((a) => new Option(label(a), a.app)));
  $<HTMLSelectElement>('app').value = s.app || apps[0] || '';
  $<HTMLSelectElement>('base-app').value = s.base_app || apps[0] || '';
  const rangeSel = $<HTMLSelectElement>('range');
  // a relative range the list does not have (a link's now-30m) joins it, and stays relative
  if (s.to === 'now' && RELATIVE.test(s.from) && !Array.from(rangeSel.options).some((o) => o.value === s.from)) {
    rangeSel.add(new Option(`last ${s.from.slice(4)}`, s.from), rangeSel.options.length - 1);
  }
  const presets = Array.from(rangeSel.options).map((o) => o.value);
  const preset = s.to === 'now' && presets.includes(s.from);
  currentView = s.view;
  $<HTMLSelectElement>('range').value = preset ? s.from : 'custom';
  setTimeInput('from', preset ? '' : s.from);
  setTimeInput('to', preset ? '' : s.to);
  $<HTMLSelectElement>('base').value = s.base;
  setTimeInput('base-from', s.base_from);
  setTimeInput('base-to', s.base_to);
  $<HTMLSelectElement>('mode').value = s.mode;
  $<HTMLInputElement>('search').value = s.q;
  $<HTMLSelectElement>('metric').value = s.metric;
  $<HTMLSelectElement>('egress-class').value = s.egress_class;
  peerApp = s.peer_app;
}

function showControls(s: Selection): void {
  $('custom-range').hidden = $<HTMLSelectElement>('range').value !== 'custom';
  $('base-custom').hidden = s.base !== 'custom';
  $('base-app-label').hidden = s.base !== 'app';
  $('mode-label').hidden = s.base === 'none';
  $('egress-class-label').hidden = s.metric !== 'egress';
  document.body.classList.toggle('comparing', s.base !== 'none');
}

let renderSeq = 0;

interface LossRow {
  collector: string;
  reason: string;
  count: number;
  meaning: string;
}

/** Says above the flamegraph when the profiler lost samples or stacks in the selected range(s). */
async function renderLosses(ranges: URLSearchParams[], seq: number): Promise<void> {
  const rows: LossRow[] = [];
  for (const r of ranges) {
    const q = new URLSearchParams({ from: r.get('from')!, to: r.get('to')!, collector: 'profiler' });
    rows.push(...(await getJson<LossRow[]>(`/api/v1/losses?${q}`)));
  }
  if (seq !== renderSeq) return;
  const byReason = new Map<string, LossRow>();
  for (const l of rows) {
    const cur = byReason.get(l.reason);
    if (cur) cur.count += l.count;
    else byReason.set(l.reason, { ...l });
  }
  const box = $('losses');
  box.hidden = byReason.size === 0;
  box.textContent = byReason.size
    ? `Incomplete data on this host in the selected range: ${[...byReason.values()].map((l) => `${l.count.toLocaleString()} ${l.meaning}`).join('; ')}.`
    : '';
}

interface SeriesBody {
  step: number;
  points: { t: number; cores: number }[];
}

/**
 * One CPU timeline: the app's cores over the view, the selected range as a brush; dragging another range
 * calls `chosen` with it (unix seconds). Pyroscope's comparison view: one timeline per side.
 */
async function renderTimeline(id: string, app: string, proc: string, view: { from: number; to: number }, selected: { from: number; to: number } | null, seq: number, chosen: (from: number, to: number) => void): Promise<void> {
  const q = new URLSearchParams({ app, from: String(Math.floor(view.from)), to: String(Math.ceil(view.to)), ...procParams(proc) });
  const body = await getJson<SeriesBody>(`/api/v1/profile/series?${q}`);
  if (seq !== renderSeq) return;
  const svg = d3.select(`#${id}`);
  svg.selectAll('*').remove();
  const w = (svg.node() as SVGSVGElement).clientWidth || 800;
  const h = 96;
  const pad = { l: 34, b: 20, t: 4 };
  // the scale, for whoever drives the page (tests): x = x0 + (t - from) / (to - from) * (width - x0)
  svg.attr('data-from', view.from).attr('data-to', view.to).attr('data-x0', pad.l);
  const x = d3.scaleLinear().domain([view.from, view.to]).range([pad.l, w]);
  const y = d3.scaleLinear().domain([0, Math.max(0.01, d3.max(body.points, (p: { cores: number }) => p.cores) ?? 0)]).nice().range([h - pad.b, pad.t]);
  // each point covers [t, t + step): drawn as steps, so a window reads as the time it covers
  const pts = body.points.flatMap((p) => [
    { t: p.t, cores: p.cores },
    { t: Math.min(p.t + body.step, view.to), cores: p.cores },
  ]);
  svg.append('path').datum(pts).attr('class', 'area').attr('d', d3.area().x((p: { t: number }) => x(p.t)).y0(h - pad.b).y1((p: { cores: number }) => y(p.cores)));
  // no 0 at the foot of the axis: it would sit on the time axis's labels
  svg.append('g').attr('transform', `translate(${pad.l},0)`).call(d3.axisLeft(y).ticks(3).tickFormat((v: number) => (v === 0 ? '' : d3.format('~g')(v))));
  svg.append('g').attr('transform', `translate(0,${h - pad.b})`).call(d3.axisBottom(x).ticks(6).tickFormat((t: number) => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })));
  const brush = d3
    .brushX()
    .extent([[pad.l, pad.t], [w, h - pad.b]])
    .on('end', (ev: { sourceEvent?: unknown; selection: [number, number] | null }) => {
      if (!ev.sourceEvent || !ev.selection) return; // moved by code, or a click that cleared it
      const [a, b] = ev.selection.map((px) => x.invert(px));
      if (b - a < 1) return;
      chosen(Math.floor(a), Math.ceil(b));
    });
  const g = svg.append('g').attr('class', 'brush').call(brush);
  // a drag always chooses a new range, also where the current one is drawn (d3 would move that one);
  // its edges still resize it
  g.select('.selection').style('pointer-events', 'none');
  if (selected) {
    const a = Math.max(view.from, selected.from);
    const b = Math.min(view.to, selected.to);
    // the whole view selected is nothing chosen yet: no shade over all of it
    if (b > a && (a > view.from + 1 || b < view.to - 1)) g.call(brush.move, [x(a), x(b)]);
  }
  // drawn: which render, for which selection
  svg.attr('data-seq', seq).attr('data-sel', selected ? `${selected.from}-${selected.to}` : '');
}

/** The compared side's timeline, and the base's when the base is another range of the same app. */
async function renderTimelines(s: Selection, sel: URLSearchParams, base: URLSearchParams | null, seq: number): Promise<void> {
  const now = Date.now() / 1000;
  const view = { from: resolveTime(s.view, now), to: now };
  const side = (p: URLSearchParams) => ({ from: Number(p.get('from')), to: Number(p.get('to')) });
  const pick = (fromId: string, toId: string, rangeToCustom: boolean) => (from: number, to: number) => {
    // the view stays what it was (currentView, set by render): only the range becomes custom
    if (rangeToCustom) $<HTMLSelectElement>('range').value = 'custom';
    setTimeInput(fromId, String(from));
    setTimeInput(toId, String(to));
    rerender();
  };
  const showBase = base !== null && s.base === 'custom';
  $('base-timeline').hidden = !showBase;
  await Promise.all([
    renderTimeline('cpu-chart', s.app, s.proc, view, side(sel), seq, pick('from', 'to', true)),
    showBase ? renderTimeline('base-cpu-chart', s.app, s.proc, view, side(base), seq, pick('base-from', 'base-to', false)) : Promise.resolve(),
  ]);
}

/** which app and view the process picker was filled for */
let processesFor = '';

/** Fills the process picker with the app's processes over the view, the most CPU first: each command
 *  line (all its processes, when it has several) and each process. Keeps `keep` chosen, listed or not. */
async function loadProcesses(app: string, view: string, keep: string, seq: number): Promise<boolean> {
  const key = `${app}\u0000${view}`;
  const sel = $<HTMLSelectElement>('process');
  if (key !== processesFor) {
    const rows = await getJson<ProcessRow[]>(`/api/v1/processes?${new URLSearchParams({ app, from: view, to: 'now' })}`);
    // a later render started meanwhile: it fills the picker for what is chosen now
    if (seq !== renderSeq) return false;
    processesFor = key;
    const total = rows.reduce((t, r) => t + r.cpu_seconds, 0) || 1;
    const share = (cpu: number) => `${((100 * cpu) / total).toFixed(1)}%`;
    const byCmd = new Map<string, ProcessRow[]>();
    for (const r of rows) byCmd.set(r.cmdline, [...(byCmd.get(r.cmdline) ?? []), r]);
    const options = [new Option('all processes', '')];
    const option = (text: string, value: string, title: string) => {
      const o = new Option(text, value);
      o.title = title;
      return o;
    };
    for (const [cmd, procs] of byCmd) {
      // the command as ps shows it, its program without the directory (the option's title has it all)
      const what = cmd.replace(/^\S*\//, '') || (procs[0].pid === 0 ? '(not labelled)' : procs[0].exe || '(no command line)');
      const title = `${cmd || procs[0].exe}${procs[0].host ? ` on ${procs[0].host}` : ''}`;
      if (procs.length > 1 && cmd) options.push(option(`${what} — ${procs.length} processes, ${share(procs.reduce((t, r) => t + r.cpu_seconds, 0))}`, `cmd:${cmd}`, title));
      for (const r of procs) if (r.pid !== 0) options.push(option(`pid ${r.pid}: ${what} — ${share(r.cpu_seconds)}`, `pid:${r.pid}`, title));
      if (procs.length === 1 && procs[0].pid === 0 && cmd) options.push(option(`${what} — ${share(procs[0].cpu_seconds)}`, `cmd:${cmd}`, title));
    }
    sel.replaceChildren(...options);
  }
  if (keep && !Array.from(sel.options).some((o) => o.value === keep)) sel.add(new Option(keep.replace(/^pid:/, 'pid ').replace(/^cmd:/, ''), keep));
  sel.value = keep;
  return true;
}

async function render(): Promise<void> {
  let s = selectionFromControls();
  currentView = s.view;
  showControls(s);
  if (!s.app) {
    $('status').textContent = 'no applications profiled yet';
    return;
  }
  // every render takes its number before it waits for anything: one that started earlier and ends
  // later must never draw over the selection made since
  const seq = ++renderSeq;
  // another application: its processes, and all of them until one is chosen
  if (!processesFor.startsWith(`${s.app}\u0000`) && processesFor !== '') s = { ...s, proc: '' };
  if (!(await loadProcesses(s.app, s.view, s.proc, seq))) return;
  writeSelection(s);
  const { sel, base } = queries(s);
  const pprof = $<HTMLAnchorElement>('pprof');
  pprof.href = `/api/v1/profile/pprof?${sel}`;
  const basePprof = $<HTMLAnchorElement>('pprof-base');
  basePprof.hidden = !base;
  $('status').textContent = 'loading…';
  void renderTimelines(s, sel, base, seq).catch(() => undefined);
  void renderLosses(base ? [sel, base] : [sel], seq).catch(() => undefined);
  if (s.metric === 'egress') {
    // the network cost view: what sent the bytes (a comparison stays a CPU view)
    const q = new URLSearchParams(sel);
    if (s.egress_class) q.set('class', s.egress_class);
    if (s.peer_app) q.set('peer_app', s.peer_app);
    pprof.href = `/api/v1/profile/egress?${q}&format=pprof`;
    basePprof.hidden = true;
    const tree = await getJson<FlameNode & { egress: EgressSummary }>(`/api/v1/profile/egress?${q}`);
    if (seq !== renderSeq) return;
    $('legend').textContent = '';
    renderChart(tree, false, null, true);
    const e = tree.egress;
    const classes = e.classes.map((c) => `${c.class} ${bytes(c.bytes)} = ${usd(c.usd)}${c.unit_price_usd ? ` at $${c.unit_price_usd}/${c.pricing_unit}` : ''}`).join('; ');
    $('status').textContent =
      e.points === 0
        ? `no TCP bytes sent by ${s.app}${s.egress_class ? ` (${s.egress_class})` : ''}${s.peer_app ? ` to ${s.peer_app}` : ''} in this range`
        : `${bytes(e.bytes)} sent = ${usd(e.usd)}${s.peer_app ? ` to ${s.peer_app}` : ''} · ${classes} · one sample point per ${bytes(e.bytes_per_point)} on average, ${e.points} points (±${(e.relative_error_95 * 100).toFixed(1)}% at 95% for all of them)`;
    document.body.dataset.egress = 'true';
    return;
  }
  if (!base) {
    const tree = await getJson<FlameNode & { cost?: CpuCost | null }>(`/api/v1/profile/flamegraph?${sel}`);
    if (seq !== renderSeq) return;
    $('legend').textContent = '';
    renderChart(tree, false, tree.cost ?? null);
    $('status').textContent = `${tree.value} samples${costText(tree.cost)}`;
    await renderRunq(sel);
    return;
  }
  basePprof.href = `/api/v1/profile/pprof?${base}`;
  const cmp = new URLSearchParams(sel);
  cmp.set('base_app', base.get('app')!);
  cmp.set('base_from', base.get('from')!);
  cmp.set('base_to', base.get('to')!);
  const [tree, changes] = await Promise.all([
    getJson<DiffTree>(`/api/v1/profile/diff?${cmp}&mode=${s.mode}`),
    getJson<{ functions: Change[]; cost?: CpuCost | null; base_cost?: CpuCost | null }>(`/api/v1/profile/changes?${cmp}`),
  ]);
  if (seq !== renderSeq) return;
  const scaling = tree.base_total === 0 || tree.total === 0 ? 'relative: nothing to scale, one side has no samples' : `relative: base scaled ×${tree.scale} to the same total`;
  $('legend').innerHTML = `<span class="swatch grew"></span> grew <span class="swatch shrank"></span> shrank — ${s.mode === 'relative' ? scaling : 'absolute: raw sample counts'}`;
  renderChart(tree, true);
  // a side without samples has nothing to compare: say which, instead of a table of "too few samples"
  const empty = $('changes-empty');
  const side = tree.base_total === 0 ? 'base' : tree.total === 0 ? 'compared' : null;
  empty.hidden = side === null;
  empty.textContent = side === null ? '' : `The ${side} range has no samples of ${side === 'base' ? base.get('app') : sel.get('app')}: nothing to compare it with. Choose another ${side} range.`;
  renderChanges(side === null ? changes.functions : []);
  const month = changes.cost && changes.base_cost ? `; ${usd(changes.cost.usd_per_month)}/month at this range's rate vs ${usd(changes.base_cost.usd_per_month)} at the base's (${changes.cost.unit_price} ${changes.cost.unit}, ${changes.cost.price_source})` : '';
  $('status').textContent = `${tree.total} samples vs ${tree.base_total} in the base${month}`;
}

/** A range's CPU time in dollars, with what the figure comes from (none without a price). */
function costText(c: CpuCost | null | undefined): string {
  if (!c) return '';
  return ` · ${c.cpu_seconds.toFixed(2)} CPU-s = ${usd(c.usd)}, ${usd(c.usd_per_month)}/month at this rate (${c.unit_price} ${c.unit}${c.instance_type ? `, ${c.instance_type}` : ''}, ${c.price_source})`;
}

function rerender(): void {
  render().catch((e: Error) => ($('status').textContent = e.message));
}

async function main(): Promise<void> {
  const s = readSelection();
  // the applications ranked by CPU over what the timeline shows, then the rest of the week's
  const [recent, week] = await Promise.all([getJson<AppCpu[]>(`/api/v1/apps?from=${encodeURIComponent(s.view)}&to=now`), getJson<AppCpu[]>('/api/v1/apps?from=now-7d&to=now')]);
  const seen = new Set(recent.map((a) => a.app));
  applyToControls(s, [...recent, ...week.filter((a) => !seen.has(a.app)).map((a) => ({ ...a, cpu_seconds: 0 }))]);
  if ($<HTMLSelectElement>('app').value) await loadProcesses($<HTMLSelectElement>('app').value, s.view, s.proc, renderSeq);
  $('app-search').addEventListener('change', () => {
    const name = $<HTMLInputElement>('app-search').value.trim();
    const sel = $<HTMLSelectElement>('app');
    if (!Array.from(sel.options).some((o) => o.value === name)) {
      $('status').textContent = `no application named ${name}`;
      return;
    }
    sel.value = name;
    $<HTMLInputElement>('app-search').value = '';
    rerender();
  });
  // choosing "custom…" or "another range…" starts from the range in view, never from empty inputs
  $('range').addEventListener('change', () => {
    if ($<HTMLSelectElement>('range').value !== 'custom' || $<HTMLInputElement>('from').value) return;
    const now = Math.floor(Date.now() / 1000);
    setTimeInput('from', String(Math.floor(resolveTime(currentView, now))));
    setTimeInput('to', String(now));
  }, { capture: true });
  $('base').addEventListener('change', () => {
    if ($<HTMLSelectElement>('base').value !== 'custom' || $<HTMLInputElement>('base-from').value) return;
    const { sel } = queries({ ...selectionFromControls(), base: 'none' });
    const from = Number(sel.get('from'));
    const to = Number(sel.get('to'));
    setTimeInput('base-from', String(from - (to - from)));
    setTimeInput('base-to', String(from));
  }, { capture: true });
  for (const id of ['app', 'process', 'range', 'from', 'to', 'base', 'base-app', 'base-from', 'base-to', 'mode', 'metric', 'egress-class']) $(id).addEventListener('change', rerender);
  $('search').addEventListener('input', () => {
    const q = $<HTMLInputElement>('search').value;
    if (chart) q ? chart.search(q) : chart.clear();
    writeSelection(selectionFromControls());
  });
  $('reset-zoom').addEventListener('click', () => chart?.resetZoom());
  await render();
}

main().catch((e: Error) => ($('status').textContent = e.message));
