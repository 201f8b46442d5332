// Plinth metric charts, drawn with uPlot (assets/vendor/uplot, MIT).
//
// Each `figure.metric-chart` names its series in `data-series` (one per run: the URL of the
// metric's chart.json, a label, a color). The server downsamples each history into step
// buckets (min, max, last), so a 1M-point metric costs a few hundred points here; a chart
// loads when it scrolls into view. What the page's chart controls choose applies to every
// chart: the x axis (step, wall time in UTC, time since the run's first point), a log
// scale, smoothing (an exponential moving average; the raw line stays, faded), and a step
// range (drag across a chart, or type it: that range is fetched again at full resolution).
// The legend under each chart shows the exact values under the pointer (the shortest text
// that reads back as the same double). Single points are drawn as markers; a metric every
// run logged once becomes a bar chart. Charts follow their card's width.
//
// The compare page's `#compare-plots` also gets a scatter plot (any param or metric
// against another) and a parallel-coordinates plot of the runs.
//
// For the browser tests every chart writes what it drew into data attributes of its
// figure: data-drawn (line|bars|empty), data-points, data-axis, data-scale, data-x-ticks.
// Served as a file: the CSP allows no inline scripts.
"use strict";

(() => {
  if (!window.uPlot || !window.fetch) {
    return;
  }
  const HEIGHT = 240;
  const view = { axis: "step", log: false, smoothing: 0, min: null, max: null };
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const color = (index) => css(`--s${index % 8}`) || "#3b6fd8";
  const finite = (value) => typeof value === "number" && Number.isFinite(value);

  // ---------- numbers and times ----------

  // A value as people scan it: 4 significant digits, scientific when very small or large.
  const short = (value) => {
    if (value === null || value === undefined) {
      return "—";
    }
    if (!finite(value)) {
      return Number.isNaN(value) ? "NaN" : value > 0 ? "∞" : "−∞";
    }
    const size = Math.abs(value);
    if (value !== 0 && (size < 1e-3 || size >= 1e6)) {
      return value.toExponential(3).replace(/\.?0+e/, "e");
    }
    return String(Number(value.toPrecision(4)));
  };
  // The exact value: JavaScript's shortest text that reads back as the same double.
  const exact = (value) => (value === null || value === undefined ? "—" : String(value));
  const pad = (number) => String(number).padStart(2, "0");
  const utc = (ms, withSeconds) => {
    const date = new Date(ms);
    const day = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
    const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
    return withSeconds ? `${day} ${time}:${pad(date.getUTCSeconds())}` : `${day} ${time}`;
  };
  const duration = (seconds) => {
    const sign = seconds < 0 ? "−" : "";
    let rest = Math.abs(Math.round(seconds));
    const h = Math.floor(rest / 3600);
    rest -= h * 3600;
    const m = Math.floor(rest / 60);
    const s = rest - m * 60;
    return h ? `${sign}${h}h ${pad(m)}m` : m ? `${sign}${m}m ${pad(s)}s` : `${sign}${s}s`;
  };

  // Tick increments: whole numbers only for steps (no "0 1 1 2 2"), seconds that read
  // well for relative time.
  const STEP_INCRS = [];
  for (let power = 1; power <= 1e15; power *= 10) {
    STEP_INCRS.push(power, 2 * power, 5 * power);
  }
  // Value increments from the smallest double's decades to the largest (uPlot's own stop
  // at 1e-16, which leaves a chart of -1.5e-300 without ticks).
  const VALUE_INCRS = [];
  for (let exponent = -320; exponent <= 305; exponent += 1) {
    for (const factor of [1, 2, 2.5, 5]) {
      VALUE_INCRS.push(Number(`${factor}e${exponent}`));
    }
  }
  const SECOND_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800, 2592000, 31536000];

  const xLabel = () => ({ step: "step", time: "time (UTC)", relative: "time since the first point" })[view.axis];
  const formatX = (value, incr) => {
    if (view.axis === "step") {
      return String(Math.round(value));
    }
    if (view.axis === "relative") {
      return duration(value);
    }
    if (incr >= 86400000) {
      return utc(value).slice(0, 10);
    }
    return incr < 60000 ? utc(value, true).slice(11) : utc(value).slice(11);
  };

  // ---------- one chart per metric ----------

  const charts = Array.from(document.querySelectorAll("figure.metric-chart[data-series]")).map((figure) => ({
    figure,
    key: figure.dataset.key,
    series: JSON.parse(figure.dataset.series),
    body: figure.querySelector(".chart-body"),
    answers: null,
    plot: null,
    visible: false,
  }));

  // The compare page names one URL for every chart's data (`data-bulk` on `#charts`):
  // all charts load in one request (per 200 metrics) instead of one per metric and run.
  const grid = document.getElementById("charts");
  const bulkUrl = grid && grid.dataset.bulk ? grid.dataset.bulk : null;
  let bulkPending = null;

  function chartQuery(width) {
    const points = Math.max(50, Math.min(1000, Math.round(width || 600)));
    const query = new URLSearchParams({ points: String(points) });
    if (view.min !== null) {
      query.set("min_step", String(view.min));
    }
    if (view.max !== null) {
      query.set("max_step", String(view.max));
    }
    return query;
  }

  function loadBulk() {
    if (bulkPending) {
      return bulkPending;
    }
    bulkPending = (async () => {
      const width = Math.max(0, ...charts.map((c) => c.body.clientWidth || 0));
      charts.forEach((c) => { c.figure.dataset.loading = "true"; });
      try {
        const answers = new Map();
        const keys = charts.map((c) => c.key);
        for (let i = 0; i < keys.length; i += 200) {
          const query = chartQuery(width);
          keys.slice(i, i + 200).forEach((key) => query.append("keys", key));
          const response = await fetch(`${bulkUrl}&${query}`, { credentials: "same-origin", cache: "no-store" });
          const body = await response.json().catch(() => ({}));
          if (!response.ok) {
            throw new Error(body.message || `HTTP ${response.status}`);
          }
          for (const answer of body.charts || []) {
            answers.set(`${answer.run_id}\u0000${answer.key}`, answer);
          }
        }
        charts.forEach((chart) => {
          chart.answers = chart.series.map((series) => answers.get(`${series.run}\u0000${chart.key}`) || { buckets: [] });
          draw(chart);
        });
      } catch (error) {
        charts.forEach((chart) => note(chart, `Could not load the chart: ${error.message}`, "callout bad chart-error"));
      } finally {
        charts.forEach((c) => { delete c.figure.dataset.loading; });
        bulkPending = null;
      }
    })();
    return bulkPending;
  }

  async function load(chart) {
    if (bulkUrl) {
      // Loaded with the others (a zoom clears the answers to load again).
      return chart.answers ? undefined : loadBulk();
    }
    const query = chartQuery(chart.body.clientWidth);
    chart.figure.dataset.loading = "true";
    try {
      chart.answers = await Promise.all(
        chart.series.map(async (series) => {
          const response = await fetch(`${series.url}?${query}`, { credentials: "same-origin", cache: "no-store" });
          const body = await response.json().catch(() => ({}));
          if (!response.ok) {
            throw new Error(body.message || `HTTP ${response.status}`);
          }
          return body;
        }),
      );
      draw(chart);
    } catch (error) {
      note(chart, `Could not load the chart: ${error.message}`, "callout bad chart-error");
    } finally {
      delete chart.figure.dataset.loading;
    }
  }

  function note(chart, text, className) {
    if (chart.plot) {
      chart.plot.destroy();
      chart.plot = null;
    }
    const p = document.createElement("p");
    p.className = className || "muted chart-empty";
    p.textContent = text;
    chart.body.replaceChildren(p);
    chart.figure.dataset.drawn = "empty";
  }

  // Debiased exponential moving average (as TensorBoard smooths), skipping gaps.
  function smooth(values, weight) {
    if (!weight) {
      return values;
    }
    let last = 0, count = 0;
    return values.map((value) => {
      if (!finite(value)) {
        return value;
      }
      last = last * weight + (1 - weight) * value;
      count += 1;
      return last / (1 - Math.pow(weight, count));
    });
  }

  // The points of one run's answer on the current axis: [[x…], [last…], [bucket…]],
  // sorted by x, with values a log scale cannot show left out.
  function pointsOf(answer) {
    const buckets = (answer.buckets || []).slice();
    const start = buckets.reduce((low, b) => Math.min(low, b.min_timestamp), Infinity);
    const x = (b) => (view.axis === "step" ? b.last_step
      : view.axis === "time" ? b.last_timestamp : (b.last_timestamp - start) / 1000);
    buckets.sort((a, b) => x(a) - x(b));
    let hidden = 0;
    const rows = [];
    for (const b of buckets) {
      let value = finite(b.last) ? b.last : null;
      if (view.log && value !== null && value <= 0) {
        value = null;
        hidden += 1;
      }
      // uPlot needs one value per x: the later bucket at an x wins.
      if (rows.length && rows[rows.length - 1][0] === x(b)) {
        rows.pop();
      }
      rows.push([x(b), value, b]);
    }
    return { xs: rows.map((r) => r[0]), ys: rows.map((r) => r[1]), buckets: rows.map((r) => r[2]), hidden };
  }

  function axisStyle() {
    return {
      stroke: css("--muted"),
      grid: { stroke: css("--line"), width: 1 },
      ticks: { stroke: css("--line"), width: 1 },
      font: `12px ${css("--font") || "sans-serif"}`,
      labelFont: `12px ${css("--font") || "sans-serif"}`,
    };
  }

  function size(chart) {
    return { width: Math.max(200, chart.body.clientWidth), height: HEIGHT };
  }

  function draw(chart) {
    if (!chart.answers) {
      return;
    }
    const runs = chart.answers.map(pointsOf);
    const hidden = runs.reduce((sum, run) => sum + run.hidden, 0);
    const finiteCount = runs.reduce((sum, run) => sum + run.ys.filter((v) => v !== null).length, 0);
    if (!finiteCount) {
      const ranged = view.min !== null || view.max !== null;
      note(chart, hidden ? "No positive values to draw on a log scale."
        : ranged ? "No points in this step range." : "No finite values to draw.");
      return;
    }
    const singles = runs.length > 1 && runs.every((run) => run.xs.length <= 1);
    if (singles) {
      drawBars(chart, runs);
    } else {
      drawLines(chart, runs);
    }
    chart.figure.dataset.points = String(runs.reduce((sum, run) => sum + run.xs.length, 0));
    chart.figure.dataset.hidden = String(hidden);
    const extra = chart.figure.querySelector(".chart-note");
    if (extra) {
      extra.textContent = hidden ? `${hidden} values ≤ 0 are left out on the log scale.` : "";
    }
  }

  function mount(chart, options, data) {
    if (chart.plot) {
      chart.plot.destroy();
    }
    chart.body.replaceChildren();
    options.hooks = options.hooks || {};
    (options.hooks.draw = options.hooks.draw || []).push((u) => {
      chart.figure.dataset.xTicks = JSON.stringify(u.axes[0]._values || []);
      chart.figure.dataset.ySplits = JSON.stringify(u.axes[1]._splits || []);
    });
    chart.plot = new uPlot(options, data, chart.body);
    // For the browser tests (which read the canvas where a point should be).
    chart.figure.plinthPlot = chart.plot;
    const over = chart.plot.root.querySelector(".u-over");
    over.setAttribute("role", "img");
    over.setAttribute("aria-label", `Chart of ${chart.key}: hover for exact values, drag to zoom`);
  }

  function drawLines(chart, runs) {
    const tables = runs.map((run) => [run.xs, run.ys]);
    const data = tables.length === 1 ? [tables[0][0], tables[0][1]] : uPlot.join(tables);
    const raw = data.slice(1);
    // Each run's bucket at each x of the joined data. (Where a run has no point at an x
    // another run has, uPlot.join leaves `undefined`, which the line bridges; a NaN is a
    // `null`, which breaks it.)
    const bucketAt = runs.map((run, index) => {
      const byX = new Map(run.xs.map((x, i) => [x, run.buckets[i]]));
      return data[0].map((x) => byX.get(x) || null);
    });
    const shown = raw.map((values) => smooth(values, view.smoothing));
    const few = (index) => runs[index].xs.length <= 40;
    const series = [{
      label: xLabel(),
      value: (u, x) => (x === null || x === undefined ? "—" : view.axis === "time" ? utc(x, true) + " UTC"
        : view.axis === "relative" ? duration(x) : `step ${x}`),
    }];
    chart.series.forEach((s, index) => {
      series.push({
        label: s.label,
        stroke: color(s.color),
        width: 1.6,
        points: { show: few(index), size: 7, fill: color(s.color) },
        value: (u, v, sidx, idx) => {
          if (idx === null || idx === undefined) {
            return "—";
          }
          const b = bucketAt[index][idx];
          const value = raw[index][idx];
          if (value === null || value === undefined) {
            return "—";
          }
          let text = exact(value);
          if (b && b.points > 1 && finite(b.min) && finite(b.max) && b.min !== b.max) {
            text += ` (${exact(b.min)} … ${exact(b.max)} over ${b.points} points)`;
          }
          if (view.smoothing) {
            text += `, smoothed ${short(v)}`;
          }
          return text;
        },
      });
    });
    const xs = data[0];
    const xRange = xs.length ? [xs[0], xs[xs.length - 1]] : [0, 1];
    if (xRange[0] === xRange[1]) {
      const pad = view.axis === "time" ? 1000 : 1;
      xRange[0] -= pad;
      xRange[1] += pad;
    }
    const options = {
      ...size(chart),
      ms: 1,
      scales: {
        // From the data (uPlot widens a single x to 0…100 on its own).
        x: { time: false, auto: false, min: xRange[0], max: xRange[1] },
        y: view.log ? { distr: 3, log: 10 } : {
          range: (u, low, high) => {
            if (low === high) {
              const padding = low === 0 ? 1 : Math.abs(low) * 0.1;
              return [low - padding, high + padding];
            }
            return uPlot.rangeNum(low, high, 0.05, true);
          },
        },
      },
      axes: [
        {
          ...axisStyle(),
          label: xLabel(),
          labelSize: 20,
          space: view.axis === "time" ? 90 : 60,
          incrs: view.axis === "step" ? STEP_INCRS : view.axis === "relative" ? SECOND_INCRS
            : SECOND_INCRS.map((s) => s * 1000),
          values: (u, splits, ai, space, incr) => splits.map((v) => formatX(v, incr)),
        },
        { ...axisStyle(), size: 64, incrs: view.log ? undefined : VALUE_INCRS, values: (u, splits) => splits.map(short) },
      ],
      series,
      cursor: { drag: { x: true, y: false, setScale: false }, sync: { key: "plinth-metrics" } },
      legend: { live: true },
      hooks: {
        setSelect: [(u) => {
          const width = u.select.width;
          if (width < 6) {
            return;
          }
          const low = u.posToVal(u.select.left, "x");
          const high = u.posToVal(u.select.left + width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          zoomTo(runs, low, high);
        }],
        // The raw line, faded, behind the smoothed one.
        drawSeries: [(u, sidx) => {
          if (!view.smoothing || sidx === 0) {
            return;
          }
          const values = raw[sidx - 1];
          const ctx = u.ctx;
          ctx.save();
          ctx.globalAlpha = 0.25;
          ctx.strokeStyle = color(chart.series[sidx - 1].color);
          ctx.lineWidth = 1;
          ctx.beginPath();
          let pen = false;
          values.forEach((value, i) => {
            if (value === null || value === undefined || (view.log && value <= 0)) {
              return;
            }
            const px = u.valToPos(xs[i], "x", true);
            const py = u.valToPos(value, "y", true);
            if (pen) {
              ctx.lineTo(px, py);
            } else {
              ctx.moveTo(px, py);
              pen = true;
            }
          });
          ctx.stroke();
          ctx.restore();
        }],
      },
    };
    mount(chart, options, [xs, ...shown]);
    chart.figure.dataset.drawn = "line";
    chart.figure.dataset.axis = view.axis;
    chart.figure.dataset.scale = view.log ? "log" : "linear";
  }

  // A metric every run logged once: one bar per run.
  function drawBars(chart, runs) {
    const xs = runs.map((run, index) => index);
    const series = [{ label: "run", value: (u, x) => (x === null ? "—" : chart.series[x] ? chart.series[x].label : "—") }];
    const data = [xs];
    chart.series.forEach((s, index) => {
      const value = runs[index].ys.length ? runs[index].ys[0] : null;
      data.push(xs.map((x) => (x === index ? value : null)));
      series.push({
        label: s.label,
        stroke: color(s.color),
        fill: color(s.color),
        width: 1,
        paths: uPlot.paths.bars({ size: [0.6, 80], align: 0 }),
        points: { show: false },
        value: (u, v) => (value === null ? "—" : exact(value)),
      });
    });
    const values = data.slice(1).flat().filter((v) => v !== null);
    const low = Math.min(0, ...values), high = Math.max(0, ...values);
    const options = {
      ...size(chart),
      scales: {
        x: { time: false, range: () => [-0.5, xs.length - 0.5] },
        y: view.log ? { distr: 3, log: 10 } : { range: () => uPlot.rangeNum(low, high === low ? low + 1 : high, 0.1, true) },
      },
      axes: [
        { ...axisStyle(), label: "run", labelSize: 20, incrs: [1], values: (u, splits) => splits.map((x) => {
          const s = chart.series[x];
          return s ? (s.label.length > 14 ? `${s.label.slice(0, 13)}…` : s.label) : "";
        }) },
        { ...axisStyle(), size: 64, values: (u, splits) => splits.map(short) },
      ],
      series,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
    };
    mount(chart, options, data);
    chart.figure.dataset.drawn = "bars";
    chart.figure.dataset.axis = "run";
    chart.figure.dataset.scale = view.log ? "log" : "linear";
  }

  // ---------- zoom, controls, loading on sight ----------

  const minInput = document.getElementById("min-step");
  const maxInput = document.getElementById("max-step");

  // A range on the current axis, as steps (a time range: the steps logged within it).
  function zoomTo(runs, low, high) {
    if (view.axis === "step") {
      zoom(Math.floor(low), Math.ceil(high));
      return;
    }
    const steps = [];
    runs.forEach((run) => run.xs.forEach((x, i) => {
      if (x >= low && x <= high) {
        steps.push(run.buckets[i].first_step, run.buckets[i].last_step);
      }
    }));
    if (steps.length) {
      zoom(Math.min(...steps), Math.max(...steps));
    }
  }

  function zoom(min, max) {
    view.min = min;
    view.max = max;
    if (minInput && maxInput) {
      minInput.value = min === null ? "" : String(min);
      maxInput.value = max === null ? "" : String(max);
    }
    charts.forEach((chart) => {
      chart.answers = null;
      if (chart.visible) {
        load(chart);
      }
    });
  }

  const controls = document.getElementById("chart-controls");
  if (controls) {
    controls.hidden = false;
    const smoothing = controls.querySelector("input[name=smoothing]");
    const smoothingOut = document.getElementById("smoothing-value");
    controls.addEventListener("input", (event) => {
      const target = event.target;
      if (target.name === "axis") {
        view.axis = target.value;
      } else if (target.name === "log") {
        view.log = target.checked;
      } else if (target.name === "smoothing") {
        view.smoothing = Math.min(0.99, Math.max(0, Number(target.value) / 100));
        if (smoothingOut) {
          smoothingOut.textContent = `${target.value}%`;
        }
      } else {
        return;
      }
      charts.forEach(draw);
    });
    if (smoothing && smoothingOut) {
      smoothingOut.textContent = `${smoothing.value}%`;
    }
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

  const resize = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const chart = charts.find((c) => c.body === entry.target);
      if (chart && chart.plot) {
        const next = size(chart);
        if (Math.abs(next.width - chart.plot.width) > 1) {
          chart.plot.setSize(next);
        }
      }
    }
  });
  const sight = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const chart = charts.find((c) => c.figure === entry.target);
      if (chart && entry.isIntersecting && !chart.visible) {
        chart.visible = true;
        load(chart);
      }
    }
  }, { rootMargin: "400px" });
  charts.forEach((chart) => {
    chart.body.replaceChildren();
    chart.figure.dataset.drawn = "pending";
    resize.observe(chart.body);
    sight.observe(chart.figure);
  });

  // ---------- the compare page: scatter and parallel coordinates ----------

  const plots = document.getElementById("compare-plots");
  if (!plots) {
    return;
  }
  plots.hidden = false;
  const runs = JSON.parse(plots.dataset.runs);
  // Every param and metric as a dimension; numeric when every value present is a number.
  const dimensions = [];
  for (const [kind, field] of [["metric", "metrics"], ["param", "params"]]) {
    const keys = new Set();
    runs.forEach((run) => Object.keys(run[field]).forEach((key) => keys.add(key)));
    for (const key of Array.from(keys).sort()) {
      const values = runs.map((run) => (key in run[field] ? run[field][key] : null));
      const numeric = values.every((v) => v === null || (v !== "" && finite(Number(v))));
      const categories = numeric ? [] : Array.from(new Set(values.filter((v) => v !== null).map(String))).sort();
      dimensions.push({
        id: `${kind}:${key}`,
        label: `${kind === "metric" ? "metric" : "param"} ${key}`,
        numeric,
        categories,
        values: values.map((v) => (v === null ? null : numeric ? Number(v) : categories.indexOf(String(v)))),
        text: values.map((v) => (v === null ? "—" : String(v))),
        differs: new Set(values.map(String)).size > 1,
      });
    }
  }
  const byId = (id) => dimensions.find((d) => d.id === id);
  const cut = (text, length) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);
  const xSelect = document.getElementById("scatter-x");
  const ySelect = document.getElementById("scatter-y");
  for (const select of [xSelect, ySelect]) {
    for (const d of dimensions) {
      const option = document.createElement("option");
      option.value = d.id;
      option.textContent = d.label;
      select.appendChild(option);
    }
  }
  const metricsFirst = dimensions.filter((d) => d.id.startsWith("metric:"));
  const paramsFirst = dimensions.filter((d) => d.id.startsWith("param:") && d.differs);
  if (dimensions.length) {
    xSelect.value = (paramsFirst.find((d) => d.numeric) || paramsFirst[0] || dimensions[0]).id;
    ySelect.value = (metricsFirst[0] || dimensions[Math.min(1, dimensions.length - 1)]).id;
  }

  const scatterBody = document.querySelector("#scatter .chart-body");
  let scatter = null;
  function drawScatter() {
    const dx = byId(xSelect.value), dy = byId(ySelect.value);
    if (scatter) {
      scatter.destroy();
      scatter = null;
    }
    scatterBody.replaceChildren();
    if (!dx || !dy) {
      return;
    }
    const present = runs.map((run, i) => i).filter((i) => dx.values[i] !== null && dy.values[i] !== null);
    const xs = Array.from(new Set(present.map((i) => dx.values[i]))).sort((a, b) => a - b);
    const data = [xs];
    const series = [{ label: dx.label, value: (u, x) => (x === null || x === undefined ? "—" : dx.numeric ? exact(x) : dx.categories[x]) }];
    runs.forEach((run, i) => {
      data.push(xs.map((x) => (present.includes(i) && dx.values[i] === x ? dy.values[i] : null)));
      series.push({
        label: run.name,
        stroke: color(run.color),
        fill: color(run.color),
        paths: () => null,
        points: { show: true, size: 10, fill: color(run.color) },
        value: () => (present.includes(i) ? `${dy.text[i]} at ${dx.text[i]}` : "—"),
      });
    });
    const categoryAxis = (d) => (u, splits) => splits.map((v) => (d.numeric ? short(v)
      : Number.isInteger(v) && d.categories[v] !== undefined ? cut(d.categories[v], 14) : ""));
    const options = {
      width: Math.max(200, scatterBody.clientWidth),
      height: 280,
      scales: {
        x: { time: false, range: (u, low, high) => (dx.numeric ? (low === high ? [low - 1, high + 1] : uPlot.rangeNum(low, high, 0.1, true)) : [-0.5, dx.categories.length - 0.5]) },
        y: { range: (u, low, high) => (dy.numeric ? (low === high ? [low - (Math.abs(low) || 1) * 0.1, high + (Math.abs(high) || 1) * 0.1] : uPlot.rangeNum(low, high, 0.1, true)) : [-0.5, dy.categories.length - 0.5]) },
      },
      axes: [
        { ...axisStyle(), label: dx.label, labelSize: 20, values: categoryAxis(dx), incrs: dx.numeric ? undefined : [1] },
        { ...axisStyle(), size: 80, label: dy.label, labelSize: 20, values: categoryAxis(dy), incrs: dy.numeric ? undefined : [1] },
      ],
      series,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
    };
    scatter = new uPlot(options, data, scatterBody);
    document.getElementById("scatter").dataset.points = String(present.length);
  }
  xSelect.addEventListener("change", drawScatter);
  ySelect.addEventListener("change", drawScatter);
  new ResizeObserver(() => {
    if (scatter && Math.abs(scatter.width - scatterBody.clientWidth) > 1) {
      scatter.setSize({ width: Math.max(200, scatterBody.clientWidth), height: 280 });
    }
  }).observe(scatterBody);
  drawScatter();

  // Parallel coordinates: one vertical axis per dimension (the differing params, then the
  // metrics, at most 10), one line per run; hover a line for the run.
  const NS = "http://www.w3.org/2000/svg";
  const svgEl = (name, attributes, parent) => {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attributes)) {
      node.setAttribute(key, value);
    }
    parent.appendChild(node);
    return node;
  };
  const parallel = document.querySelector("#parallel .chart-body");
  const chosen = paramsFirst.concat(metricsFirst).slice(0, 10);
  if (chosen.length < 2) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "Needs at least two params or metrics that differ between the runs.";
    parallel.replaceChildren(p);
    return;
  }
  function drawParallel() {
  const W = Math.max(300, parallel.clientWidth), H = 300, TOP = 36, BOTTOM = 40;
  const shownAxes = chosen.slice(0, Math.max(2, Math.floor(W / 90)));
  // Each axis in the middle of its own column, its labels cut to the column's width.
  const spacing = W / shownAxes.length;
  const labelChars = Math.max(5, Math.floor((spacing - 10) / 7));
  parallel.replaceChildren();
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "parallel-svg", role: "img",
    "aria-label": `Parallel coordinates of ${runs.length} runs over ${shownAxes.length} params and metrics` }, parallel);
  const axisX = (i) => spacing * (i + 0.5);
  const scales = shownAxes.map((d) => {
    const present = d.values.filter((v) => v !== null);
    let low = d.numeric ? Math.min(...present) : 0;
    let high = d.numeric ? Math.max(...present) : Math.max(1, d.categories.length - 1);
    if (low === high) {
      low -= 1;
      high += 1;
    }
    return (v) => TOP + (H - TOP - BOTTOM) * (1 - (v - low) / (high - low));
  });
  shownAxes.forEach((d, i) => {
    svgEl("line", { class: "axis-line", x1: axisX(i), x2: axisX(i), y1: TOP, y2: H - BOTTOM }, svg);
    const anchor = "middle";
    const name = svgEl("text", { class: "axis", x: axisX(i), y: 16, "text-anchor": anchor }, svg);
    name.textContent = cut(d.label, labelChars);
    svgEl("title", {}, name).textContent = d.label;
    const present = d.values.filter((v) => v !== null);
    const ends = d.numeric ? [Math.min(...present), Math.max(...present)] : [0, d.categories.length - 1];
    for (const value of new Set(ends)) {
      const label = svgEl("text", { class: "axis", x: axisX(i), y: value === ends[0] && ends[0] !== ends[1] ? H - BOTTOM + 16 : TOP - 6, "text-anchor": anchor }, svg);
      label.textContent = d.numeric ? short(value) : cut(d.categories[value], labelChars);
    }
  });
  runs.forEach((run, r) => {
    const points = shownAxes.map((d, i) => (d.values[r] === null ? null : `${axisX(i).toFixed(1)},${scales[i](d.values[r]).toFixed(1)}`));
    const line = svgEl("polyline", { class: `run-line stroke-${run.color % 8}`, points: points.filter((p) => p !== null).join(" ") }, svg);
    svgEl("title", {}, line).textContent = `${run.name}: ${shownAxes.map((d) => `${d.label} = ${d.text[r]}`).join(", ")}`;
  });
  }
  drawParallel();
  let parallelWidth = parallel.clientWidth;
  new ResizeObserver(() => {
    if (Math.abs(parallel.clientWidth - parallelWidth) > 1) {
      parallelWidth = parallel.clientWidth;
      drawParallel();
    }
  }).observe(parallel);
  document.getElementById("parallel").dataset.lines = String(runs.length);
})();
