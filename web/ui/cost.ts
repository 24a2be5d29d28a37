/* The network-cost page: a month's cost by application (or class) and traffic class, with the unit
 * price, tier and billed bytes behind each figure, and the cost over the month as a stacked chart.
 * The URL holds the month and grouping. */

import type { NetcostApiRow } from '../routes/netcost.js';
import { $, appendCells, getJson } from './dom.js';
import { appLabel, bytes, foldSeries, usd } from './format.js';

/* d3 is loaded as a global by cost.html */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const d3: any;

type Row = NetcostApiRow;

interface Point {
  t: number;
  app: string;
  cost_usd: number;
}

function monthRange(month: string): { from: number; to: number } {
  const [y, m] = month.split('-').map(Number);
  return { from: Date.UTC(y, m - 1, 1) / 1000, to: Date.UTC(y, m, 1) / 1000 };
}

/** The flamegraph page's network-cost view of a row: the code paths that sent its bytes (egress stacks). */
function codePathsLink(r: Row, range: { from: number; to: number }): HTMLElement | null {
  if (!r.app || r.bytes_sent <= 0 && r.charge !== 'nat-gateway-processing') return null;
  const p = new URLSearchParams({ app: r.app, from: String(range.from), to: String(Math.min(range.to, Math.ceil(Date.now() / 1000))), metric: 'egress', egress_class: r.charge === 'nat-gateway-processing' ? 'nat' : r.class });
  if (r.peer_app) p.set('peer_app', r.peer_app);
  const a = document.createElement('a');
  a.href = `/?${p}`;
  a.textContent = 'code paths';
  a.title = `the code in ${r.app} that sent these bytes`;
  return a;
}

function renderTable(rows: Row[], group: string, range: { from: number; to: number }): void {
  const body = $('cost-body');
  body.replaceChildren();
  const sorted = [...rows].sort((a, b) => b.cost_usd - a.cost_usd || b.bytes_sent + b.bytes_received - (a.bytes_sent + a.bytes_received));
  for (const r of sorted) {
    const tr = document.createElement('tr');
    if (r.tier.startsWith('unpriced')) tr.className = 'unpriced';
    const cells: [string, boolean][] = [
      [group === 'app' ? appLabel(r.app) : '–', false],
      [r.charge === 'nat-gateway-processing' ? `${r.class}: NAT gateway processing` : r.class, false],
      [bytes(r.bytes_sent), true],
      [bytes(r.bytes_received), true],
      [bytes(r.billed_bytes), true],
      [`$${r.unit_price_usd}/${r.pricing_unit}`, true],
      [r.tier, false],
      [usd(r.cost_usd), true],
    ];
    appendCells(tr, cells);
    const td = document.createElement('td');
    const link = codePathsLink(r, range);
    if (link) td.append(link);
    tr.append(td);
    body.append(tr);
  }
  $('cost-total').textContent = usd(rows.reduce((s, r) => s + r.cost_usd, 0));
  const sources = [...new Set(rows.map((r) => r.price_source))];
  $('price-source').textContent = sources.length ? `Prices: ${sources.join('; ')}` : 'No network traffic recorded in this month.';
}

/** Distinct colours: Tableau's ten; the ninth-largest app on are folded into one grey series. */
const PALETTE = ['#4e79a7', '#f28e2c', '#e15759', '#76b7b2', '#59a14f', '#edc949', '#af7aa1', '#ff9da7', '#9c755f'];
const OTHERS = '#bab0ab';

function renderChart(raw: Point[], step: number, range: { from: number; to: number }): void {
  const svg = d3.select('#cost-chart');
  svg.selectAll('*').remove();
  const w = 900;
  const h = 240;
  const pad = { l: 84, b: 20, t: 8 };
  const { series: apps, points } = foldSeries(raw, PALETTE.length);
  const times: number[] = [];
  for (let t = range.from; t < range.to; t += step) times.push(t);
  if (points.every((p) => p.cost_usd === 0)) {
    // an empty month: say so, rather than an axis scaled to nothing
    svg.append('text').attr('x', w / 2).attr('y', h / 2).attr('text-anchor', 'middle').attr('class', 'empty').text('No network cost in this month.');
    $('chart-legend').replaceChildren();
    return;
  }
  const table = times.map((t) => {
    const row: Record<string, number> = { t };
    for (const a of apps) row[a] = 0;
    for (const p of points) if (p.t === t) row[p.app] += p.cost_usd;
    return row;
  });
  const stacked = d3.stack().keys(apps)(table);
  const x = d3.scaleBand().domain(times).range([pad.l, w]).padding(0.1);
  const max = d3.max(stacked[stacked.length - 1], (d: number[]) => d[1]);
  const y = d3.scaleLinear().domain([0, max]).range([h - pad.b, pad.t]);
  const color = (a: string) => (apps.indexOf(a) < PALETTE.length ? PALETTE[apps.indexOf(a)] : OTHERS);
  svg
    .selectAll('g.layer')
    .data(stacked)
    .join('g')
    .attr('class', 'layer')
    .attr('fill', (d: { key: string }) => color(d.key))
    .selectAll('rect')
    .data((d: unknown) => d)
    .join('rect')
    .attr('x', (d: { data: { t: number } }) => x(d.data.t))
    .attr('y', (d: number[]) => y(d[1]))
    .attr('width', x.bandwidth())
    .attr('height', (d: number[]) => y(d[0]) - y(d[1]))
    .append('title')
    .text((d: number[] & { data: { t: number } }) => `${new Date(d.data.t * 1000).toISOString().slice(0, 16)}Z: ${usd(d[1] - d[0])}`);
  svg.append('g').attr('transform', `translate(${pad.l - 4},0)`).call(d3.axisLeft(y).ticks(4).tickFormat((v: number) => usd(v)));
  const labels = times.filter((_, i) => i % Math.ceil(times.length / 8) === 0);
  svg
    .selectAll('text.tick-x')
    .data(labels)
    .join('text')
    .attr('class', 'tick-x')
    .attr('x', (t: number) => x(t))
    .attr('y', h - 4)
    .text((t: number) => new Date(t * 1000).toISOString().slice(5, 10));
  $('chart-legend').replaceChildren(
    ...apps.map((a) => {
      const s = document.createElement('span');
      s.innerHTML = `<i class="swatch" style="background:${color(a)}"></i> `;
      s.append(a);
      return s;
    }),
  );
}

async function render(): Promise<void> {
  const month = ($('month') as HTMLInputElement).value;
  const group = ($('group') as HTMLSelectElement).value;
  const p = new URLSearchParams({ month, group });
  history.replaceState(null, '', `?${p}`);
  const range = monthRange(month);
  $('focus').setAttribute('href', `/api/v1/reports/monthly?month=${month}&format=focus`);
  $('status').textContent = 'loading…';
  try {
    const q = `from=${range.from}&to=${range.to}`;
    const [rows, series] = await Promise.all([
      getJson<Row[]>(`/api/v1/netcost?${q}&group_by=${group}`),
      getJson<{ step: number; points: Point[] }>(`/api/v1/netcost/series?${q}&step=86400`),
    ]);
    renderTable(rows, group, range);
    renderChart(series.points, series.step, range);
    $('status').textContent = '';
    document.body.dataset.rendered = 'true';
  } catch (e) {
    $('status').textContent = (e as Error).message;
  }
}

function main(): void {
  const p = new URLSearchParams(location.search);
  ($('month') as HTMLInputElement).value = p.get('month') ?? new Date().toISOString().slice(0, 7);
  ($('group') as HTMLSelectElement).value = p.get('group') ?? 'app';
  for (const id of ['month', 'group']) $(id).addEventListener('change', () => void render());
  void render();
}

main();
