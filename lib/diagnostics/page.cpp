// The console's HTML page. Everything is inline so the page works offline and on machines
// with no route to a CDN, and so its Content-Security-Policy can forbid every other origin.
// Task names come from the program and are inserted with textContent only (never innerHTML),
// so a name cannot inject markup.
#include "page.hpp"

namespace weft::diagnostics {

std::string_view console_page() noexcept {
    static constexpr std::string_view page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>weft console</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
  #status { font-size: .9em; color: #666; }
  #status.err { color: #b00; font-weight: bold; }
  table { border-collapse: collapse; background: #fff; }
  th, td { border: 1px solid #ddd; padding: .2em .6em; text-align: left; vertical-align: top; }
  th { background: #f0f0f0; position: sticky; top: 0; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.loc { font-family: ui-monospace, monospace; font-size: .9em; }
  tr.scheduled td.state { color: #06c; }
  tr.running td.state { color: #080; font-weight: bold; }
  tr.suspended td.state { color: #666; }
  td.bt { font-family: ui-monospace, monospace; font-size: .8em; white-space: pre; }
  td.bars { white-space: nowrap; }
  td.bars span { display: inline-block; width: 6px; margin-right: 1px; background: #6a9fd4; vertical-align: bottom; }
  .cols { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
  input { font: inherit; padding: .1em .4em; }
</style>
</head>
<body>
<h1>weft console</h1>
<div id="status">loading&hellip;</div>
<div class="cols">
  <section>
    <h2>Runtime</h2>
    <table id="runtime-metrics"><thead><tr><th>metric</th><th>value</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Workers</h2>
    <table id="worker-metrics"><thead></thead><tbody></tbody></table>
  </section>
</div>
<h2>Latency</h2>
<p id="latency-off" hidden>Off: the runtime keeps no latency histograms (builder::latency_histograms(true) turns them on).</p>
<table id="latency">
  <thead><tr><th>worker</th><th>histogram</th><th>count</th><th>p50 &le;</th><th>p99 &le;</th><th>max &le;</th><th>mean</th><th>buckets (256 ns &hellip; 1 s, &times;2 each)</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Tasks <span id="task-count"></span></h2>
<p><label>filter <input id="filter" type="search" placeholder="name, state, location"></label>
   <label><input id="bt" type="checkbox"> stacks of suspended tasks</label></p>
<table id="tasks">
  <thead><tr><th>id</th><th>name</th><th>state</th><th>waiting on</th><th>suspended at</th><th>spawned at</th><th>stack</th></tr></thead>
  <tbody></tbody>
</table>
<script>
'use strict';
const byId = (id) => document.getElementById(id);

function row(cells) {
  const tr = document.createElement('tr');
  for (const [text, cls] of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  return tr;
}

// Prometheus text format: `name{label="v",...} value`; comments start with '#'.
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const pair of (m[2] || '').split(',')) {
      const kv = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*$/.exec(pair);
      if (kv) labels[kv[1]] = kv[2];
    }
    samples.push({ name: m[1], labels: labels, value: m[3] });
  }
  return samples;
}

// Durations in seconds, as /metrics gives them, to a short human form.
function duration(seconds) {
  const ns = seconds * 1e9;
  if (!isFinite(ns)) return '> 1 s';
  if (ns < 1e3) return Math.round(ns) + ' ns';
  if (ns < 1e6) return (ns / 1e3).toPrecision(3) + ' \u00b5s';
  if (ns < 1e9) return (ns / 1e6).toPrecision(3) + ' ms';
  return (ns / 1e9).toPrecision(3) + ' s';
}

// One histogram from its cumulative buckets: the bound of the bucket holding quantile q.
function quantile(h, q) {
  const rank = Math.max(1, Math.ceil(q * h.count));
  for (const [le, cum] of h.buckets) if (cum >= rank) return le;
  return Infinity;
}

function renderHistograms(hists) {
  byId('latency-off').hidden = hists.size !== 0;
  const rows = [];
  for (const [key, h] of hists) {
    h.buckets.sort((a, b) => a[0] - b[0]);
    let prev = 0, last = 0, peak = 1;
    const counts = h.buckets.map(([le, cum]) => { const c = cum - prev; prev = cum; return c; });
    counts.forEach((c, i) => { if (c > 0) last = i; peak = Math.max(peak, c); });
    const empty = h.count === 0;
    const tr = row([[h.worker, 'num'], [h.name, ''], [String(h.count), 'num'],
                    [empty ? '' : duration(quantile(h, 0.5)), 'num'],
                    [empty ? '' : duration(quantile(h, 0.99)), 'num'],
                    [empty ? '' : duration(h.buckets[last][0]), 'num'],
                    [empty ? '' : duration(h.sum / h.count), 'num'], ['', 'bars']]);
    // Bars on a log scale, so a tail of a few slow resumptions next to millions of fast ones
    // still shows.
    const bars = tr.lastChild;
    counts.forEach((c, i) => {
      const bar = document.createElement('span');
      bar.style.height = (c === 0 ? 0 : 2 + 18 * Math.log1p(c) / Math.log1p(peak)) + 'px';
      bar.title = (i + 1 < counts.length ? '\u2264 ' + duration(h.buckets[i][0]) : 'longer') + ': ' + c;
      bars.appendChild(bar);
    });
    tr.className = 'histogram';
    rows.push(tr);
  }
  byId('latency').tBodies[0].replaceChildren(...rows);
}

function renderMetrics(samples) {
  const runtimeRows = [];
  const columns = [];
  const workers = new Map();
  const hists = new Map();
  for (const s of samples) {
    const hm = /^weft_worker_(\w+)_seconds_(bucket|sum|count)$/.exec(s.name);
    if (hm && s.labels.worker !== undefined) {
      const key = s.labels.worker + ' ' + hm[1];
      if (!hists.has(key)) hists.set(key, { worker: s.labels.worker, name: hm[1], buckets: [], sum: 0, count: 0 });
      const h = hists.get(key);
      const v = Number(s.value);
      if (hm[2] === 'bucket') h.buckets.push([s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), v]);
      else if (hm[2] === 'sum') h.sum = v;
      else h.count = v;
      continue;
    }
    if (s.labels.worker === undefined) {
      const tr = row([[s.name, ''], [s.value, 'num']]);
      tr.className = 'metric';
      runtimeRows.push(tr);
      continue;
    }
    const col = s.name.replace(/^weft_worker_/, '');
    if (!columns.includes(col)) columns.push(col);
    if (!workers.has(s.labels.worker)) workers.set(s.labels.worker, {});
    workers.get(s.labels.worker)[col] = s.value;
  }
  byId('runtime-metrics').tBodies[0].replaceChildren(...runtimeRows);
  const head = document.createElement('tr');
  for (const c of ['worker', ...columns]) {
    const th = document.createElement('th');
    th.textContent = c;
    head.appendChild(th);
  }
  const table = byId('worker-metrics');
  table.tHead.replaceChildren(head);
  const rows = [];
  for (const [w, values] of workers) {
    const tr = row([[w, 'num'], ...columns.map((c) => [values[c] ?? '', 'num'])]);
    tr.className = 'worker';
    rows.push(tr);
  }
  table.tBodies[0].replaceChildren(...rows);
  renderHistograms(hists);
}

let lastTasks = [];
function renderTasks() {
  const filter = byId('filter').value.trim().toLowerCase();
  const rows = [];
  for (const t of lastTasks) {
    const stack = (t.backtrace || []).join('\n');
    const state = t.cancelled ? t.state + ', cancelled' : t.state;
    const text = [t.id, t.name, state, t.waiting_on, t.suspended_at, t.spawned_at, stack].join(' ').toLowerCase();
    if (filter && !text.includes(filter)) continue;
    const tr = row([[String(t.id), 'num'], [t.name, 'name'], [state, 'state'],
                    [t.waiting_on, ''], [t.suspended_at, 'loc'], [t.spawned_at, 'loc'],
                    [stack, 'bt']]);
    tr.className = 'task ' + t.state;
    rows.push(tr);
  }
  byId('tasks').tBodies[0].replaceChildren(...rows);
  byId('task-count').textContent = '(' + lastTasks.length + ')';
}

async function refresh() {
  const status = byId('status');
  try {
    const [m, t] = await Promise.all([fetch('/metrics', { cache: 'no-store' }),
                                      fetch('/tasks.json' + (byId('bt').checked ? '?bt=1' : ''),
                                            { cache: 'no-store' })]);
    if (!m.ok || !t.ok) throw new Error('HTTP ' + m.status + ' / ' + t.status);
    const [metricsText, dump] = await Promise.all([m.text(), t.json()]);
    renderMetrics(parseMetrics(metricsText));
    lastTasks = dump.tasks;
    renderTasks();
    status.textContent = 'updated ' + new Date().toLocaleTimeString();
    status.className = 'ok';
  } catch (e) {
    status.textContent = 'console unreachable: ' + e.message;
    status.className = 'err';
  }
}

async function poll() {
  await refresh();
  setTimeout(poll, 1000);
}
byId('filter').addEventListener('input', renderTasks);
// Stacks cost the runtime a borrow and an unwind per suspended task (bounded, see
// docs/notes/diagnostics.md), so they are off until asked for: the box, or ?bt=1 in the URL.
byId('bt').checked = new URLSearchParams(location.search).get('bt') === '1';
byId('bt').addEventListener('change', refresh);
poll();
</script>
</body>
</html>
)html";
    return page;
}

}  // namespace weft::diagnostics
