/* Minimal viewer: one app, one range, its flamegraph (d3-flame-graph), search, pprof link. */
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let chart;

async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function selection() {
  return { app: $('app').value, from: $('range').value, to: 'now' };
}

async function loadApps() {
  const apps = await getJson(`/api/v1/apps?from=now-7d&to=now`);
  const sel = $('app');
  sel.innerHTML = '';
  for (const a of apps) {
    const o = document.createElement('option');
    o.value = a.app;
    o.textContent = a.app;
    sel.appendChild(o);
  }
  if (params.get('app')) sel.value = params.get('app');
  if (params.get('from')) $('range').value = params.get('from');
}

async function render() {
  const s = selection();
  if (!s.app) {
    $('status').textContent = 'no applications profiled yet';
    return;
  }
  const q = new URLSearchParams(s).toString();
  history.replaceState(null, '', `?${q}`);
  $('pprof').href = `/api/v1/profile/pprof?${q}`;
  $('status').textContent = 'loading…';
  const tree = await getJson(`/api/v1/profile/flamegraph?${q}`);
  const width = document.querySelector('main').clientWidth - 20;
  chart = flamegraph.flamegraph().width(width).cellHeight(18).minFrameSize(1).selfValue(false);
  chart.setLabelHandler((d) => `${d.data.name}: ${d.value} samples (${((100 * d.value) / tree.value || 0).toFixed(2)}%)`);
  d3.select('#chart').selectAll('*').remove();
  d3.select('#chart').datum(tree).call(chart);
  $('status').textContent = `${tree.value} samples`;
}

$('app').addEventListener('change', () => render().catch((e) => ($('status').textContent = e.message)));
$('range').addEventListener('change', () => render().catch((e) => ($('status').textContent = e.message)));
$('search').addEventListener('input', (e) => chart && chart.search(e.target.value));
loadApps()
  .then(render)
  .catch((e) => ($('status').textContent = e.message));
