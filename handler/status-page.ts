/*
 * The live status page (`GET /status`): one self-contained HTML document that polls
 * `/status.json` every second and draws the latency chart with uPlot, which the control
 * port serves from the installed package (`/status/uplot.js`), so no CDN is needed.
 * Rates and percentiles are computed in the page from two successive polls.
 */
export const statusPageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>thumbtack status</title>
<link rel="stylesheet" href="/status/uplot.css">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  h2 { font-size: 1em; margin: 1.2em 0 .4em; color: #555; text-transform: uppercase; letter-spacing: .05em; }
  .state { color: #555; }
  .state .bad { color: #b00; font-weight: 600; }
  .state .good { color: #070; font-weight: 600; }
  .cards { display: flex; flex-wrap: wrap; gap: .6em; }
  .card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5em .8em; min-width: 8em; }
  .card .n { font-size: 1.5em; font-variant-numeric: tabular-nums; }
  .card .l { color: #666; font-size: .85em; }
  table { border-collapse: collapse; background: #fff; }
  td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: left; font-variant-numeric: tabular-nums; }
  #errors li { font-family: ui-monospace, monospace; font-size: .9em; }
</style>
</head>
<body>
<h1>thumbtack</h1>
<div class="state" id="state">loading…</div>

<h2>Connections</h2>
<div class="cards" id="connections"></div>

<h2>Traffic</h2>
<div class="cards">
  <div class="card"><div class="n" id="publishes-rate">0</div><div class="l">publishes/s</div></div>
  <div class="card"><div class="n" id="deliveries-rate">0</div><div class="l">deliveries/s</div></div>
  <div class="card"><div class="n" id="publishes-total">0</div><div class="l">publishes</div></div>
  <div class="card"><div class="n" id="deliveries-total">0</div><div class="l">deliveries</div></div>
  <div class="card"><div class="n" id="drops-total">0</div><div class="l">drops</div></div>
  <div class="card"><div class="n" id="gateway-errors">0</div><div class="l">502/504</div></div>
</div>

<h2>Publish → socket latency (ms)</h2>
<div class="cards">
  <div class="card"><div class="n" id="p50">–</div><div class="l">p50</div></div>
  <div class="card"><div class="n" id="p90">–</div><div class="l">p90</div></div>
  <div class="card"><div class="n" id="p99">–</div><div class="l">p99</div></div>
</div>
<div id="chart"></div>

<h2>Channels with the most listeners</h2>
<table><thead><tr><th>channel</th><th>listeners</th></tr></thead><tbody id="channels"></tbody></table>

<h2>Recent errors</h2>
<ul id="errors"></ul>

<script src="/status/uplot.js"></script>
<script>
'use strict';
var previous = null;
var points = [[], [], [], []];
var chart = null;
var keep = 120;

function text(id, value) { document.getElementById(id).textContent = value; }
function total(object) { var n = 0; for (var k in object) n += object[k]; return n; }

/** Upper bound (ms) of the bucket holding quantile q of per-bucket counts; null when empty. */
function quantile(bounds, counts, q) {
  var all = 0; for (var i = 0; i < counts.length; i++) all += counts[i];
  if (all === 0) return null;
  var seen = 0;
  for (var j = 0; j < counts.length; j++) {
    seen += counts[j];
    if (seen >= q * all) return j < bounds.length ? bounds[j] * 1000 : bounds[bounds.length - 1] * 1000;
  }
  return null;
}

function makeChart() {
  if (typeof uPlot === 'undefined') return null;
  return new uPlot({
    width: Math.min(720, window.innerWidth - 40), height: 200,
    series: [{}, { label: 'p50', stroke: '#2a7' }, { label: 'p90', stroke: '#e90' }, { label: 'p99', stroke: '#c33' }],
    axes: [{}, { label: 'ms' }],
  }, points, document.getElementById('chart'));
}

function render(s) {
  var state = 'mode ' + s.mode + ' · handler pid ' + s.handler.pid + ' · ' + s.workers + ' worker(s) on the bus';
  var html = state.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  if (s.redis) html += ' · Redis <span class="' + (s.redis.connected ? 'good">connected' : 'bad">unreachable') + '</span>';
  if (s.workers === 0) html += ' · <span class="bad">no proxy worker connected</span>';
  document.getElementById('state').innerHTML = html;

  var transports = ['http', 'stream', 'sse', 'ws', 'ws-over-http'];
  var cards = '<div class="card"><div class="n" id="connections-total">' + total(s.connections) + '</div><div class="l">all</div></div>';
  transports.forEach(function (t) {
    cards += '<div class="card"><div class="n" id="connections-' + t + '">' + (s.connections[t] || 0) + '</div><div class="l">' + t + '</div></div>';
  });
  document.getElementById('connections').innerHTML = cards;

  text('publishes-total', s.publishes);
  text('deliveries-total', s.deliveries);
  text('drops-total', total(s.drops));
  text('gateway-errors', s.gatewayErrors);

  var counts = s.latency.counts;
  if (previous) {
    var seconds = Math.max(0.001, (s.time - previous.time) / 1000);
    text('publishes-rate', Math.round((s.publishes - previous.publishes) / seconds));
    text('deliveries-rate', Math.round((s.deliveries - previous.deliveries) / seconds));
    counts = counts.map(function (c, i) { return Math.max(0, c - (previous.latency.counts[i] || 0)); });
  }
  var p = [0.5, 0.9, 0.99].map(function (q) { return quantile(s.latency.bounds, counts, q); });
  text('p50', p[0] === null ? '–' : p[0]);
  text('p90', p[1] === null ? '–' : p[1]);
  text('p99', p[2] === null ? '–' : p[2]);
  points[0].push(s.time / 1000); points[1].push(p[0]); points[2].push(p[1]); points[3].push(p[2]);
  if (points[0].length > keep) points.forEach(function (a) { a.shift(); });
  if (!chart) chart = makeChart();
  if (chart) chart.setData(points);

  var rows = '';
  s.channels.forEach(function (c) {
    var name = c[0].replace(/&/g, '&amp;').replace(/</g, '&lt;');
    rows += '<tr><td>' + name + '</td><td>' + c[1] + '</td></tr>';
  });
  document.getElementById('channels').innerHTML = rows || '<tr><td colspan="2">none</td></tr>';

  var errors = '';
  s.errors.forEach(function (e) {
    var line = new Date(e.at).toISOString().slice(11, 19) + ' ' + e.worker + ' ' + e.kind + ': ' + e.text;
    errors += '<li>' + line.replace(/&/g, '&amp;').replace(/</g, '&lt;') + '</li>';
  });
  document.getElementById('errors').innerHTML = errors || '<li>none</li>';
  previous = s;
}

function poll() {
  fetch('/status.json', { headers: { accept: 'application/json' } })
    .then(function (r) { if (!r.ok) throw new Error('status ' + r.status); return r.json(); })
    .then(render)
    .catch(function (err) { document.getElementById('state').textContent = 'cannot read /status.json: ' + err.message; })
    .finally(function () { setTimeout(poll, 1000); });
}
poll();
</script>
</body>
</html>
`;
