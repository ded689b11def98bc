"""Interactive parts of the events page, inside the self-contained HTML: a trace viewer and an event gallery.

The data travel in the page as base64 int16 arrays (each with its own offset and scale):
every sweep as a min/max envelope at up to 4 kHz (zoom and pan, detections and the score
trace drawn), every event as a short snippet with its onset, baseline and amplitude. Plain
JavaScript on canvases; nothing is fetched.
"""

from __future__ import annotations

import base64
import json

import numpy as np

__all__ = ["trace_viewer_html", "gallery_html", "robust_range", "sweep_envelope", "envelope_bin"]

_MAX_ENVELOPE_PAIRS = 2_500_000  # over all sweeps (~10 MB of page at most)
_MAX_GALLERY_EVENTS = 6000


def _pack(values: np.ndarray) -> dict:
    """Quantise to int16 with an offset and a scale; NaN becomes the lowest code."""
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scale = (hi - lo) / 65000.0 or 1.0
    q = np.where(np.isfinite(v), np.round((v - lo) / scale) - 32500, -32768).astype("<i2")
    return {"b": base64.b64encode(q.tobytes()).decode("ascii"), "lo": lo, "s": scale}


def robust_range(y: np.ndarray) -> tuple[float, float]:
    """A y-range set by the bulk of the values (the 0.05-99.95 % percentiles, padded)."""
    keep = y[np.isfinite(y)]
    if not keep.size:
        return -1.0, 1.0
    lo, hi = np.percentile(keep, [0.05, 99.95])
    pad = 0.08 * (hi - lo or 1.0)
    return float(lo - pad), float(hi + pad)



def _envelope(y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = -(-y.size // k)
    padded = np.pad(y, (0, n * k - y.size), mode="edge").reshape(n, k)
    return padded.min(axis=1), padded.max(axis=1)


def envelope_bin(rate_hz: float, n_samples_total: int) -> int:
    """Samples per min/max bin: at most 4 kHz of bins, and the whole page within its budget."""
    return max(1, int(np.ceil(rate_hz / 4000.0)), int(np.ceil(n_samples_total / _MAX_ENVELOPE_PAIRS)))


def sweep_envelope(data, *, k: int, gain: float, rate_hz: float, chunk: int = 1 << 20) -> dict:
    """Min/max per ``k`` samples of a (lazy) dataset read block by block, with a robust y-range
    that neither capacitive transients nor stimulus artefacts set."""
    block = max(k, (chunk // k) * k)
    lows, highs = [], []
    for a in range(0, len(data), block):
        lo, hi = _envelope(np.asarray(data[a:a + block], dtype=float) * gain, k)
        lows.append(lo)
        highs.append(hi)
    lo, hi = (np.concatenate(lows), np.concatenate(highs)) if lows else (np.zeros(1), np.zeros(1))
    spread = np.maximum(hi, np.r_[hi[:1], hi[:-1]]) - np.minimum(lo, np.r_[lo[:1], lo[:-1]])
    wild = spread > 20 * np.median(spread) + 1e-30  # a jump far beyond the noise within two bins
    width = max(1, int(round(0.03 * rate_hz / k)))  # +-15 ms around each jump
    grow = np.convolve(wild.astype(float), np.ones(width), mode="same") > 0
    both = np.concatenate([lo[~grow], hi[~grow]]) if (~grow).sum() > 10 else np.concatenate([lo, hi])
    return {"lo": lo, "hi": hi, "y": robust_range(both)}


def trace_viewer_html(viewer_id: str, sweeps: list[dict]) -> str:
    """A canvas viewer of every sweep. Each sweep: name, t0_s, dt_s (bin width), unit, lo/hi and y
    (from :func:`sweep_envelope`), onsets_s, scores (max per bin, or None), threshold, and optionally
    excluded: (start_s, stop_s, reason) windows on the session clock, drawn shaded with their reason."""
    payload = []
    for s in sweeps:
        entry = {"name": s["name"], "t0": float(s["t0_s"]), "dt": float(s["dt_s"]), "unit": s["unit"],
                 "lo": _pack(s["lo"]), "hi": _pack(s["hi"]), "y": list(s["y"]),
                 "ev": [round(float(t), 6) for t in np.sort(s["onsets_s"])], "thr": s.get("threshold"),
                 "ex": [[round(float(a), 6), round(float(b), 6), str(why)] for a, b, why in s.get("excluded", [])]}
        if s.get("scores") is not None:
            entry["sc"] = _pack(s["scores"])
        payload.append(entry)
    data = json.dumps(payload).replace("</", "<\\/")
    return (f'<div class="viewer" id="{viewer_id}"><div class="vbar"><button data-a="prev">&larr; sweep</button>'
            f'<select></select><button data-a="next">sweep &rarr;</button><button data-a="reset">whole sweep'
            f'</button><button data-a="fity">fit y to view</button><span class="vinfo"></span></div>'
            f'<canvas width="1100" height="360"></canvas><p class="note">Wheel: zoom in time around the cursor '
            f'(shift+wheel: amplitude); drag: pan; double-click: whole sweep; keys &larr;/&rarr; pan, '
            f'PgUp/PgDn change sweep. Red ticks: detected onsets; blue: detector score (dashed: threshold); '
            f'grey bands: excluded windows (not analysed, with their reason). The amplitude axis is set by the bulk of the trace, not by capacitive transients.</p>'
            f'<script type="application/json">{data}</script></div>')


def gallery_html(gallery_id: str, events: list[dict], *, unit: str) -> str:
    """A paged gallery of events. Each event: label, t_ms (snippet time axis, 0 = onset), y (display
    units), baseline, amplitude, peak_ms, method (how the amplitude was read, may be '')."""
    shown = events[:_MAX_GALLERY_EVENTS]
    payload = {"unit": unit, "ev": [{"l": e["label"], "t0": float(e["t_ms"][0]), "dt": float(e["t_ms"][1] - e["t_ms"][0]),
                                     "y": _pack(e["y"]), "b": float(e["baseline"]), "a": float(e["amplitude"]),
                                     "p": float(e["peak_ms"]), "m": e.get("method", "")} for e in shown]}
    more = (f" The first {_MAX_GALLERY_EVENTS} of {len(events)} events are shown."
            if len(events) > _MAX_GALLERY_EVENTS else "")
    data = json.dumps(payload).replace("</", "<\\/")
    return (f'<div class="gallery" id="{gallery_id}"><div class="vbar"><button data-a="prev">&larr; page</button>'
            f'<span class="vinfo"></span><button data-a="next">page &rarr;</button></div><div class="cells"></div>'
            f'<p class="note">Every event, 24 per page, each on its own scale: grey dotted line at the onset, blue '
            f'the baseline, red the amplitude as reported (from the baseline to the reported peak).{more}</p>'
            f'<script type="application/json">{data}</script></div>')


VIEWER_CSS = """
.viewer canvas, .gallery canvas { border: 1px solid #ddd; background: #fff; max-width: 100%; }
.vbar { margin: 6px 0; } .vbar button, .vbar select { margin-right: 6px; }
.vinfo { color: #555; font-size: 0.9em; margin: 0 8px; }
.cells { display: grid; grid-template-columns: repeat(6, 1fr); gap: 4px; }
.cells div { font-size: 0.72em; color: #555; }
"""

VIEWER_JS = r"""
(function () {
function unpack(p) {
  const raw = atob(p.b), u8 = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) u8[i] = raw.charCodeAt(i);
  const q = new Int16Array(u8.buffer), out = new Float64Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i] === -32768 ? NaN : p.lo + (q[i] + 32500) * p.s;
  return out;
}
function viewer(root) {
  const sweeps = JSON.parse(root.querySelector('script').textContent);
  const cv = root.querySelector('canvas'), ctx = cv.getContext('2d'), sel = root.querySelector('select');
  const info = root.querySelector('.vinfo');
  sweeps.forEach((s, i) => { const o = document.createElement('option'); o.value = i; o.textContent = s.name; sel.appendChild(o); });
  let cur = 0, lo, hi, sc, x0, x1, y0, y1, drag = null;
  const W = cv.width, H = cv.height, L = 60, R = 10, T = 10, SH = 70, B = 26, TH = H - SH - B - T - 8;
  function load(i) {
    cur = (i + sweeps.length) % sweeps.length; sel.value = cur; const s = sweeps[cur];
    lo = unpack(s.lo); hi = unpack(s.hi); sc = s.sc ? unpack(s.sc) : null;
    x0 = s.t0; x1 = s.t0 + lo.length * s.dt; y0 = s.y[0]; y1 = s.y[1]; draw();
  }
  function fity() {
    const s = sweeps[cur], a = Math.max(0, Math.floor((x0 - s.t0) / s.dt)), b = Math.min(lo.length, Math.ceil((x1 - s.t0) / s.dt));
    let mn = Infinity, mx = -Infinity;
    for (let i = a; i < b; i++) { if (lo[i] < mn) mn = lo[i]; if (hi[i] > mx) mx = hi[i]; }
    if (mx > mn) { const p = 0.06 * (mx - mn); y0 = mn - p; y1 = mx + p; } draw();
  }
  const X = t => L + (t - x0) / (x1 - x0) * (W - L - R), Y = v => T + (y1 - v) / (y1 - y0) * TH;
  function draw() {
    const s = sweeps[cur]; ctx.clearRect(0, 0, W, H); ctx.font = '11px sans-serif'; ctx.fillStyle = '#333';
    ctx.save(); ctx.beginPath(); ctx.rect(L, T, W - L - R, TH); ctx.clip();
    const a = Math.max(0, Math.floor((x0 - s.t0) / s.dt)), b = Math.min(lo.length, Math.ceil((x1 - s.t0) / s.dt));
    const step = Math.max(1, Math.floor((b - a) / (2 * (W - L - R))));
    let nx = 0;
    for (const w of (s.ex || [])) {
      if (w[1] < x0 || w[0] > x1) continue; nx++;
      const xa = Math.max(L, X(w[0])), xb = Math.min(W - R, X(w[1]));
      ctx.fillStyle = 'rgba(150,150,150,0.25)'; ctx.fillRect(xa, T, Math.max(1, xb - xa), TH);
      if (xb - xa > 40) { ctx.fillStyle = '#777'; ctx.fillText(w[2], xa + 2, T + TH - 4); }
    }
    ctx.fillStyle = '#333'; ctx.strokeStyle = '#444'; ctx.lineWidth = 0.8; ctx.beginPath();
    for (let i = a; i < b; i += step) {
      let mn = lo[i], mx = hi[i];
      for (let j = i + 1; j < Math.min(b, i + step); j++) { if (lo[j] < mn) mn = lo[j]; if (hi[j] > mx) mx = hi[j]; }
      const x = X(s.t0 + i * s.dt); ctx.moveTo(x, Y(mn)); ctx.lineTo(x, Y(mx) - 0.5);
    }
    ctx.stroke(); ctx.strokeStyle = '#d62728'; ctx.beginPath();
    let n = 0;
    for (const t of s.ev) { if (t < x0 || t > x1) continue; n++; const x = X(t); ctx.moveTo(x, T); ctx.lineTo(x, T + 10); }
    ctx.stroke(); ctx.restore();
    const st = T + TH + 8; ctx.strokeStyle = '#ccc'; ctx.strokeRect(L, st, W - L - R, SH);
    if (sc) {
      ctx.strokeStyle = '#1f77b4'; ctx.beginPath();
      for (let i = a; i < b; i += step) { const x = X(s.t0 + i * s.dt), y = st + SH - sc[i] * SH; i === a ? ctx.moveTo(x, y) : ctx.lineTo(x, y); }
      ctx.stroke();
      if (s.thr !== null) { ctx.setLineDash([4, 3]); ctx.strokeStyle = '#888'; ctx.beginPath(); ctx.moveTo(L, st + SH - s.thr * SH); ctx.lineTo(W - R, st + SH - s.thr * SH); ctx.stroke(); ctx.setLineDash([]); }
    }
    ctx.fillText(y1.toPrecision(3) + ' ' + s.unit, 2, T + 10); ctx.fillText(y0.toPrecision(3), 2, T + TH);
    ctx.fillText('score', 2, st + SH / 2); ctx.fillText(x0.toFixed(3) + ' s', L, H - 6);
    ctx.fillText(x1.toFixed(3) + ' s', W - R - 70, H - 6);
    info.textContent = s.name + ': ' + (x1 - x0).toPrecision(3) + ' s shown, ' + n + ' of ' + s.ev.length + ' events in view' +
      ((s.ex || []).length ? ', ' + nx + ' of ' + s.ex.length + ' excluded windows' : '');
  }
  const tAt = e => x0 + (e.offsetX * W / cv.clientWidth - L) / (W - L - R) * (x1 - x0);
  cv.addEventListener('wheel', e => {
    e.preventDefault(); const f = e.deltaY > 0 ? 1.25 : 0.8;
    if (e.shiftKey) { const m = (y0 + y1) / 2; y0 = m + (y0 - m) * f; y1 = m + (y1 - m) * f; }
    else { const t = tAt(e); x0 = t + (x0 - t) * f; x1 = t + (x1 - t) * f; }
    draw();
  });
  cv.addEventListener('mousedown', e => { drag = {x: e.offsetX, a: x0, b: x1}; });
  window.addEventListener('mouseup', () => { drag = null; });
  cv.addEventListener('mousemove', e => {
    if (!drag) return; const d = (e.offsetX - drag.x) * W / cv.clientWidth / (W - L - R) * (drag.b - drag.a);
    x0 = drag.a - d; x1 = drag.b - d; draw();
  });
  cv.addEventListener('dblclick', () => load(cur));
  cv.tabIndex = 0;
  cv.addEventListener('keydown', e => {
    const w = x1 - x0;
    if (e.key === 'ArrowLeft') { x0 -= w / 4; x1 -= w / 4; draw(); }
    else if (e.key === 'ArrowRight') { x0 += w / 4; x1 += w / 4; draw(); }
    else if (e.key === 'PageDown') load(cur + 1); else if (e.key === 'PageUp') load(cur - 1); else return;
    e.preventDefault();
  });
  root.querySelector('[data-a=prev]').onclick = () => load(cur - 1);
  root.querySelector('[data-a=next]').onclick = () => load(cur + 1);
  root.querySelector('[data-a=reset]').onclick = () => load(cur);
  root.querySelector('[data-a=fity]').onclick = fity;
  sel.onchange = () => load(+sel.value);
  load(0);
}
function gallery(root) {
  const g = JSON.parse(root.querySelector('script').textContent), cells = root.querySelector('.cells');
  const info = root.querySelector('.vinfo'), per = 24, pages = Math.max(1, Math.ceil(g.ev.length / per));
  let page = 0;
  function cell(e) {
    const div = document.createElement('div'), cv = document.createElement('canvas');
    cv.width = 180; cv.height = 110; div.appendChild(cv);
    div.appendChild(document.createTextNode(e.l + ': ' + e.a.toPrecision(3) + ' ' + g.unit + (e.m ? ' (' + e.m + ')' : '')));
    const y = unpack(e.y), ctx = cv.getContext('2d');
    let mn = Math.min(e.b, e.b + e.a), mx = Math.max(e.b, e.b + e.a);
    for (const v of y) { if (v < mn) mn = v; if (v > mx) mx = v; }
    const p = 0.08 * (mx - mn || 1), Y = v => 4 + (mx + p - v) / (mx - mn + 2 * p) * 100;
    const t1 = e.t0 + e.dt * (y.length - 1), X = t => 2 + (t - e.t0) / (t1 - e.t0) * 176;
    ctx.strokeStyle = '#444'; ctx.beginPath(); y.forEach((v, i) => i ? ctx.lineTo(X(e.t0 + i * e.dt), Y(v)) : ctx.moveTo(X(e.t0), Y(v))); ctx.stroke();
    ctx.strokeStyle = '#1f77b4'; ctx.beginPath(); ctx.moveTo(X(e.t0), Y(e.b)); ctx.lineTo(X(t1), Y(e.b)); ctx.stroke();
    ctx.strokeStyle = '#d62728'; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(X(e.p), Y(e.b)); ctx.lineTo(X(e.p), Y(e.b + e.a)); ctx.stroke();
    ctx.lineWidth = 1; ctx.setLineDash([2, 2]); ctx.strokeStyle = '#888'; ctx.beginPath(); ctx.moveTo(X(0), 0); ctx.lineTo(X(0), 110); ctx.stroke();
    return div;
  }
  function show(k) {
    page = (k + pages) % pages; cells.innerHTML = '';
    g.ev.slice(page * per, (page + 1) * per).forEach(e => cells.appendChild(cell(e)));
    info.textContent = 'page ' + (page + 1) + ' of ' + pages + ' (' + g.ev.length + ' events)';
  }
  root.querySelector('[data-a=prev]').onclick = () => show(page - 1);
  root.querySelector('[data-a=next]').onclick = () => show(page + 1);
  show(0);
}
function pages(root) {
  const all = root.querySelectorAll(':scope > .page'), info = root.querySelector('.vinfo');
  if (!info) return;
  let page = 0;
  function show(k) {
    page = (k + all.length) % all.length;
    all.forEach((p, i) => { p.style.display = i === page ? '' : 'none'; });
    info.textContent = 'page ' + (page + 1) + ' of ' + all.length;
  }
  root.querySelector('[data-a=prev]').onclick = () => show(page - 1);
  root.querySelector('[data-a=next]').onclick = () => show(page + 1);
  show(0);
}
document.querySelectorAll('.pages').forEach(pages);
document.querySelectorAll('.viewer').forEach(viewer);
document.querySelectorAll('.gallery').forEach(gallery);
})();
"""
