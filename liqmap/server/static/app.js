// The dashboard page: reads the selectors, asks the JSON API, draws the plotly figures the server builds.
"use strict";

const $ = (id) => document.getElementById(id);
const usd = (x) => {
  const a = Math.abs(x);
  for (const [unit, scale] of [["B", 1e9], ["M", 1e6], ["k", 1e3]]) {
    if (a >= scale) return (x < 0 ? "-$" : "$") + (a / scale).toPrecision(3) + unit;
  }
  return (x < 0 ? "-$" : "$") + a.toFixed(0);
};
const price = (x, decimals) => x.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
const PLOT_CONFIG = { responsive: true, displaylogo: false };
const TABLE_ROWS = 10; // the map ranks its clusters; the page lists the first ones

function query(extra = {}) {
  const params = new URLSearchParams({
    symbol: $("symbol").value.trim(), view: $("view").value, window: $("window").value, palette: $("palette").value,
    ...asOfQuery(), ...extra,
  });
  return params.toString();
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function age(seconds) {
  const minutes = Math.floor(seconds / 60), days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
  if (days) return `${days}d ${hours}h`;
  if (hours) return `${hours}h ${String(mins).padStart(2, "0")}m`;
  return `${mins}m`;
}

function showFreshness(summary) {
  const asOf = summary.as_of.replace("T", " ").replace("Z", " UTC");
  $("asof").textContent = `${summary.symbol} · ${summary.view} view · as of ${asOf} · price ${price(summary.price, 1)} · age ${age(summary.age_s)}`;
  $("stale").hidden = !summary.stale;
  $("stale").textContent = summary.stale ? "STALE: the map is older than its freshness limit" : "";
}

function clusterDecimals(clusters) {
  const widths = clusters.map((c) => c.price_high - c.price_low).filter((w) => w > 0);
  const step = widths.length ? Math.min(...widths) : 1;
  return Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
}

function fillClusters(summary, colors) {
  const body = $("clusters").querySelector("tbody");
  body.replaceChildren();
  const decimals = clusterDecimals(summary.clusters);
  const shown = summary.clusters.slice(0, TABLE_ROWS);
  $("cluster-count").textContent = shown.length < summary.clusters.length ? `(${shown.length} of ${summary.clusters.length})` : "";
  for (const c of shown) {
    const row = document.createElement("tr");
    row.dataset.clusterId = c.id;
    row.className = c.band;
    const cells = [
      [`#${c.id}`, "text"],
      [`${price(c.price_low, decimals)} – ${price(c.price_high, decimals)}`, "text"],
      [price(c.peak, decimals), ""], [c.z.toFixed(2), ""], [c.band, "text band"], [usd(c.notional), ""],
      [usd(c.long), ""], [usd(c.short), ""],
      [(c.distance_pct > 0 ? "+" : "") + c.distance_pct.toFixed(2), c.distance_pct > 0 ? "above" : "below"],
      [c.distance_atr == null ? "–" : c.distance_atr.toFixed(2), ""], [c.reach, "text"],
    ];
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      td.className = cls;
      row.appendChild(td);
    }
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colors[c.id] || "#999";
    row.firstChild.prepend(swatch);
    body.appendChild(row);
  }
  if (!summary.clusters.length) {
    const row = body.insertRow();
    const td = row.insertCell();
    td.colSpan = 11;
    td.className = "text";
    td.textContent = "no cluster stands out in this view (every bin has Z < 1)";
  }
}

function clusterColors(figure) {
  const colors = {};
  for (const trace of figure.data) {
    const match = /^cluster #(\d+)$/.exec(trace.name || "");
    if (match) colors[match[1]] = trace.marker.color;
  }
  return colors;
}

let generation = 0;
let drawnLayout = null; // the layout of the LiqMap on screen ("map" or "profile")

function heatmapStatus(text) {
  $("heatmap-status").textContent = text;
  $("heatmap-status").hidden = !text;
}

function clearCharts() {
  // after a failed request nothing of the previous symbol may stay on screen
  Plotly.purge("liqmap");
  drawnLayout = null;
  Plotly.purge("heatmap");
  $("clusters").querySelector("tbody").replaceChildren();
  $("cluster-count").textContent = "";
  $("stale").hidden = true;
}

async function load(refresh = false) {
  const mine = ++generation;
  // tells observers (and the browser test) what is on screen: cleared until the new map is drawn
  delete document.body.dataset.mapView;
  delete document.body.dataset.mapLayout;
  document.body.dataset.heatmapReady = "no";
  $("refresh").disabled = true;
  showError("");
  $("asof").textContent = "loading…";
  heatmapStatus("loading heatmap…");
  try {
    const figure = await getJSON(`/api/figure/map?${query({ layout: $("layout").value, ...(refresh ? { refresh: "true" } : {}) })}`);
    const summary = await getJSON(`/api/clusters?${query()}`);
    if (mine !== generation) return;
    // a new layout changes the axes' kinds: start from a clean plot rather than morph the old one
    if (figure.layout.meta.layout !== drawnLayout) Plotly.purge("liqmap");
    drawnLayout = figure.layout.meta.layout;
    await Plotly.react("liqmap", figure.data, figure.layout, PLOT_CONFIG);
    fillClusters(summary, clusterColors(figure));
    showFreshness(summary);
    document.body.dataset.mapLayout = figure.layout.meta.layout;
    document.body.dataset.mapView = summary.view;
    follow();
  } catch (err) {
    if (mine === generation) {
      clearCharts();
      showError(err.message);
      $("asof").textContent = "no map";
      heatmapStatus("");
      $("refresh").disabled = false;
      follow();  // a live symbol's pushed maps may still come
    }
    return;
  }
  try {
    const heat = await getJSON(`/api/figure/heatmap?${query({ resolution: $("resolution").value })}`);
    if (mine !== generation) return;
    Plotly.purge("heatmap");  // drop the old plot and its state, so the new one is drawn whole
    await Plotly.react("heatmap", heat.data, heat.layout, PLOT_CONFIG);
    heatmapStatus("");
    document.body.dataset.heatmapReady = "yes";
  } catch (err) {
    if (mine === generation) {
      Plotly.purge("heatmap");
      heatmapStatus(`no heatmap: ${err.message}`);
      document.body.dataset.heatmapReady = "error";
    }
  } finally {
    if (mine === generation) $("refresh").disabled = false;
  }
}

async function start() {
  await liveStart(); // live.js: which symbols the server follows live
  try {
    const info = await getJSON("/api/info");
    for (const symbol of info.symbols) {
      const option = document.createElement("option");
      option.value = symbol;
      $("symbols").appendChild(option);
    }
  } catch (err) {
    showError(err.message);
  }
  for (const id of ["view", "window", "resolution", "palette", "layout"]) $(id).addEventListener("change", () => load());
  $("symbol").addEventListener("change", () => load());
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("refresh").addEventListener("click", () => load(true));
  load();
}

start();
