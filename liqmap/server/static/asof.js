// The as-of picker (liqmap serve --source backfill:STORE): any moment the store holds for the symbol, read from
// the store without building anything. A date-time field and a slider over the stored moments; choosing one
// redraws the map through app.js's load(). Other sources have no store: the picker stays hidden.
"use strict";

const asOfPicker = { streams: [], times: [], chosen: null };

// what the map requests add to their query: the chosen moment, or nothing (the last stored one)
function asOfQuery() {
  return asOfPicker.chosen === null ? {} : { as_of: asOfPicker.chosen };
}

const asOfText = (ms) => new Date(ms).toISOString().slice(0, 16);  // datetime-local's form, in UTC

function asOfWindow(ms) {
  const days = ms / 86400000;
  return Number.isInteger(days) && days >= 2 ? `${days}d` : `${ms / 3600000}h`;
}

// the stored moments of the symbol in the field: one slider position per moment
function asOfFollowSymbol() {
  const symbol = document.getElementById("symbol").value.trim().toUpperCase();
  const stream = asOfPicker.streams.find((s) => s.symbol === symbol);
  const slider = document.getElementById("asof-slider"), field = document.getElementById("asof-time");
  asOfPicker.chosen = null;
  asOfPicker.times = [];
  if (stream) {
    for (const [, first, last] of stream.months) {
      for (let t = first; t <= last; t += stream.step_ms) asOfPicker.times.push(t);
    }
  }
  const n = asOfPicker.times.length;
  slider.max = String(Math.max(n - 1, 0));
  slider.value = slider.max;
  slider.disabled = n === 0;
  field.step = stream ? String(stream.step_ms / 1000) : "60";
  field.min = n ? asOfText(asOfPicker.times[0]) : "";
  field.max = n ? asOfText(asOfPicker.times[n - 1]) : "";
  field.value = n ? asOfText(asOfPicker.times[n - 1]) : "";
  document.getElementById("asof-span").textContent = n
    ? `${asOfText(asOfPicker.times[0])} .. ${asOfText(asOfPicker.times[n - 1])} UTC, every ${asOfWindow(stream.step_ms)}`
    : "not in the store";
}

function asOfChoose(ms) {
  asOfPicker.chosen = String(ms);
  load();
}

async function asOfStart() {
  const response = await fetch("/api/store");
  if (!response.ok) return;  // not a backfill store
  const store = await response.json();
  asOfPicker.streams = store.streams;
  const slider = document.getElementById("asof-slider"), field = document.getElementById("asof-time");
  // the store's maps have one window: select it
  if (store.streams.length) {
    const windowSelect = document.getElementById("window"), text = asOfWindow(store.streams[0].window_ms);
    if (![...windowSelect.options].some((o) => o.value === text)) windowSelect.add(new Option(text, text));
    windowSelect.value = text;
  }
  asOfFollowSymbol();
  slider.addEventListener("input", () => { field.value = asOfText(asOfPicker.times[Number(slider.value)]); });
  slider.addEventListener("change", () => asOfChoose(asOfPicker.times[Number(slider.value)]));
  field.addEventListener("change", () => {
    // a moment off the store's step or outside its span goes to the server, which names what it holds
    const ms = Date.parse(`${field.value}Z`);
    const at = asOfPicker.times.indexOf(ms);
    if (at >= 0) slider.value = String(at);
    asOfChoose(Number.isNaN(ms) ? field.value : ms);
  });
  document.getElementById("asof-picker").hidden = false;
  document.body.dataset.asofReady = "yes";
  load();
}

// before app.js's own listener: a new symbol starts from its last stored moment
document.getElementById("symbol").addEventListener("change", () => { if (asOfPicker.streams.length) asOfFollowSymbol(); });
asOfStart();
