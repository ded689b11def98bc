"""The page of ``nwbsyn events review`` (served by :mod:`nwbsyn.events._review_server`).

Plain HTML + JavaScript, nothing fetched from outside 127.0.0.1. Keys: &rarr;/n next event,
&larr;/p previous, a accept (and next), r reject (and next), u clear the label, +/- zoom,
[/] pan, y full or robust amplitude range, s save. A click on the trace adds a missed event there (moved to the steepest rise).
"""

from __future__ import annotations

__all__ = ["review_page"]

_PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nwbsyn events review</title>
<style>
body { font-family: sans-serif; margin: 16px; color: #222; }
canvas { border: 1px solid #ccc; background: #fff; cursor: crosshair; max-width: 100%; }
button { margin-right: 6px; } .note { color: #555; font-size: 0.9em; }
#info { font-size: 1.05em; margin: 8px 0; } #status { margin: 8px 0; color: #064; white-space: pre-wrap; }
.lab-accept { color: #2ca02c; font-weight: bold; } .lab-reject { color: #888; font-weight: bold; }
.lab-none { color: #d62728; } #added li { font-size: 0.9em; }
</style></head><body>
<h2>nwbsyn events review: <span id="file"></span></h2>
<div><button id="prev">&larr; previous (p)</button><button id="next">next (n) &rarr;</button>
<button id="accept">accept (a)</button><button id="reject">reject (r)</button><button id="clear">clear (u)</button>
<button id="zin">zoom in (+)</button><button id="zout">zoom out (-)</button>
<button id="save">save (s)</button><button id="quit">save and quit</button></div>
<div id="info"></div>
<canvas id="trace" width="1100" height="380"></canvas>
<p class="note">Keys: &rarr;/n next, &larr;/p previous, a accept, r reject, u clear, +/- zoom, [ ] pan, y full/robust amplitude
range, s save. The amplitude axis is set by the bulk of the trace (capacitive transients are clipped; grey bands:
excluded windows).
Click the trace to add a missed event (it moves to the steepest rise within 2 ms). Ticks: red not reviewed,
green accepted, grey rejected, purple added; the thick line is the current event.</p>
<div id="counts"></div><div id="status"></div>
<h3>Added events</h3><ul id="added"></ul>
<p class="note">Save writes <span id="out"></span> (the curated events table with its review history) and the
labelled windows <span id="win"></span> for <code>nwbsyn events transfer --data</code>.</p>
<script>
(function () {
const cv = document.getElementById('trace'), ctx = cv.getContext('2d');
const W = cv.width, H = cv.height, L = 70, R = 10, T = 14, B = 28;
let st = null, cur = 0, span = 0.2, centre = null, view = null, busy = false, fullY = false;
const $ = id => document.getElementById(id);
async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                        body: JSON.stringify(body)});
  const j = await r.json(); if (!r.ok) throw new Error(j.error || r.statusText); return j;
}
async function refresh() { st = await api('/api/state'); window.reviewState = st; }
function ev() { return st.events[cur]; }
async function load() {
  if (!st.events.length) { $('info').textContent = 'no events'; return; }
  const e = ev(); if (centre === null) centre = e.t;
  const a = centre - 0.3 * span, b = centre + 0.7 * span;
  view = await api('/api/view?sweep=' + e.sweep + '&start=' + a + '&stop=' + b); view.a = a; view.b = b; draw();
}
function draw() {
  const e = ev(), s = st.sweeps[e.sweep]; ctx.clearRect(0, 0, W, H); ctx.font = '11px sans-serif';
  let mn = Infinity, mx = -Infinity; for (const v of view.y) { if (v < mn) mn = v; if (v > mx) mx = v; }
  if (!fullY && view.yr) { mn = view.yr[0]; mx = view.yr[1]; }  // the bulk of the trace, not the transients
  if (!(mx > mn)) { mn -= 1; mx += 1; } const p = 0.04 * (mx - mn); mn -= p; mx += p;
  const X = t => L + (t - view.a) / (view.b - view.a) * (W - L - R), Y = v => T + (mx - v) / (mx - mn) * (H - T - B);
  for (const w of (s.ex || [])) {
    if (w[1] < view.a || w[0] > view.b) continue;
    const xa = Math.max(L, X(w[0])), xb = Math.min(W - R, X(w[1]));
    ctx.fillStyle = 'rgba(150,150,150,0.25)'; ctx.fillRect(xa, T, Math.max(1, xb - xa), H - T - B);
    ctx.fillStyle = '#777'; ctx.fillText('excluded: ' + w[2], xa + 2, H - B - 4);
  }
  ctx.save(); ctx.beginPath(); ctx.rect(L, T, W - L - R, H - T - B); ctx.clip();
  ctx.strokeStyle = '#333'; ctx.lineWidth = 0.8; ctx.beginPath();
  view.t.forEach((t, i) => i ? ctx.lineTo(X(t), Y(view.y[i])) : ctx.moveTo(X(t), Y(view.y[i]))); ctx.stroke(); ctx.restore();
  const tick = (t, colour, w, full) => { ctx.strokeStyle = colour; ctx.lineWidth = w; ctx.beginPath();
    ctx.moveTo(X(t), T); ctx.lineTo(X(t), full ? H - B : T + 16); ctx.stroke(); };
  for (const o of st.events) if (o.sweep === e.sweep && o.t >= view.a && o.t <= view.b)
    tick(o.t, o.label === 'accept' ? '#2ca02c' : o.label === 'reject' ? '#aaa' : '#d62728', 2, false);
  for (const o of st.added) if (o.sweep === e.sweep && o.t >= view.a && o.t <= view.b) tick(o.t, '#9467bd', 2, false);
  ctx.globalAlpha = 0.35; tick(e.t, e.label === 'accept' ? '#2ca02c' : e.label === 'reject' ? '#888' : '#d62728', 3, true);
  ctx.globalAlpha = 1; ctx.fillStyle = '#333';
  ctx.fillText(mx.toPrecision(4) + ' ' + s.unit, 2, T + 8); ctx.fillText(mn.toPrecision(4) + ' ' + s.unit, 2, H - B);
  ctx.fillText(view.a.toFixed(4) + ' s', L, H - 8); ctx.fillText(view.b.toFixed(4) + ' s', W - R - 80, H - 8);
  const lab = e.label === null ? 'not reviewed' : e.label === 'accept' ? 'accepted' : 'rejected';
  $('info').innerHTML = 'event <b>' + (cur + 1) + '</b> of ' + st.events.length + ' &middot; ' + s.name + ' &middot; ' +
    e.t.toFixed(4) + ' s &middot; amplitude ' + e.amp.toPrecision(3) + ' ' + s.unit + ' &middot; score ' +
    (e.score === null ? '-' : e.score.toFixed(3)) + ' &middot; <span class="lab-' + (e.label || 'none') + '">' + lab + '</span>';
  const c = {accept: 0, reject: 0, none: 0}; st.events.forEach(o => c[o.label || 'none']++);
  $('counts').textContent = c.accept + ' accepted, ' + c.reject + ' rejected, ' + c.none + ' not reviewed, ' +
    st.added.length + ' added';
  $('added').innerHTML = '';
  st.added.forEach((o, k) => { const li = document.createElement('li');
    li.textContent = st.sweeps[o.sweep].name + ' ' + o.t.toFixed(4) + ' s ';
    const b = document.createElement('button'); b.textContent = 'remove'; b.onclick = () => act('/api/remove', {k});
    li.appendChild(b); $('added').appendChild(li); });
  document.body.dataset.ready = '1'; document.body.dataset.cur = cur;
}
async function act(path, body) {
  if (busy) return; busy = true;
  try { await api(path, body); await refresh(); await load(); } catch (err) { $('status').textContent = err.message; }
  finally { busy = false; }
}
function go(k) { if (!st.events.length) return; cur = Math.max(0, Math.min(st.events.length - 1, k)); centre = null; load(); }
async function label(l, advance) {
  await act('/api/label', {i: ev().i, label: l}); if (advance && cur < st.events.length - 1) go(cur + 1);
}
async function save(quit) {
  $('status').textContent = 'saving...';
  try {
    const s = await api('/api/save', {});
    $('status').textContent = 'saved ' + s.output + ': ' + s.events_after + ' events (' + s.rejected + ' rejected, ' +
      s.added + ' added); ' + s.n_windows + ' labelled windows -> ' + (s.windows_written || 'none (nothing labelled)');
    await refresh(); if (cur >= st.events.length) cur = Math.max(0, st.events.length - 1); centre = null; await load();
    if (quit) { await api('/api/quit', {}); $('status').textContent += '\nThe review server has stopped; close this page.'; }
  } catch (err) { $('status').textContent = 'not saved: ' + err.message; }
}
function zoom(f) { if (centre === null) centre = ev().t; span = Math.max(0.002, Math.min(60, span * f)); load(); }
function pan(f) { centre = (centre === null ? ev().t : centre) + f * span; load(); }
cv.addEventListener('click', e => {
  if (!view) return; const x = e.offsetX * W / cv.clientWidth;
  const t = view.a + (x - L) / (W - L - R) * (view.b - view.a);
  if (t >= view.a && t <= view.b) act('/api/add', {sweep: ev().sweep, t});
});
document.addEventListener('keydown', e => {
  const k = e.key, map = {ArrowRight: () => go(cur + 1), n: () => go(cur + 1), ArrowLeft: () => go(cur - 1),
    p: () => go(cur - 1), a: () => label('accept', true), r: () => label('reject', true), u: () => label(null, false),
    '+': () => zoom(0.5), '=': () => zoom(0.5), '-': () => zoom(2), '[': () => pan(-0.25), ']': () => pan(0.25),
    s: () => save(false), y: () => { fullY = !fullY; draw(); }};
  if (map[k] && !e.ctrlKey && !e.metaKey) { e.preventDefault(); map[k](); }
});
$('prev').onclick = () => go(cur - 1); $('next').onclick = () => go(cur + 1);
$('accept').onclick = () => label('accept', true); $('reject').onclick = () => label('reject', true);
$('clear').onclick = () => label(null, false); $('zin').onclick = () => zoom(0.5); $('zout').onclick = () => zoom(2);
$('save').onclick = () => save(false); $('quit').onclick = () => save(true);
refresh().then(() => { $('file').textContent = st.file; $('out').textContent = st.output; $('win').textContent = st.windows;
  return load(); });
})();
</script></body></html>
"""


def review_page() -> str:
    """The review page's HTML (self-contained; it talks only to the server that sent it).

    Example
    -------
    >>> "nwbsyn events review" in review_page()
    True
    """
    return _PAGE
