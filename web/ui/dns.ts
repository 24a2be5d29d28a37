/* The DNS page: per application × domain × qtype, requests, outcomes and latency, sortable, with the
 * checks SREs use highlighted: p95 latency over 100 ms, any server error (SERVFAIL, REFUSED, other
 * rcodes, timeouts), and NXDOMAIN for a domain that also resolved in the range (a typo in one
 * config, a search-list expansion, a flapping record). The URL holds app, range, sort and filter. */

import type { DnsApiRow } from '../../store/tables/dns-windows.js';
import { $, appendCells, getJson } from './dom.js';

type Row = DnsApiRow & { errors: number; checks: string[] };

/** The checks of each row: `slow`, `server-error`, `nx-resolved`. */
export function checksOf(rows: DnsApiRow[]): Row[] {
  // domains (per app) that resolved: NOERROR with answers, any qtype
  const resolved = new Set(rows.filter((r) => r.noerror - r.no_answer > 0).map((r) => `${r.app}\0${r.domain}`));
  return rows.map((r) => {
    const checks: string[] = [];
    if (r.p95_ms !== null && r.p95_ms > 100) checks.push('slow');
    if (r.servfail + r.refused + r.other_errors + r.timeouts + r.unreachable > 0) checks.push('server-error');
    if (r.nxdomain > 0 && resolved.has(`${r.app}\0${r.domain}`)) checks.push('nx-resolved');
    return { ...r, errors: r.nxdomain + r.servfail + r.refused + r.other_errors + r.timeouts + r.unreachable, checks };
  });
}

const CHECK_TEXT: Record<string, string> = { slow: 'p95 > 100 ms', 'server-error': 'server error', 'nx-resolved': 'NXDOMAIN, also resolved' };

function state(): { app: string; from: string; to: string; sort: string; problems: boolean } {
  const p = new URLSearchParams(location.search);
  return { app: p.get('app') ?? '', from: p.get('from') ?? 'now-1h', to: p.get('to') ?? 'now', sort: p.get('sort') ?? 'errors', problems: p.get('problems') === '1' };
}

function setState(patch: Partial<ReturnType<typeof state>>): void {
  const s = { ...state(), ...patch };
  const p = new URLSearchParams();
  if (s.app) p.set('app', s.app);
  p.set('from', s.from);
  p.set('to', s.to);
  p.set('sort', s.sort);
  if (s.problems) p.set('problems', '1');
  history.replaceState(null, '', `?${p}`);
}

let rows: Row[] = [];

function render(): void {
  const s = state();
  const key = s.sort as keyof Row;
  const numeric = !['app', 'domain', 'qtype'].includes(s.sort);
  const shown = rows
    .filter((r) => !s.problems || r.checks.length > 0)
    .sort((a, b) => {
      if (!numeric) return String(a[key]).localeCompare(String(b[key])) || b.requests - a.requests;
      return ((b[key] as number | null) ?? -1) - ((a[key] as number | null) ?? -1) || b.requests - a.requests;
    });
  const body = $('dns-body');
  body.replaceChildren();
  const num = (x: number | null) => (x === null ? '–' : String(x));
  for (const r of shown) {
    const tr = document.createElement('tr');
    tr.className = r.checks.join(' ');
    tr.dataset.errors = String(r.errors);
    const cells: [string, boolean][] = [
      [r.app, false],
      [r.domain, false],
      [r.qtype, false],
      [num(r.requests), true],
      [num(r.errors), true],
      [num(r.nxdomain), true],
      [num(r.servfail), true],
      [num(r.refused), true],
      [num(r.other_errors), true],
      [num(r.no_answer), true],
      [num(r.timeouts), true],
      [num(r.unreachable), true],
      [num(r.p50_ms), true],
      [num(r.p95_ms), true],
      [num(r.p99_ms), true],
      [r.checks.map((c) => CHECK_TEXT[c]).join(', '), false],
      [r.nameservers.join(' '), false],
    ];
    appendCells(tr, cells);
    body.append(tr);
  }
  if (shown.length === 0) {
    // say why the table is empty instead of leaving bare headers
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = document.querySelectorAll('#dns-table thead th').length;
    td.className = 'empty';
    td.textContent = rows.length === 0 ? 'No DNS queries seen in this range.' : 'No row has a check in this range.';
    tr.append(td);
    body.append(tr);
  }
  for (const th of Array.from(document.querySelectorAll<HTMLElement>('#dns-table th[data-sort]'))) th.classList.toggle('sorted', th.dataset.sort === s.sort);
  $('status').textContent = `${shown.length} of ${rows.length} rows`;
}

async function load(): Promise<void> {
  const s = state();
  const q = new URLSearchParams({ from: s.from, to: s.to });
  if (s.app) q.set('app', s.app);
  $('status').textContent = 'loading…';
  try {
    rows = checksOf(await getJson<DnsApiRow[]>(`/api/v1/dns?${q}`));
    const select = $<HTMLSelectElement>('app');
    const apps = [...new Set(rows.map((r) => r.app))].sort();
    if (select.options.length <= 1) for (const a of apps) select.add(new Option(a, a));
    render();
  } catch (e) {
    $('status').textContent = (e as Error).message;
  }
}

function init(): void {
  const s = state();
  const range = $<HTMLSelectElement>('range');
  if (Array.from(range.options).some((o) => o.value === s.from)) range.value = s.from;
  $<HTMLInputElement>('problems').checked = s.problems;
  range.onchange = () => {
    setState({ from: range.value, to: 'now' });
    void load();
  };
  const app = $<HTMLSelectElement>('app');
  if (s.app) app.add(new Option(s.app, s.app, true, true));
  app.onchange = () => {
    setState({ app: app.value });
    void load();
  };
  $<HTMLInputElement>('problems').onchange = (e) => {
    setState({ problems: (e.target as HTMLInputElement).checked });
    render();
  };
  for (const th of Array.from(document.querySelectorAll<HTMLElement>('#dns-table th[data-sort]'))) {
    th.onclick = () => {
      setState({ sort: th.dataset.sort! });
      render();
    };
  }
  void load();
}

if (typeof document !== 'undefined') init();
