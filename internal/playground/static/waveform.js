// audex playground: the waveform (a canvas of the API's peaks) and the clip
// selection on it. app.js owns the data and the form; this file only draws
// and turns pointer and keyboard input into times.
'use strict';

window.AudexWave = (() => {
  // drawPeaks paints a peaks answer ({from, to, min, max}, full scale ±1)
  // on canvas, whose width spans view.from to view.to seconds: each pixel
  // column shows the smallest and largest sample of the peaks columns it
  // covers. Returns how many pixel columns got paint.
  function drawPeaks(canvas, peaks, view, color) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, w, h);
    if (!peaks || !peaks.max || !peaks.max.length) return 0;
    const n = peaks.max.length;
    const span = (peaks.to - peaks.from) / n; // seconds per peaks column
    const per = (view.to - view.from) / w; // seconds per pixel
    g.fillStyle = color;
    let painted = 0;
    for (let x = 0; x < w; x++) {
      const t0 = view.from + x * per, t1 = t0 + per;
      let c0 = Math.floor((t0 - peaks.from) / span);
      let c1 = Math.ceil((t1 - peaks.from) / span);
      if (c1 <= 0 || c0 >= n) continue;
      c0 = Math.max(c0, 0);
      c1 = Math.min(Math.max(c1, c0 + 1), n);
      let lo = Infinity, hi = -Infinity;
      for (let c = c0; c < c1; c++) {
        if (peaks.min[c] < lo) lo = peaks.min[c];
        if (peaks.max[c] > hi) hi = peaks.max[c];
      }
      // At least one device pixel, so silence still shows where audio is.
      const top = Math.floor((1 - hi) / 2 * h);
      const bottom = Math.max(Math.ceil((1 - lo) / 2 * h), top + 1);
      g.fillRect(x, top, 1, bottom - top);
      painted++;
    }
    return painted;
  }

  // Selector draws a track's waveform in box (a canvas, a selection band
  // and two slider handles inside it) and lets a person choose the clip:
  // drag across the waveform for a new selection, drag a handle to move
  // one end, or focus a handle and use the arrow keys (Shift for larger
  // steps). onSelect(start, end) is called with every change made here;
  // setSelection is for changes made elsewhere (the form's fields).
  class Selector {
    constructor(box, onSelect) {
      this.box = box;
      this.canvas = box.querySelector('canvas');
      this.band = box.querySelector('.wave-sel');
      this.handles = { start: box.querySelector('.handle-start'), end: box.querySelector('.handle-end') };
      this.onSelect = onSelect;
      this.duration = 0;
      this.view = { from: 0, to: 1 };
      this.peaks = null;
      this.sel = { start: 0, end: 0 };
      this.drag = null;
      this.color = getComputedStyle(box).getPropertyValue('--wave') || '#0b63c4';

      box.addEventListener('pointerdown', (e) => this.down(e));
      box.addEventListener('pointermove', (e) => this.move(e));
      box.addEventListener('pointerup', (e) => this.up(e));
      box.addEventListener('pointercancel', (e) => this.up(e));
      for (const which of ['start', 'end']) {
        this.handles[which].addEventListener('keydown', (e) => this.key(which, e));
      }
      new ResizeObserver(() => this.render()).observe(box);
    }

    // columns is how many peaks columns fill the box at its current width.
    columns() {
      // Hidden (before the first waveform), the box would be as wide as
      // its card's content.
      const w = this.box.clientWidth || this.box.closest('section').clientWidth - 34;
      return Math.max(16, Math.min(4096, Math.round(w * (window.devicePixelRatio || 1))));
    }

    setData(duration, peaks, view) {
      this.duration = duration;
      this.peaks = peaks;
      this.view = view || { from: 0, to: duration };
      this.render();
    }

    setSelection(start, end) {
      this.sel = { start, end };
      this.place();
    }

    // secondsPerPixel is one pixel's worth of time in the current view.
    secondsPerPixel() {
      return (this.view.to - this.view.from) / Math.max(1, this.box.clientWidth);
    }

    timeAt(clientX) {
      const r = this.box.getBoundingClientRect();
      const f = Math.min(Math.max((clientX - r.left) / r.width, 0), 1);
      const t = this.view.from + f * (this.view.to - this.view.from);
      return Math.min(Math.max(t, 0), this.duration);
    }

    down(e) {
      if (e.button !== 0 || !this.duration) return;
      e.preventDefault();
      this.box.setPointerCapture(e.pointerId);
      const t = this.timeAt(e.clientX);
      if (e.target === this.handles.start) this.drag = { end: 'start' };
      else if (e.target === this.handles.end) this.drag = { end: 'end' };
      else this.drag = { anchor: t, before: { ...this.sel } };
      (this.drag.end ? this.handles[this.drag.end] : this.handles.start).focus({ preventScroll: true });
      this.move(e);
    }

    move(e) {
      if (!this.drag) return;
      const t = this.timeAt(e.clientX);
      let { start, end } = this.sel;
      if (this.drag.anchor !== undefined) {
        start = Math.min(this.drag.anchor, t);
        end = Math.max(this.drag.anchor, t);
      } else if (this.drag.end === 'start') {
        start = Math.min(t, end);
      } else {
        end = Math.max(t, start);
      }
      this.change(start, end);
    }

    up(e) {
      if (!this.drag) return;
      this.move(e);
      const { anchor, before } = this.drag;
      this.drag = null;
      if (anchor !== undefined && this.sel.end - this.sel.start < this.secondsPerPixel()) {
        // A click, not a drag: the clip starts there and keeps its length.
        const len = Math.max(before.end - before.start, 0);
        this.change(this.sel.start, Math.min(this.sel.start + len, this.duration));
      }
    }

    key(which, e) {
      const px = this.secondsPerPixel();
      const step = Math.max(0.001, e.shiftKey ? 50 * px : px);
      let d = 0;
      switch (e.key) {
        case 'ArrowLeft': case 'ArrowDown': d = -step; break;
        case 'ArrowRight': case 'ArrowUp': d = step; break;
        case 'PageDown': d = -10 * step; break;
        case 'PageUp': d = 10 * step; break;
        case 'Home': d = -Infinity; break;
        case 'End': d = Infinity; break;
        default: return;
      }
      e.preventDefault();
      let { start, end } = this.sel;
      if (which === 'start') start = Math.min(Math.max(start + d, 0), end);
      else end = Math.max(Math.min(end + d, this.duration), start);
      this.change(start, end);
    }

    change(start, end) {
      // Times to the millisecond: what the form's fields hold.
      start = Math.round(start * 1000) / 1000;
      end = Math.round(end * 1000) / 1000;
      this.sel = { start, end };
      this.place();
      this.onSelect(start, end);
    }

    render() {
      // What is drawn, for tests and tools: the view and the paint.
      this.box.dataset.from = this.view.from;
      this.box.dataset.to = this.view.to;
      this.box.dataset.painted = drawPeaks(this.canvas, this.peaks, this.view, this.color);
      this.place();
    }

    // place puts the band and the handles where the selection is.
    place() {
      const { from, to } = this.view;
      const pct = (t) => ((t - from) / (to - from)) * 100;
      const a = Math.min(Math.max(pct(this.sel.start), 0), 100);
      const b = Math.min(Math.max(pct(this.sel.end), 0), 100);
      this.band.style.left = a + '%';
      this.band.style.width = Math.max(b - a, 0) + '%';
      for (const [which, t, p] of [['start', this.sel.start, pct(this.sel.start)], ['end', this.sel.end, pct(this.sel.end)]]) {
        const h = this.handles[which];
        h.style.left = Math.min(Math.max(p, 0), 100) + '%';
        h.classList.toggle('off', p < 0 || p > 100);
        h.setAttribute('aria-valuemin', '0');
        h.setAttribute('aria-valuemax', String(this.duration));
        h.setAttribute('aria-valuenow', String(t));
        h.setAttribute('aria-valuetext', t.toFixed(3) + ' seconds');
      }
    }
  }

  return { drawPeaks, Selector };
})();
