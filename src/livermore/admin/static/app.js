// Livermore admin page: live warmup stats over SSE, schedule, candle meter, commands behind a token.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "livermore.adminToken";
const state = { info: null, status: null, meterAt: 0 };

// ---- formatting -------------------------------------------------------------------------------
const fmtInt = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));

function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

// One unit is enough in a meter cell: "56s", "11m", "12h", "3d".
function fmtAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const fmtTime = (ms) => new Date(ms).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "short" });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k === "class" ? (node.className = v) : node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function toast(text, kind = "") {
  const node = el("div", { class: `toast ${kind}` }, text);
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

// ---- API ----------------------------------------------------------------------------------------
const exchangePath = (suffix) => `/api/exchanges/${state.info.exchangeId}${suffix}`;

async function getJSON(path) {
  const res = await fetch(path);
  return res.ok ? res.json() : null;
}

function askInDialog(dialog, okButton) {
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    okButton.closest("form").querySelector("input").focus();
  });
}

async function token() {
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) return kept;
  $("token-input").value = "";
  if (!(await askInDialog($("token-dialog"), $("token-ok")))) return null;
  const entered = $("token-input").value.trim();
  if (entered) sessionStorage.setItem(TOKEN_KEY, entered);
  return entered || null;
}

// A mutation: asks for the token once per tab; a refused token is forgotten and asked again.
async function command(method, suffix, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const t = await token();
    if (!t) return null;
    const res = await fetch(exchangePath(suffix), {
      method,
      headers: { Authorization: `Bearer ${t}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      toast("Token refused", "bad");
      continue;
    }
    const doc = await res.json().catch(() => ({}));
    if (!res.ok) {
      toast(typeof doc.detail === "string" ? doc.detail : `Request failed (${res.status})`, "bad");
      return null;
    }
    return doc;
  }
  return null;
}

// ---- rendering --------------------------------------------------------------------------------
// How a run ended (its `outcome`), as the page says it; a cancel is not a red error.
const ENDINGS = {
  complete: "Finished", failed: "Finished with failures", cancelled: "Cancelled", interrupted: "Interrupted",
  banned: "Stopped by an IP ban", exchange_unreachable: "Exchange unreachable",
};

function renderStats(s) {
  const status = s ? s.status : "idle";
  const running = status === "scanning" || status === "fetching" || status === "touching_up";
  const shown = s && !running && s.outcome ? s.outcome : status;  // while running the status, then the outcome
  const percent = s ? s.percentComplete : 0;
  $("status-badge").textContent = shown.replace("_", " ");
  $("status-badge").dataset.status = shown;
  $("progress").dataset.status = shown;
  $("progress").setAttribute("aria-valuenow", percent);
  $("progress-fill").style.width = `${percent}%`;
  $("percent").textContent = `${percent}%`;
  $("btn-start").disabled = running;
  $("btn-cancel").hidden = !running;

  $("eta").textContent = running && s.etaMs != null ? `~${fmtDuration(s.etaMs)} remaining` : "";
  const current = $("current");
  current.replaceChildren();
  if (!s) current.append("No warmup has run yet.");
  else if (status === "scanning") current.append(`Loading history for ${fmtInt(s.totalSymbols)} symbols: scanning the cache…`);
  else if (status === "fetching" && s.currentSymbol) current.append("Currently warming ", el("b", {}, `${s.currentSymbol} ${s.currentTimeframe}`));
  else if (status === "fetching") current.append(`Loading history for ${fmtInt(s.totalSymbols)} symbols…`);
  else if (status === "touching_up") current.append(`Touching up ${fmtInt(s.touchUpPairs)} pairs that aged during the run…`);
  else current.append(`${ENDINGS[s.outcome] || "Ended"} ${fmtTime(s.updatedAt)} — ${fmtInt(s.totalSymbols)} symbols, ${fmtInt(s.totalPairs + s.skippedPairs)} pairs`);

  $("run-summary").textContent = s
    ? `${s.policy} policy · started ${fmtTime(s.startedAt)} · ${running ? "running" : "took"} ${fmtDuration(s.updatedAt - s.startedAt)}`
    : "";
  $("message").hidden = !(s && s.message);
  $("message").textContent = s && s.message ? s.message : "";

  const counts = { "n-total": "totalPairs", "n-completed": "completedPairs", "n-skipped": "skippedPairs", "n-failed": "failedPairs",
    "n-rest": "restCalls", "n-429": "throttled", "n-418": "banned", "n-candles": "candlesWritten" };
  for (const [id, key] of Object.entries(counts)) {
    $(id).textContent = fmtInt(s ? s[key] : null);
    $(id).parentElement.dataset.zero = !(s && s[key]);  // alarm colours only when something happened
  }

  const failures = s ? s.failures : [];
  $("failures").dataset.count = failures.length;
  $("failure-count").textContent = failures.length;
  $("failure-rows").replaceChildren(...failures.map((f) =>
    el("tr", {}, el("td", { class: "sym" }, f.symbol), el("td", {}, f.timeframe), el("td", {}, f.error))));
}

function renderSchedule(schedule) {
  const rows = $("schedule-rows");
  if (!schedule) {
    $("schedule-summary").textContent = "";
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No schedule yet.")));
    return;
  }
  $("schedule-summary").textContent =
    `${fmtInt(schedule.needsFetching)} of ${fmtInt(schedule.totalPairs)} pairs to fetch · built ${fmtTime(schedule.createdAt)}`;
  if (!schedule.entries.length) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "Every pair was sufficient: nothing to fetch.")));
    return;
  }
  rows.replaceChildren(...schedule.entries.map((e) => el("tr", {},
    el("td", { class: "sym" }, e.symbol), el("td", {}, e.timeframe),
    el("td", { class: "num" }, fmtInt(e.cachedCount)), el("td", { class: "num" }, fmtInt(e.targetCount)),
    el("td", {}, el("span", { class: `reason ${e.reason}` }, e.reason.replace("_", " "))),
    el("td", { class: "muted" }, fmtTime(e.fetchFrom)))));
}

function meterClass(ratio) {
  if (ratio == null) return "cnone";
  if (ratio < 1) return "c0";
  if (ratio < 2) return "c1";
  if (ratio < 5) return "c2";
  if (ratio < 20) return "c3";
  return "c4";
}

function renderMeter(meter) {
  const table = $("meter");
  if (!meter || !meter.symbols.length) {
    table.replaceChildren(el("tr", {}, el("td", { class: "muted" }, "No monitored symbols.")));
    return;
  }
  const cells = new Map(meter.cells.map((c) => [`${c.symbol}|${c.timeframe}`, c]));
  const head = el("tr", {}, el("th", { class: "sym" }, "Symbol"), ...meter.timeframes.map((tf) => el("th", {}, tf)));
  const body = meter.symbols.map((symbol) => el("tr", {}, el("td", { class: "sym" }, symbol), ...meter.timeframes.map((tf) => {
    const c = cells.get(`${symbol}|${tf}`);
    const title = c.newestOpenTime == null ? "empty"
      : `${c.cachedCount} candles · newest ${fmtTime(c.newestOpenTime)} · ${c.ageIntervals}× interval · ${c.reason}`;
    return el("td", {}, el("span", { class: `cell ${meterClass(c.ageIntervals)}`, title },
      c.ageMs == null ? "—" : fmtAge(c.ageMs)));
  })));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
  $("symbol-list").replaceChildren(...meter.symbols.map((s) => el("option", { value: s })));
}

const refreshSchedule = async () => renderSchedule(await getJSON(exchangePath("/warmup/schedule")));
async function refreshMeter() {
  state.meterAt = Date.now();
  renderMeter(await getJSON(exchangePath("/candles/meter")));
}

// ---- live stream --------------------------------------------------------------------------------
function connect() {
  const source = new EventSource(exchangePath("/warmup/events"));
  const live = $("live");
  source.onopen = () => { live.dataset.state = "live"; $("live-text").textContent = "live"; };
  source.onerror = () => { live.dataset.state = "down"; $("live-text").textContent = "reconnecting"; };
  source.onmessage = (event) => {
    const stats = JSON.parse(event.data);
    const previous = state.status;
    state.status = stats.status;
    renderStats(stats);
    const ended = stats.status === "complete" || stats.status === "error";
    if (previous !== stats.status && stats.status !== "scanning") refreshSchedule();  // built when fetching starts
    if ((ended && previous !== stats.status) || (stats.status === "fetching" && Date.now() - state.meterAt > 2000)) {
      refreshMeter();  // watch the grid fill while warming, at most every 2 s
    }
  };
}

// ---- actions ----------------------------------------------------------------------------------
function askAction({ title, label, placeholder, timeframes }) {
  $("action-title").textContent = title;
  $("action-label-text").textContent = label;
  $("action-input").value = "";
  $("action-input").placeholder = placeholder;
  $("action-timeframes").value = "";
  $("action-tf").hidden = !timeframes;
  return askInDialog($("action-dialog"), $("action-ok"));
}

const splitList = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
const describeBackfill = (b) => `${b.completedPairs}/${b.totalPairs} pairs, ${fmtInt(b.candlesWritten)} candles${b.failedPairs ? `, ${b.failedPairs} failed` : ""}`;

async function startWarmup() {
  const started = await command("POST", "/warmup/start");
  if (started?.status === "already_started") toast(started.message, "bad");
  else if (started) toast(`Warmup started: ${started.symbolCount} symbols × ${started.timeframes.join(" ")}`, "ok");
}

async function cancelWarmup() {
  if (await command("POST", "/warmup/cancel")) toast("Cancelling at the next entry…");
}

async function forceBackfill() {
  if (!(await askAction({ title: "Force backfill", label: "Symbol", placeholder: "BTCUSDT", timeframes: true }))) return;
  const body = { symbol: $("action-input").value.trim() };
  const tfs = splitList($("action-timeframes").value);
  if (tfs.length) body.timeframes = tfs;
  const done = await command("POST", "/backfill", body);
  if (done) { toast(`${done.symbol}: ${describeBackfill(done.backfill)}`, "ok"); refreshMeter(); }
}

async function addSymbols() {
  if (!(await askAction({ title: "Add symbols", label: "Symbols (comma or space separated)", placeholder: "ETHUSDT, SOLUSDT", timeframes: false }))) return;
  const done = await command("POST", "/symbols", { symbols: splitList($("action-input").value) });
  if (!done) return;
  const unknown = done.unknown.length ? ` · unknown: ${done.unknown.join(", ")}` : "";
  toast(`Added ${done.added ? done.symbols.join(", ") : "nothing new"} (${done.skipped} skipped) · ${describeBackfill(done.backfill)}${unknown}`, "ok");
  refreshMeter();
}

async function main() {
  state.info = await getJSON("/api/info");
  $("exchange").replaceChildren(el("b", {}, state.info.exchange), ` · exchange ${state.info.exchangeId} · ${state.info.symbols.length} symbols`);
  $("btn-start").onclick = startWarmup;
  $("btn-cancel").onclick = cancelWarmup;
  $("btn-backfill").onclick = forceBackfill;
  $("btn-add").onclick = addSymbols;
  renderStats(await getJSON(exchangePath("/warmup/stats")));
  await Promise.all([refreshSchedule(), refreshMeter()]);
  connect();
  setInterval(refreshMeter, 30000);  // ages move on between runs
}

main();
