// Plinth metric charts: replaces the server-drawn SVG of each `figure.metric-chart` with an
// interactive one. Each figure names its series in `data-series` (one per run: the URL of
// the metric's chart.json, a label, a color); the server downsamples each history into
// step buckets (min, max, last), so a 1M-point metric costs a few hundred points here.
// Hover shows the values; drag across a chart (or type a step range) to zoom, which
// fetches the range again at full resolution; the x axis is the step or the time.
// The pages work without this script (they show the server's charts). Served as a file:
// the CSP allows no inline scripts.
"use strict";

(() => {
  const figures = Array.from(document.querySelectorAll("figure.metric-chart[data-series]"));
  if (!figures.length || !window.fetch) {
    return;
  }
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 220, LEFT = 56, RIGHT = 12, TOP = 10, BOTTOM = 26;
  const view = { axis: "step", min: null, max: null };
  const controls = document.getElementById("chart-controls");

  const el = (name, attributes, parent) => {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attributes || {})) {
      node.setAttribute(key, value);
    }
    if (parent) {
      parent.appendChild(node);
    }
    return node;
  };
  const finite = (value) => typeof value === "number" && Number.isFinite(value);
  const formatValue = (value) => (finite(value) ? String(Number(value.toPrecision(6))) : "NaN");
  const formatX = (x, span) => {
    if (view.axis === "step") {
      return String(Math.round(x));
    }
    const date = new Date(x);
    return span > 86400000 ? date.toLocaleString() : date.toLocaleTimeString();
  };

  // Round tick positions from low to high, about `count` of them.
  const ticks = (low, high, count) => {
    const raw = (high - low) / count || 1;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= raw) || 10 * power;
    const out = [];
    for (let tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) {
      out.push(Number(tick.toPrecision(12)));
    }
    return out;
  };

  // The x of a bucket's last point, and of its first, on the current axis.
  const xLast = (b) => (view.axis === "step" ? b.last_step : b.last_timestamp);
  const xFirst = (b) => (view.axis === "step" ? b.first_step : b.min_timestamp);

  const charts = figures.map((figure) => ({
    figure,
    key: figure.dataset.key,
    series: JSON.parse(figure.dataset.series),
    body: figure.querySelector(".chart-body"),
    data: [],
  }));

  async function load(chart) {
    const points = Math.max(50, Math.min(1000, Math.round(chart.body.clientWidth || W)));
    const query = new URLSearchParams({ points: String(points) });
    if (view.min !== null) {
      query.set("min_step", String(view.min));
    }
    if (view.max !== null) {
      query.set("max_step", String(view.max));
    }
    try {
      chart.data = await Promise.all(
        chart.series.map(async (series) => {
          const response = await fetch(`${series.url}?${query}`, {
            credentials: "same-origin",
            cache: "no-store",
          });
          const body = await response.json().catch(() => ({}));
          if (!response.ok) {
            throw new Error(body.message || `HTTP ${response.status}`);
          }
          return body;
        }),
      );
      draw(chart);
    } catch (error) {
      const note = document.createElement("p");
      note.className = "callout bad chart-error";
      note.textContent = `Could not load the chart: ${error.message}`;
      chart.body.replaceChildren(note);
    }
  }

  function draw(chart) {
    const lines = chart.data.map((answer) => answer.buckets || []);
    const all = lines.flat();
    let xLow = Infinity, xHigh = -Infinity, yLow = Infinity, yHigh = -Infinity;
    for (const b of all) {
      xLow = Math.min(xLow, xFirst(b));
      xHigh = Math.max(xHigh, xLast(b));
      for (const v of [b.min, b.max, b.last]) {
        if (finite(v)) {
          yLow = Math.min(yLow, v);
          yHigh = Math.max(yHigh, v);
        }
      }
    }
    if (!(yLow <= yHigh)) {
      const note = document.createElement("p");
      note.className = "muted chart-empty";
      note.textContent = view.min === null && view.max === null
        ? "No finite values to draw."
        : "No points in this step range.";
      chart.body.replaceChildren(note);
      return;
    }
    if (xLow === xHigh) {
      xLow -= 1;
      xHigh += 1;
    }
    if (yLow === yHigh) {
      const pad = yLow === 0 ? 1 : Math.abs(yLow) * 0.1;
      yLow -= pad;
      yHigh += pad;
    }
    const x = (value) => LEFT + ((W - LEFT - RIGHT) * (value - xLow)) / (xHigh - xLow);
    const y = (value) => TOP + (H - TOP - BOTTOM) * (1 - (value - yLow) / (yHigh - yLow));
    const svg = el("svg", {
      class: "chart metric-svg js-chart",
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-label": `${chart.key} by ${view.axis}`,
      "data-points": String(all.length),
      "data-axis": view.axis,
    });
    for (const tick of ticks(yLow, yHigh, 4)) {
      el("line", { class: "grid", x1: LEFT, x2: W - RIGHT, y1: y(tick), y2: y(tick) }, svg);
      el("text", { class: "axis", x: LEFT - 6, y: y(tick) + 4, "text-anchor": "end" }, svg).textContent =
        formatValue(tick);
    }
    for (const tick of ticks(xLow, xHigh, view.axis === "step" ? 6 : 4)) {
      el("text", { class: "axis", x: x(tick), y: H - 8, "text-anchor": "middle" }, svg).textContent =
        formatX(tick, xHigh - xLow);
    }
    lines.forEach((buckets, index) => {
      const color = chart.series[index].color;
      const banded = buckets.filter((b) => finite(b.min) && finite(b.max) && b.max > b.min);
      if (banded.length) {
        const up = banded.map((b) => `${x(xLast(b)).toFixed(1)},${y(b.max).toFixed(1)}`);
        const down = banded.reverse().map((b) => `${x(xFirst(b)).toFixed(1)},${y(b.min).toFixed(1)}`);
        el("polygon", { class: `band series-${color}`, points: up.concat(down).join(" ") }, svg);
      }
      let d = "";
      let penDown = false;
      for (const b of buckets) {
        if (!finite(b.last)) {
          penDown = false;
          continue;
        }
        d += `${penDown ? "L" : "M"}${x(xLast(b)).toFixed(1)},${y(b.last).toFixed(1)} `;
        penDown = true;
      }
      el("path", { class: `line series-line stroke-${color}`, d: d.trim() }, svg);
    });
    el("line", { class: "axis-line", x1: LEFT, x2: W - RIGHT, y1: H - BOTTOM, y2: H - BOTTOM }, svg);

    // Hover and drag-to-zoom, on a transparent layer over the plot.
    const cursor = el("line", { class: "cursor", y1: TOP, y2: H - BOTTOM, visibility: "hidden" }, svg);
    const dots = chart.series.map((series) =>
      el("circle", { class: `dot series-${series.color}`, r: 3.5, visibility: "hidden" }, svg));
    const selection = el("rect", { class: "selection", y: TOP, height: H - TOP - BOTTOM, width: 0, visibility: "hidden" }, svg);
    const layer = el("rect", { x: LEFT, y: TOP, width: W - LEFT - RIGHT, height: H - TOP - BOTTOM, fill: "transparent" }, svg);
    const tip = document.createElement("div");
    tip.className = "chart-tip";
    tip.hidden = true;
    const toData = (event) => {
      const box = svg.getBoundingClientRect();
      const sx = ((event.clientX - box.left) / box.width) * W;
      return { sx: Math.max(LEFT, Math.min(W - RIGHT, sx)), value: xLow + ((sx - LEFT) / (W - LEFT - RIGHT)) * (xHigh - xLow) };
    };
    const nearest = (buckets, value) => {
      let best = null;
      for (const b of buckets) {
        if (!best || Math.abs(xLast(b) - value) < Math.abs(xLast(best) - value)) {
          best = b;
        }
      }
      return best;
    };
    let dragFrom = null;
    layer.addEventListener("pointermove", (event) => {
      const at = toData(event);
      cursor.setAttribute("x1", at.sx);
      cursor.setAttribute("x2", at.sx);
      cursor.setAttribute("visibility", "visible");
      tip.replaceChildren();
      let heading = null;
      lines.forEach((buckets, index) => {
        const b = nearest(buckets, at.value);
        if (!b) {
          dots[index].setAttribute("visibility", "hidden");
          return;
        }
        if (heading === null) {
          heading = view.axis === "step"
            ? (b.first_step === b.last_step ? `step ${b.last_step}` : `steps ${b.first_step}–${b.last_step}`)
            : new Date(b.last_timestamp).toLocaleString();
          const head = document.createElement("strong");
          head.textContent = heading;
          tip.appendChild(head);
        }
        const row = document.createElement("div");
        const spread = b.points > 1 && finite(b.min) && finite(b.max) && b.min !== b.max
          ? ` (${formatValue(b.min)} … ${formatValue(b.max)})` : "";
        row.textContent = `${chart.series[index].label}: ${formatValue(b.last)}${spread}`;
        tip.appendChild(row);
        if (finite(b.last)) {
          dots[index].setAttribute("cx", x(xLast(b)));
          dots[index].setAttribute("cy", y(b.last));
          dots[index].setAttribute("visibility", "visible");
        }
      });
      tip.hidden = heading === null;
      const box = svg.getBoundingClientRect();
      const left = ((at.sx / W) * box.width) + 12;
      tip.style.left = `${Math.min(left, box.width - 160)}px`;
      tip.style.top = "28px";
      if (dragFrom !== null) {
        selection.setAttribute("x", Math.min(dragFrom.sx, at.sx));
        selection.setAttribute("width", Math.abs(at.sx - dragFrom.sx));
        selection.setAttribute("visibility", "visible");
      }
    });
    layer.addEventListener("pointerleave", () => {
      cursor.setAttribute("visibility", "hidden");
      dots.forEach((dot) => dot.setAttribute("visibility", "hidden"));
      tip.hidden = true;
    });
    layer.addEventListener("pointerdown", (event) => {
      dragFrom = toData(event);
      layer.setPointerCapture(event.pointerId);
    });
    layer.addEventListener("pointerup", (event) => {
      const from = dragFrom;
      dragFrom = null;
      selection.setAttribute("visibility", "hidden");
      const to = toData(event);
      if (!from || Math.abs(to.sx - from.sx) < 6) {
        return;
      }
      const [low, high] = [Math.min(from.value, to.value), Math.max(from.value, to.value)];
      if (view.axis === "step") {
        zoom(Math.floor(low), Math.ceil(high));
        return;
      }
      // A time range: the steps of the buckets logged within it.
      const inside = all.filter((b) => b.last_timestamp >= low && b.min_timestamp <= high);
      if (inside.length) {
        zoom(Math.min(...inside.map((b) => b.first_step)), Math.max(...inside.map((b) => b.last_step)));
      }
    });
    chart.body.replaceChildren(svg, tip);
  }

  const minInput = document.getElementById("min-step");
  const maxInput = document.getElementById("max-step");
  function zoom(min, max) {
    view.min = min;
    view.max = max;
    if (minInput && maxInput) {
      minInput.value = min === null ? "" : String(min);
      maxInput.value = max === null ? "" : String(max);
    }
    charts.forEach(load);
  }

  if (controls) {
    controls.hidden = false;
    controls.addEventListener("change", (event) => {
      if (event.target.name === "axis") {
        view.axis = event.target.value;
        charts.forEach(draw);
      }
    });
    controls.addEventListener("submit", (event) => {
      event.preventDefault();
      const read = (input) => (input && input.value.trim() !== "" ? Math.round(Number(input.value)) : null);
      zoom(read(minInput), read(maxInput));
    });
    const reset = document.getElementById("zoom-reset");
    if (reset) {
      reset.addEventListener("click", () => zoom(null, null));
    }
  }
  charts.forEach(load);
})();
