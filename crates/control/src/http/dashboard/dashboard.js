// Ferrocache dashboard: a view over the admin API of the node that serves it.
// No framework, no build step. Every API call carries the token typed by the user
// (kept in sessionStorage) as `Authorization: Bearer`; the live stream is read with
// fetch() so that it can carry the same header (EventSource cannot).
"use strict";

const TOKEN_KEY = "ferrocache.token";
const HOUR_MS = 3600 * 1000;
const COLORS = ["#0b5cad", "#b00020", "#1b6e20", "#8a5a00", "#6a1b9a", "#00695c", "#ad1457", "#37474f"];

const state = {
  map: null,
  points: [],
  alerts: [],
  selectedKey: null,
  versions: [],
  rebalance: null,
  auditNext: 1,
  audit: [],
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h.Authorization = "Bearer " + token();
  return h;
}

class AuthError extends Error {}

function showError(message) {
  const box = $("error");
  if (!message) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.hidden = false;
  box.textContent = message;
}

// Calls the API; a 401 or 403 turns into a clear message asking for a (better) token.
async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const resp = await fetch(path, opts);
  if (resp.status === 401 || resp.status === 403) {
    const what = resp.status === 401
      ? (token() ? "The admin token was refused (401)." : "This node requires an admin token (401).")
      : "The admin token does not allow this (403).";
    showError(what + " Enter a token in the box at the top of the page.");
    $("token").focus();
    throw new AuthError(what);
  }
  let body = null;
  try { body = await resp.json(); } catch (_) { body = null; }
  if (!resp.ok) {
    const msg = body && body.error ? body.error.message : resp.statusText;
    throw new Error(path + ": " + msg);
  }
  return body;
}

function fmtTime(ms) {
  if (!ms) return "";
  return new Date(ms).toLocaleString();
}

function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + units[i];
}

function fmtNum(n, digits) {
  if (n == null || Number.isNaN(n)) return "–";
  return Number(n).toFixed(digits == null ? 1 : digits);
}

function rangesText(ranges) {
  return (ranges || []).map((r) => (r.start === r.end ? String(r.start) : r.start + "-" + r.end)).join(", ");
}

function slotCount(ranges) {
  return (ranges || []).reduce((n, r) => n + (r.end - r.start + 1), 0);
}

// ---------- topology, alerts, migrations ----------

// A node's client address by its id in `map` (the id itself if the map does not list it).
function addrOf(map, id) {
  const node = ((map && map.nodes) || []).find((n) => n.id === id);
  return node ? node.addr : id;
}

function nodeHealth(node, point) {
  const seen = point && point.nodes ? point.nodes[node.addr] : undefined;
  if (node.state === "down" || (seen && !seen.up)) return "down";
  if (node.state === "draining") return "draining";
  return "up";
}

function renderTopology() {
  const map = state.map;
  const nodesBody = $("nodes").tBodies[0];
  const shardsBody = $("shards").tBodies[0];
  nodesBody.replaceChildren();
  shardsBody.replaceChildren();
  if (!map) {
    $("epoch").textContent = "This control plane has no cluster map (a standalone config center).";
    return;
  }
  $("epoch").textContent = "Map epoch " + map.epoch + ": " + map.nodes.length + " nodes, " + map.shards.length + " shards.";
  const latest = state.points[state.points.length - 1];
  for (const node of map.nodes) {
    let role = "none", shardNo = "–", slots = "";
    map.shards.forEach((s, i) => {
      if (s.primary === node.id) { role = "primary"; shardNo = String(i); slots = rangesText(s.slots); }
      else if ((s.replicas || []).includes(node.id)) { role = "replica"; shardNo = String(i); slots = rangesText(s.slots); }
    });
    const health = nodeHealth(node, latest);
    nodesBody.append(el("tr", { "data-addr": node.addr },
      el("th", { scope: "row", text: node.addr }),
      el("td", { text: node.admin }),
      el("td", { text: role }),
      el("td", { class: "num", text: shardNo }),
      el("td", { text: role === "primary" ? slots : (slots ? "(replica of " + slots + ")" : "") }),
      el("td", { class: "health " + health, text: health }),
      el("td", { class: "num", text: String(node.weight) }),
      el("td", { text: node.zone || "" })));
  }
  map.shards.forEach((s, i) => {
    const addr = (id) => addrOf(map, id);
    shardsBody.append(el("tr", {},
      el("th", { scope: "row", text: String(i) }),
      el("td", { text: addr(s.primary) }),
      el("td", { text: (s.replicas || []).map(addr).join(", ") || "none" }),
      el("td", { text: rangesText(s.slots) }),
      el("td", { class: "num", text: String(slotCount(s.slots)) })));
  });
}

function renderAlerts() {
  const body = $("alert-table").tBodies[0];
  body.replaceChildren();
  $("no-alerts").hidden = state.alerts.length > 0;
  $("alert-table").hidden = state.alerts.length === 0;
  for (const a of state.alerts) {
    body.append(el("tr", { "data-rule": a.rule },
      el("th", { scope: "row", text: a.rule }),
      el("td", { class: a.severity, text: a.severity }),
      el("td", { text: a.node || "" }),
      el("td", { text: a.summary }),
      el("td", { text: fmtTime(a.since_ms) })));
  }
}

// One row per (source shard, target shard): the last rebalance's plan, with how many of its
// slots the target's shard owns now (the node computes that from the map), and whatever the
// map has moving besides. Shards, not primaries, pair them: a failover renames the ends.
function renderMigrations() {
  const map = state.map;
  const plan = state.rebalance;
  const shards = (map && map.shards) || [];
  const addr = (id) => addrOf(map, id);
  const shardOf = (id) => shards.findIndex((s) => s.primary === id || (s.replicas || []).includes(id));
  const rows = ((plan && plan.moves) || []).map((m) => ({
    from: m.from, to: m.to, shards: shardOf(m.from) + ">" + shardOf(m.to), slots: m.slots, moved: m.moved, moving: [],
  }));
  for (const g of (map && map.migrations) || []) {
    const pair = shardOf(g.from) + ">" + shardOf(g.to);
    let row = rows.find((r) => r.shards === pair);
    if (!row) rows.push(row = { from: g.from, to: g.to, shards: pair, slots: null, moved: null, moving: [] });
    row.moving.push(...g.slots);
  }
  const moving = rows.reduce((n, r) => n + slotCount(r.moving), 0);
  $("no-migrations").hidden = moving > 0;
  const summary = $("rebalance-summary");
  summary.hidden = !plan;
  if (plan) {
    const slots = plan.moves.reduce((n, m) => n + m.slots, 0);
    const moved = plan.moves.reduce((n, m) => n + m.moved, 0);
    summary.textContent = "Rebalance started " + fmtTime(plan.started_ms) + ": " + moved + " of " + slots + " slots moved"
      + (moved === slots ? ", finished." : moving || Date.now() - plan.started_ms < 10_000 ? "."
        : ", none moving now (if the rebalance was stopped, run it again to finish).");
  }
  const shown = rows.filter((r) => slotCount(r.moving) > 0 || (r.slots != null && r.moved < r.slots));
  const table = $("migration-table");
  table.hidden = shown.length === 0;
  table.tBodies[0].replaceChildren(...shown.map((r) => {
    const now = slotCount(r.moving);
    const progress = r.slots == null
      ? el("td", { text: "not planned here" })
      : el("td", {}, el("progress", { max: String(r.slots), value: String(r.moved), "aria-label": "slots moved from " + addr(r.from) + " to " + addr(r.to) }),
        " " + r.moved + " of " + r.slots);
    return el("tr", { "data-from": addr(r.from), "data-to": addr(r.to) },
      el("td", { text: addr(r.from) }),
      el("td", { text: addr(r.to) }),
      el("td", { class: "num", text: now ? now + " (" + rangesText(r.moving.slice(0, 3)) + (r.moving.length > 3 ? ", …" : "") + ")" : "0" }),
      el("td", { class: "num", text: String(r.slots == null ? now : r.slots - r.moved) }),
      progress);
  }));
}

// ---------- charts ----------

const METRICS = [
  { key: "ops", title: "Operations per second", fmt: (v) => fmtNum(v, 0), axis: (v, max) => fmtNum(v, max < 10 ? 1 : 0), cluster: "sum" },
  { key: "hit_ratio", title: "Hit ratio", fmt: (v) => fmtNum(v, 2), cluster: "ratio" },
  { key: "memory", title: "Used memory", fmt: fmtBytes, cluster: "sum" },
  { key: "p99_ms", title: "Latency p99 (ms)", fmt: (v) => fmtNum(v, 2), cluster: "max" },
  { key: "lag", title: "Replication lag (bytes)", fmt: fmtBytes, cluster: "max" },
];

function clusterValue(metric, nodes) {
  const vals = Object.values(nodes).filter((n) => n.up);
  if (metric.cluster === "ratio") {
    let hits = 0, lookups = 0;
    for (const n of vals) if (n.hit_ratio != null && n.lookups) { hits += n.hit_ratio * n.lookups; lookups += n.lookups; }
    return lookups ? hits / lookups : null;
  }
  const xs = vals.map((n) => n[metric.key]).filter((v) => v != null);
  if (!xs.length) return null;
  return metric.cluster === "sum" ? xs.reduce((a, b) => a + b, 0) : Math.max(...xs);
}

function seriesFor(metric, scope) {
  const series = [];
  const addrs = new Set();
  for (const p of state.points) for (const a of Object.keys(p.nodes)) addrs.add(a);
  if (!scope) {
    series.push({ name: "cluster", width: 2.5, values: state.points.map((p) => [p.t, clusterValue(metric, p.nodes)]) });
  }
  for (const a of [...addrs].sort()) {
    if (scope && a !== scope) continue;
    series.push({ name: a, width: 1.2, values: state.points.map((p) => [p.t, p.nodes[a] ? p.nodes[a][metric.key] : null]) });
  }
  return series;
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function drawChart(metric, scope) {
  const W = 600, H = 160, L = 70, R = 8, T = 8, B = 22;
  const now = Date.now();
  const from = now - HOUR_MS;
  const series = seriesFor(metric, scope);
  let max = 0;
  for (const s of series) for (const [t, v] of s.values) if (v != null && t >= from) max = Math.max(max, v);
  if (metric.key === "hit_ratio") max = 1;
  if (max === 0) max = 1;
  const x = (t) => L + ((t - from) / HOUR_MS) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", preserveAspectRatio: "none" });
  // The text alternative: what the first line (the cluster, or the one node shown) did over
  // the hour, in words, for those who cannot see the curve.
  const shown = series.length ? series[0].values.filter(([t, v]) => t >= from && v != null).map((p) => p[1]) : [];
  const summary = metric.title + (shown.length
    ? " over the last hour (" + series[0].name + "): latest " + metric.fmt(shown[shown.length - 1]) + ", lowest "
      + metric.fmt(Math.min(...shown)) + ", highest " + metric.fmt(Math.max(...shown)) + ", " + shown.length + " points"
    : ": no data yet");
  svg.append(Object.assign(svgEl("title", {}), { textContent: summary }));
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f);
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: yy, y2: yy, stroke: "#d0d0d0", "stroke-width": 1 }));
    const label = svgEl("text", { x: L - 4, y: yy + 4, "text-anchor": "end", "font-size": 11, fill: "#333" });
    label.textContent = metric.axis ? metric.axis(max * f, max) : metric.fmt(max * f);
    svg.append(label);
  }
  for (const [t, text] of [[from, "-60 min"], [from + HOUR_MS / 2, "-30 min"], [now, "now"]]) {
    const label = svgEl("text", { x: x(t), y: H - 6, "text-anchor": t === from ? "start" : t === now ? "end" : "middle", "font-size": 11, fill: "#333" });
    label.textContent = text;
    svg.append(label);
  }
  series.forEach((s, i) => {
    let d = "";
    let pen = false;
    for (const [t, v] of s.values) {
      if (t < from || v == null) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + "," + y(v).toFixed(1);
      pen = true;
    }
    if (d) svg.append(svgEl("path", { d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": s.width, "vector-effect": "non-scaling-stroke" }));
    // The newest point as a dot, so that a series of one point shows too.
    const last = s.values.filter(([t, v]) => t >= from && v != null).pop();
    if (last) svg.append(svgEl("circle", { cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1), r: 2.5, fill: COLORS[i % COLORS.length] }));
  });
  const legend = el("div", { class: "legend" });
  series.forEach((s, i) => {
    const last = s.values.filter((p) => p[1] != null).pop();
    const item = el("span", { text: s.name + ": " + (last ? metric.fmt(last[1]) : "–") });
    item.style.setProperty("--c", COLORS[i % COLORS.length]);
    legend.append(item);
  });
  return el("figure", { class: "chart", "data-metric": metric.key }, el("figcaption", { text: metric.title }), svg, legend);
}

function renderCharts() {
  const select = $("chart-scope");
  const addrs = new Set();
  for (const p of state.points) for (const a of Object.keys(p.nodes)) addrs.add(a);
  const have = new Set([...select.options].map((o) => o.value));
  for (const a of [...addrs].sort()) if (!have.has(a)) select.append(el("option", { value: a, text: "node " + a }));
  const scope = select.value;
  $("chart-grid").replaceChildren(...METRICS.map((m) => drawChart(m, scope)));
}

function addPoint(point) {
  if (!point) return;
  const last = state.points[state.points.length - 1];
  if (last && last.t >= point.t) return;
  state.points.push(point);
  const cut = Date.now() - HOUR_MS;
  while (state.points.length && state.points[0].t < cut) state.points.shift();
}

// ---------- live stream ----------

let streamAbort = null;

// Reads `text/event-stream` from a fetch() body, calling onEvent(name, data) per event.
async function readEvents(resp, onEvent) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let at;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "event") name = val;
        else if (field === "data") data.push(val);
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

function onFrame(frame) {
  state.map = frame.map;
  state.rebalance = frame.rebalance || null;
  state.alerts = frame.alerts || [];
  addPoint(frame.point);
  renderTopology();
  renderAlerts();
  renderMigrations();
  renderCharts();
  $("live").textContent = "live: updated " + new Date().toLocaleTimeString() + (frame.leader ? " (this node leads the control plane)" : "");
}

async function stream() {
  if (streamAbort) streamAbort.abort();
  const abort = new AbortController();
  streamAbort = abort;
  while (!abort.signal.aborted) {
    try {
      const resp = await fetch("/v1/dashboard/stream", { headers: headers({ Accept: "text/event-stream" }), signal: abort.signal });
      if (resp.status === 401 || resp.status === 403) {
        $("live").textContent = "not connected: a token is needed";
        showError((resp.status === 401 ? "This node requires an admin token (401)." : "The admin token does not allow reading (403).") + " Enter a token in the box at the top of the page.");
        return;
      }
      if (!resp.ok) throw new Error("stream: HTTP " + resp.status);
      $("live").textContent = "live";
      await readEvents(resp, (name, data) => { if (name === "frame") onFrame(JSON.parse(data)); });
    } catch (e) {
      if (abort.signal.aborted) return;
      $("live").textContent = "disconnected, retrying…";
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---------- config center ----------

function status(text) {
  $("config-status").textContent = text;
}

async function listKeys() {
  const prefix = $("kv-prefix").value;
  const body = $("kv-table").tBodies[0];
  const data = await api("/v1/kv?limit=500&prefix=" + encodeURIComponent(prefix));
  body.replaceChildren();
  for (const item of data.items) {
    body.append(el("tr", {},
      el("td", {}, el("button", { type: "button", class: "linkish", "data-key": item.key, text: item.key, onclick: () => showVersions(item.key).catch(report) })),
      el("td", { class: "num", text: String(item.mod_revision) }),
      el("td", { text: item.content_type || "" })));
  }
  if (!data.items.length) body.append(el("tr", {}, el("td", { colspan: "3", text: "No key under this prefix." })));
}

function valueText(v) {
  if (v.deleted) return "(deleted)";
  if (v.value != null) return v.value;
  return "(binary, base64) " + v.value_base64;
}

async function showVersions(key) {
  const data = await api("/v1/history/" + key.split("/").map(encodeURIComponent).join("/"));
  state.selectedKey = key;
  state.versions = data.versions;
  $("versions-pane").hidden = false;
  $("versions-h").textContent = "Versions of " + key;
  const body = $("versions").tBodies[0];
  body.replaceChildren();
  const latest = data.versions.length ? data.versions[data.versions.length - 1].mod_revision : 0;
  for (const v of [...data.versions].reverse()) {
    const actions = el("td", {});
    if (v.mod_revision !== latest && !v.deleted) {
      actions.append(el("button", {
        type: "button",
        "data-revision": String(v.mod_revision),
        "aria-label": "Roll back to this: revision " + v.mod_revision + " of " + key,
        text: "Roll back to this",
        onclick: () => confirmRollback(key, v).catch(report),
      }));
    } else if (v.mod_revision === latest) {
      actions.append("current");
    }
    body.append(el("tr", { "data-revision": String(v.mod_revision) },
      el("th", { scope: "row", text: String(v.mod_revision) }),
      el("td", { class: "num", text: String(v.version) }),
      el("td", { text: v.author }),
      el("td", { text: fmtTime(v.timestamp_ms) }),
      el("td", { class: "value", text: valueText(v) }),
      actions));
  }
  for (const id of ["diff-a", "diff-b"]) {
    $(id).replaceChildren(...data.versions.map((v) => el("option", { value: String(v.mod_revision), text: String(v.mod_revision) })));
  }
  if (data.versions.length >= 2) {
    $("diff-a").value = String(data.versions[data.versions.length - 2].mod_revision);
    $("diff-b").value = String(latest);
  }
  renderDiff();
}

// A line diff (longest common subsequence), enough for config values.
function diffLines(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) { out.push(["-", x[i]]); i++; }
    else { out.push(["+", y[j]]); j++; }
  }
  while (i < n) out.push(["-", x[i++]]);
  while (j < m) out.push(["+", y[j++]]);
  return out;
}

function renderDiff() {
  const pre = $("diff");
  const find = (rev) => state.versions.find((v) => String(v.mod_revision) === rev);
  const a = find($("diff-a").value), b = find($("diff-b").value);
  if (!a || !b) { pre.textContent = "Pick two revisions."; return; }
  const lines = diffLines(valueText(a), valueText(b));
  pre.replaceChildren(...lines.map(([op, text]) => el("span", { class: op === "+" ? "add" : op === "-" ? "del" : "same", text: op + " " + text })));
  if (!lines.some(([op]) => op !== " ")) pre.prepend(el("span", { class: "same", text: "(no difference)" }));
}

let lastFocus = null;
function confirmRollback(key, version) {
  const dialog = $("confirm");
  $("confirm-text").textContent = "Write the value of revision " + version.mod_revision + " back to " + key + " as a new revision? Its value is: " + valueText(version);
  lastFocus = document.activeElement;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve, reject) => {
    dialog.addEventListener("close", async () => {
      if (lastFocus) lastFocus.focus();
      if (dialog.returnValue !== "ok") { status("Rollback cancelled."); resolve(); return; }
      try {
        const out = await api("/v1/rollback", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ key, to_revision: version.mod_revision }),
        });
        status("Rolled back " + key + " to revision " + version.mod_revision + ": new revision " + out.revision + ".");
        await showVersions(key);
        await listKeys();
        await refreshAudit();
        resolve();
      } catch (e) { reject(e); }
    }, { once: true });
  });
}

// ---------- audit ----------

async function refreshAudit() {
  for (;;) {
    const data = await api("/v1/audit?limit=1000&from=" + state.auditNext);
    state.audit.push(...data.entries);
    if (data.next) state.auditNext = data.next;
    if (data.entries.length < 1000) break;
  }
  state.audit = state.audit.slice(-100);
  const body = $("audit-table").tBodies[0];
  body.replaceChildren(...[...state.audit].reverse().map((e) => el("tr", {},
    el("th", { scope: "row", text: String(e.seq) }),
    el("td", { class: "num", text: String(e.revision) }),
    el("td", { text: fmtTime(e.time_ms) }),
    el("td", { text: e.actor }),
    el("td", { text: e.op }),
    el("td", { text: e.key }))));
}

// ---------- start ----------

function report(e) {
  if (e instanceof AuthError) return;
  showError(String(e.message || e));
}

async function loadAll() {
  showError("");
  try {
    const h = await api("/v1/cluster/history");
    state.points = h.points;
    renderCharts();
    await Promise.all([listKeys(), refreshAudit()]);
  } catch (e) {
    report(e);
  }
  stream();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("token").value.trim();
  if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
  $("token").value = "";
  $("token").placeholder = t ? "token set for this tab" : "if the node uses tokens";
  loadAll();
});
$("kv-form").addEventListener("submit", (ev) => { ev.preventDefault(); listKeys().catch(report); });
$("diff-form").addEventListener("submit", (ev) => { ev.preventDefault(); renderDiff(); });
$("chart-scope").addEventListener("change", renderCharts);
$("audit-refresh").addEventListener("click", () => refreshAudit().catch(report));
if (token()) $("token").placeholder = "token set for this tab";
loadAll();
