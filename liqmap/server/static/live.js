// Live symbols (liqmap serve --live): the server pushes maps, heatmap columns, realized liquidations and the
// stream health as server-sent events; each is drawn in place. Files and the sample never open this stream.
"use strict";

let liveSymbols = [];
let liveSource = null;
const LIVE_MAX_COLUMNS = 720; // as the server keeps (liqmap.server.live.MAX_COLUMNS)
let liveHeat = null; // {edges, centres, times, prices, long: [bin][column], short: [bin][column], style}
let liveLiqs = { long: [], short: [] };

async function liveStart() {
  try {
    liveSymbols = (await getJSON("/api/live")).symbols;
  } catch (err) {
    liveSymbols = [];
  }
}

function liveSection() {
  let section = $("live");
  if (section) return section;
  section = document.createElement("section");
  section.id = "live";
  section.className = "card";
  section.innerHTML = `
    <h2>Live heatmap <small>a column per settled bar, pushed by the server · realized liquidations as they happen
      (▼ longs, ▲ shorts; size by USD) · Binance pushes at most one liquidation per symbol per second: lower bounds</small></h2>
    <div id="live-heatmap" class="chart live"></div>
    <h2>Stream health <small>messages/s over 10 s · last message age · reconnects · gaps backfilled · faults</small></h2>
    <table id="live-health"><thead><tr>
      <th class="text">stream</th><th class="text">state</th><th>msg/s</th><th>last message</th><th>reconnects</th>
      <th>gaps backfilled</th><th>malformed</th><th class="text">fault</th>
    </tr></thead><tbody></tbody></table>
    <p id="live-feed" class="placeholder"></p>`;
  document.querySelector("main").prepend(section);
  return section;
}

function liveStop() {
  if (liveSource) liveSource.close();
  liveSource = null;
  liveHeat = null;
  liveLiqs = { long: [], short: [] };
  const section = $("live");
  if (section) {
    Plotly.purge("live-heatmap");
    section.remove();
  }
  for (const key of ["liveAsOf", "liveColumns", "liveLiquidations", "liveHealth"]) delete document.body.dataset[key];
}

function follow() {
  liveStop();
  if (!liveSymbols.includes($("symbol").value.trim().toUpperCase())) return;
  liveSection();
  liveSource = new EventSource(`/api/live/stream?${query()}`);
  liveSource.addEventListener("map", async (event) => {
    const push = JSON.parse(event.data);
    await Plotly.react("liqmap", push.figure.data, push.figure.layout, PLOT_CONFIG);
    fillClusters(push.summary, clusterColors(push.figure));
    showFreshness(push.summary);
    $("asof").textContent = `LIVE · ${$("asof").textContent}`;
    document.body.dataset.liveAsOf = push.summary.as_of;
  });
  liveSource.addEventListener("heatmap", (event) => {
    const push = JSON.parse(event.data);
    const centres = push.edges.slice(0, -1).map((lo, i) => (lo + push.edges[i + 1]) / 2);
    liveHeat = { edges: push.edges, centres, times: [], prices: [], long: centres.map(() => []),
                 short: centres.map(() => []), style: push };
    for (const column of push.columns) addColumn(column);
    drawLiveHeatmap();
  });
  liveSource.addEventListener("column", (event) => {
    if (!liveHeat) return;
    addColumn(JSON.parse(event.data));
    drawLiveHeatmap();
  });
  liveSource.addEventListener("liquidations", (event) => {
    for (const liq of JSON.parse(event.data)) liveLiqs[liq.side].push(liq);
    document.body.dataset.liveLiquidations = String(liveLiqs.long.length + liveLiqs.short.length);
    drawLiveHeatmap();
  });
  liveSource.addEventListener("health", (event) => showHealth(JSON.parse(event.data)));
  liveSource.onerror = () => {
    $("live-feed").textContent = "the server's push stream is interrupted; the browser reconnects by itself";
  };
}

function addColumn(column) {
  const heat = liveHeat;
  heat.times.push(new Date(column.time).toISOString());
  heat.prices.push(column.price);
  column.long.forEach((v, i) => heat.long[i].push(v));
  column.short.forEach((v, i) => heat.short[i].push(v));
  if (heat.times.length > LIVE_MAX_COLUMNS) {
    heat.times.shift();
    heat.prices.shift();
    for (const row of [...heat.long, ...heat.short]) row.shift();
  }
  document.body.dataset.liveColumns = String(heat.times.length);
}

function liquidationTrace(side, colour, symbol) {
  const items = liveLiqs[side];
  return {
    type: "scatter", mode: "markers", name: `${side}s liquidated`, meta: `liquidations-${side}`,
    x: items.map((l) => new Date(l.time).toISOString()), y: items.map((l) => l.price),
    customdata: items.map((l) => [l.usd, l.venue, l.size]),
    // opacity 1: plotly draws markers of varying size (bubbles) at 0.7, pale on the heatmap
    marker: { symbol, color: colour, opacity: 1, line: { color: "white", width: 1 },
              size: items.map((l) => Math.min(30, 7 + 4 * Math.log10(Math.max(l.usd, 1e3) / 1e3))) },
    hovertemplate: `%{x|%Y-%m-%d %H:%M:%S} UTC<br>${side} liquidated at %{y:,.2f}<br>$%{customdata[0]:,.0f}`
      + " (%{customdata[2]} base)<br>%{customdata[1]}<extra></extra>",
  };
}

function drawLiveHeatmap() {
  const heat = liveHeat;
  if (!heat || !heat.times.length) return;
  // log10 of the notional outstanding per bin; an empty cell stays transparent
  const z = heat.long.map((row, i) => row.map((v, j) => {
    const total = v + heat.short[i][j];
    return total > 0 ? Math.log10(total) : null;
  }));
  const data = [
    { type: "heatmap", x: heat.times, y: heat.centres, z, colorscale: heat.style.colorscale, name: "outstanding levels",
      meta: "live-heatmap", colorbar: { title: { text: "log₁₀ USD", side: "right" }, thickness: 14 },
      hovertemplate: "%{x|%Y-%m-%d %H:%M} UTC<br>price %{y:,.2f}<br>log₁₀ notional %{z:.2f}<extra></extra>" },
    { type: "scatter", mode: "lines", x: heat.times, y: heat.prices, name: "price (close)",
      line: { color: heat.style.price_colour, width: 1.5 } },
    liquidationTrace("long", heat.style.long_colour, "triangle-down"),
    liquidationTrace("short", heat.style.short_colour, "triangle-up"),
  ];
  // price up the side around where price went (as the files' heatmap): the grid spans the first map's range
  const seen = heat.prices.concat(liveLiqs.long.map((l) => l.price), liveLiqs.short.map((l) => l.price));
  const low = Math.min(...seen), high = Math.max(...seen);
  const pad = Math.max((high - low) * 0.35, high * 0.03);
  const layout = {
    margin: { l: 70, r: 20, t: 20, b: 40 }, plot_bgcolor: "#000004", showlegend: true,
    legend: { orientation: "h", x: 0, y: -0.12 }, datarevision: heat.times.length + liveLiqs.long.length + liveLiqs.short.length,
    xaxis: { type: "date", showgrid: false }, yaxis: { title: { text: `price (${$("symbol").value.trim().toUpperCase()})` }, showgrid: false,
             range: [Math.max(heat.edges[0], low - pad), Math.min(heat.edges[heat.edges.length - 1], high + pad)] },
  };
  Plotly.react("live-heatmap", data, layout, PLOT_CONFIG);
}

function showHealth(health) {
  const body = $("live-health").querySelector("tbody");
  body.replaceChildren();
  for (const r of health.rows) {
    const row = body.insertRow();
    row.className = `health-${r.state}`;
    row.dataset.stream = r.name;
    if (r.absent) { // the venue has no such stream (e.g. no liquidation stream): say why instead of figures
      for (const [text, cls] of [[r.name, "text"], ["none", "text state"]]) {
        const td = row.insertCell();
        td.textContent = text;
        td.className = cls;
      }
      const why = row.insertCell();
      why.colSpan = 6;
      why.className = "text fault";
      why.textContent = `no stream: ${r.absent}`;
      continue;
    }
    const cells = [
      [r.name, "text"], [r.state === "ok" ? "ok" : r.state.toUpperCase(), "text state"], [r.rate.toFixed(1), ""],
      [r.age_s == null ? "never" : `${r.age_s.toFixed(1)} s ago`, ""], [String(r.reconnects), ""],
      [String(r.gaps_backfilled), ""], [String(r.malformed), ""], [r.fault || "", "text fault"],
    ];
    for (const [text, cls] of cells) {
      const td = row.insertCell();
      td.textContent = text;
      td.className = cls;
    }
  }
  const skew = health.skew_ms == null ? "not measured" : `${health.skew_ms} ms`;
  $("live-feed").textContent = `clock skew to the exchange ${skew} · HTTP 429/418 met ${health.rate_limited}`
    + ` · connection rotations ${health.rotations}`;
  document.body.dataset.liveHealth = String(Number(document.body.dataset.liveHealth || 0) + 1);
}
