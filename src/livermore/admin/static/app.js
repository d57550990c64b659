// Livermore admin page: live warmup stats over SSE, schedule, candle meter, commands behind a token.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "livermore.adminToken";
const state = { info: null, status: null, poll: null };
const RUNNING = new Set(["scanning", "fetching", "touching_up"]);
const POLL_MS = 2000;  // meter and schedule while a run goes
const JOB_POLL_MS = 500;  // whether an accepted backfill still runs

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
  setTimeout(() => node.remove(), kind === "bad" ? 12000 : 6000);
}

// Why a request was refused, from FastAPI's `detail`: a sentence, or a list of {loc, msg} (422).
function reasonOf(doc, status) {
  const detail = doc && doc.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => {
      const field = (d.loc || []).filter((part) => part !== "body").join(".");
      const msg = String(d.msg).replace(/^Value error, /, "");  // pydantic's prefix says nothing to an operator
      return field ? `${field}: ${msg}` : msg;
    }).join("; ");
  }
  return `Request failed (${status})`;
}

function setOnline(online) {
  $("offline").hidden = online;
  $("live").dataset.state = online ? "live" : "down";
  $("live-text").textContent = online ? "live" : "server unreachable";
}

// ---- API ----------------------------------------------------------------------------------------
const exchangePath = (suffix) => `/api/exchanges/${state.info.exchangeId}${suffix}`;

async function getJSON(path) {
  try {
    const res = await fetch(path);
    return res.ok ? await res.json() : null;
  } catch {
    return undefined;  // the server is away: callers keep what they show
  }
}

function askInDialog(dialog, okButton) {
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    okButton.closest("form").querySelector("input").focus();
  });
}

// The token for this tab; after a refusal the dialog opens again saying so (inside it, not behind).
async function token(refused = "") {
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept && !refused) return kept;
  $("token-input").value = "";
  $("token-error").textContent = refused;
  $("token-error").hidden = !refused;
  if (!(await askInDialog($("token-dialog"), $("token-ok")))) return null;
  const entered = $("token-input").value.trim();
  if (entered) sessionStorage.setItem(TOKEN_KEY, entered);
  return entered || null;
}

// A mutation: asks for the token once per tab; a refused token is forgotten and asked again.
// A refused token is forgotten and asked for again, until the operator cancels the dialog.
async function command(method, suffix, body) {
  let refused = "";
  for (;;) {
    const t = await token(refused);
    if (!t) return null;
    let res;
    try {
      res = await fetch(exchangePath(suffix), {
        method,
        headers: { Authorization: `Bearer ${t}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      toast("Server unreachable: the request was not sent", "bad");
      return null;
    }
    const doc = await res.json().catch(() => ({}));
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      refused = "Wrong token: the server refused it. Enter the token printed by livermore serve.";
      continue;
    }
    if (!res.ok) {
      toast(reasonOf(doc, res.status), "bad");
      return null;
    }
    return doc;
  }
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
  if (schedule === undefined) return;  // server away: keep the last one
  if (!schedule) {
    $("schedule-summary").textContent = "";
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No schedule yet.")));
    return;
  }
  const counts = {};
  for (const e of schedule.entries) counts[e.state] = (counts[e.state] || 0) + 1;
  const states = ["done", "running", "pending", "failed"].filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`).join(", ");
  $("schedule-summary").textContent =
    `${fmtInt(schedule.needsFetching)} of ${fmtInt(schedule.totalPairs)} pairs to fetch${states ? ` (${states})` : ""} · built ${fmtTime(schedule.createdAt)}`;
  if (!schedule.entries.length) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "Every pair was sufficient: nothing to fetch.")));
    return;
  }
  rows.replaceChildren(...schedule.entries.map((e) => el("tr", { "data-state": e.state || "pending" },
    el("td", { class: "sym" }, e.symbol), el("td", {}, e.timeframe),
    el("td", {}, el("span", { class: `state ${e.state || "pending"}` }, e.state || "pending")),
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
  if (meter === undefined) return;  // server away: keep the last one
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
  const meter = await getJSON(exchangePath("/candles/meter"));
  renderMeter(meter);
  if (meter) $("meter").dataset.refreshes = Number($("meter").dataset.refreshes || 0) + 1;  // how often it was read
}

// The header: exchange and the live count of monitored symbols.
async function refreshInfo() {
  const info = await getJSON("/api/info");
  if (!info) return;
  state.info = info;
  const n = info.symbols.length;
  $("exchange").replaceChildren(el("b", {}, info.exchange), ` · exchange ${info.exchangeId} · `,
    el("span", { id: "symbol-count" }, `${fmtInt(n)} symbol${n === 1 ? "" : "s"}`));
}

// While a run goes the meter and the schedule are polled; once more when it ends.
function follow(running) {
  if (running && !state.poll) {
    refreshMeter(); refreshSchedule();
    state.poll = setInterval(() => { refreshMeter(); refreshSchedule(); }, POLL_MS);
  } else if (!running && state.poll) {
    clearInterval(state.poll);
    state.poll = null;
    refreshMeter(); refreshSchedule(); refreshInfo();
  }
}

// ---- live stream --------------------------------------------------------------------------------
// The stream is the page's heartbeat: while it is down a banner says so; after it is back
// everything is read again (the first event is the current stats).
// Beyond loopback the stream needs the token: in the query, as an EventSource sends no headers.
function eventsUrl() {
  const kept = sessionStorage.getItem(TOKEN_KEY);
  return exchangePath("/warmup/events") + (kept ? `?token=${encodeURIComponent(kept)}` : "");
}

function connect() {
  const source = new EventSource(eventsUrl());
  source.onopen = () => {
    if (!$("offline").hidden) { refreshInfo(); refreshSchedule(); refreshMeter(); }
    setOnline(true);
  };
  source.onerror = () => {
    setOnline(false);
    if (source.readyState === EventSource.CLOSED) setTimeout(reconnect, 3000);  // an HTTP error ends it for good
  };
  source.onmessage = (event) => {
    const stats = JSON.parse(event.data);
    const previous = state.status;
    state.status = stats.status;
    renderStats(stats);
    if (previous !== stats.status && stats.status !== "scanning") refreshSchedule();  // built when fetching starts
    follow(RUNNING.has(stats.status));
  };
}

// A stream refused for want of the token (401: EventSource does not say) asks for it, as a command does.
async function reconnect() {
  const probe = new AbortController();
  const res = await fetch(eventsUrl(), { signal: probe.signal }).catch(() => null);
  probe.abort();
  if (res && res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (!(await token("The live view needs the admin token printed by livermore serve."))) return;
  }
  connect();
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

// Replies are read defensively: both our shapes and the original's (symbolCount, added as a number…).
const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? "" : "s"}`;

async function startWarmup() {
  const started = await command("POST", "/warmup/start");
  if (!started) return;
  if (started.status && started.status !== "started") { toast(started.message || started.status.replace("_", " ")); return; }
  const n = started.symbolCount ?? started.symbols;
  const tfs = Array.isArray(started.timeframes) ? ` × ${started.timeframes.join(" ")}` : "";
  toast(`Warmup started${typeof n === "number" ? `: ${plural(n, "symbol")}${tfs}` : ""}`, "ok");
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
  if (!done) return;
  const asked = Array.isArray(done.timeframes) ? done.timeframes.join(" ") : "";
  const what = done.backfill ? describeBackfill(done.backfill)
    : `${done.backfilling ? "backfilling" : "backfilled"} ${asked}`.trim();
  toast(`${done.symbol || body.symbol}: ${what}`, "ok");
  refreshMeter();
  if (done.backfilling) afterBackfill();
}

// An accepted backfill runs in the background (no stats of its own): while the server says a job
// runs, the buttons that would start another one are off; the meter is read again at its end.
async function afterBackfill() {
  const buttons = [$("btn-backfill"), $("btn-add")];
  for (const b of buttons) b.disabled = true;
  let info;
  do {
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    info = await getJSON("/api/info");
  } while (info && info.running);  // a server gone away: the next click says so
  for (const b of buttons) b.disabled = false;
  refreshMeter();
}

function describeAdded(done) {
  const parts = [];
  if (Array.isArray(done.added)) parts.push(`Added ${done.added.length ? done.added.join(", ") : "nothing new"}`);
  else if (typeof done.added === "number") parts.push(`Added ${plural(done.added, "symbol")}`);
  if (typeof done.skipped === "number" && done.skipped) parts.push(`${fmtInt(done.skipped)} skipped`);
  if (Array.isArray(done.unknown) && done.unknown.length) parts.push(`unknown: ${done.unknown.join(", ")}`);
  if (done.backfill) parts.push(describeBackfill(done.backfill));
  else if (done.backfilling) parts.push("backfilling");
  if (typeof done.totalSymbols === "number") parts.push(`${plural(done.totalSymbols, "symbol")} monitored`);
  return parts.join(" · ") || "Symbols added";
}

async function addSymbols() {
  if (!(await askAction({ title: "Add symbols", label: "Symbols (comma or space separated)", placeholder: "ETHUSDT, SOLUSDT", timeframes: false }))) return;
  const done = await command("POST", "/symbols", { symbols: splitList($("action-input").value) });
  if (!done) return;
  toast(describeAdded(done), "ok");
  refreshMeter(); refreshInfo();
  if (done.backfilling) afterBackfill();
}

async function main() {
  await refreshInfo();
  if (!state.info) { setOnline(false); setTimeout(main, 3000); return; }
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
