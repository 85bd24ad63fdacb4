// Gatehouse dashboard: polls /stats every second and draws what changed.
// /stats reports counters since the start; rates and latency quantiles
// are computed here from the difference between two polls.
"use strict";

const POLL_MS = 1000;     // how often /stats is read
const KEEP_S = 300;       // how much history the sparklines show
const WINDOW_S = 10;      // the window of "last seconds" figures
const TOKEN_KEY = "gatehouse-admin-token";

let token = sessionStorage.getItem(TOKEN_KEY) || "";
const snapshots = [];     // {t: seconds, s: stats}, oldest first
let timer = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// ---- numbers ----

function fmtCount(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(n >= 1e10 ? 0 : 1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + "k";
  return String(Math.round(n));
}

function fmtRate(r) {
  if (r === null || !isFinite(r)) return "–";
  if (r === 0) return "0";
  if (r < 10) return r.toFixed(1);
  return fmtCount(r);
}

function fmtBytes(n) {
  if (n === null || !isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
}

function fmtLatency(s) {
  if (s === null) return "–";
  if (!isFinite(s)) return "> 30 s";
  if (s < 0.001) return (s * 1000).toFixed(2) + " ms";
  if (s < 0.01) return (s * 1000).toFixed(1) + " ms";
  if (s < 1) return Math.round(s * 1000) + " ms";
  return s.toFixed(s < 10 ? 2 : 1) + " s";
}

function plural(n, word, many) {
  return n + " " + (n === 1 ? word : many || word + "s");
}

function fmtAge(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return seconds + "s";
  const m = Math.floor(seconds / 60);
  if (m < 60) return m + "m " + (seconds % 60) + "s";
  const h = Math.floor(m / 60);
  if (h < 48) return h + "h " + (m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}

// ---- history ----

// indexes turns one /stats answer into lookups by key.
function indexes(s) {
  const routes = new Map(), sites = new Map(), servers = new Map();
  for (const site of s.sites) {
    const total = { requests: 0, classes: [0, 0, 0, 0, 0], latency: s.buckets.map(() => 0), bytes: 0 };
    for (const r of site.routes) {
      routes.set(site.name + "\u0000" + r.path, r);
      total.requests += r.requests;
      total.bytes += r.bytes;
      r.classes.forEach((n, i) => { total.classes[i] += n; });
      r.latency.forEach((n, i) => { total.latency[i] += n; });
    }
    sites.set(site.name, total);
  }
  for (const p of s.pools) {
    for (const sv of p.servers) servers.set(p.name + "\u0000" + sv.server, sv);
  }
  const all = { requests: 0, classes: [0, 0, 0, 0, 0], latency: s.buckets.map(() => 0), bytes: 0 };
  for (const t of sites.values()) {
    all.requests += t.requests;
    all.bytes += t.bytes;
    t.classes.forEach((n, i) => { all.classes[i] += n; });
    t.latency.forEach((n, i) => { all.latency[i] += n; });
  }
  return { routes, sites, servers, all };
}

function record(stats) {
  const t = Date.parse(stats.now) / 1000;
  snapshots.push({ t, s: stats, ix: indexes(stats) });
  while (snapshots.length > 2 && t - snapshots[0].t > KEEP_S + 5) snapshots.shift();
}

// past returns the snapshot about `seconds` ago (the oldest one when the
// history is shorter).
function past(seconds) {
  const now = snapshots[snapshots.length - 1].t;
  for (const snap of snapshots) {
    if (now - snap.t <= seconds + 0.5) return snap;
  }
  return snapshots[0];
}

// delta of a counter picked by get between a snapshot and now.
function delta(get, from) {
  const now = snapshots[snapshots.length - 1];
  const a = get(from.ix), b = get(now.ix);
  if (!b) return null;
  const dt = now.t - from.t;
  return { a, b, dt };
}

function rateOf(get, seconds) {
  const d = delta(get, past(seconds));
  if (!d || d.dt <= 0) return null;
  const before = d.a ? d.a.requests : 0;
  return Math.max(0, d.b.requests - before) / d.dt;
}

function bytesRateOf(get, seconds) {
  const d = delta(get, past(seconds));
  if (!d || d.dt <= 0) return null;
  return Math.max(0, d.b.bytes - (d.a ? d.a.bytes : 0)) / d.dt;
}

// quantile of the latencies of the last `seconds`: linear within the
// histogram bucket that holds it.
function quantileOf(get, q, seconds) {
  const d = delta(get, past(seconds));
  if (!d) return null;
  const buckets = snapshots[snapshots.length - 1].s.buckets;
  const cum = d.b.latency.map((n, i) => n - (d.a ? d.a.latency[i] : 0));
  const total = d.b.requests - (d.a ? d.a.requests : 0);
  if (total <= 0) return null;
  const target = q * total;
  for (let i = 0; i < buckets.length; i++) {
    if (cum[i] >= target) {
      const lower = i === 0 ? 0 : buckets[i - 1];
      const below = i === 0 ? 0 : cum[i - 1];
      const inside = cum[i] - below;
      const frac = inside > 0 ? (target - below) / inside : 1;
      return lower + (buckets[i] - lower) * frac;
    }
  }
  return Infinity;
}

// series of per-interval rates over the kept history, for a sparkline.
function seriesOf(get) {
  const out = [];
  for (let i = 1; i < snapshots.length; i++) {
    const a = get(snapshots[i - 1].ix), b = get(snapshots[i].ix);
    const dt = snapshots[i].t - snapshots[i - 1].t;
    out.push(b && dt > 0 ? Math.max(0, b.requests - (a ? a.requests : 0)) / dt : 0);
  }
  return out;
}

// ---- drawing ----

const SVG = "http://www.w3.org/2000/svg";

function sparkline(svg, values, bad) {
  svg.replaceChildren();
  svg.classList.toggle("bad", !!bad);
  const w = 300, h = 60;
  if (values.length < 2) return svg;
  const max = Math.max(...values, 1e-9);
  const step = w / (values.length - 1);
  const pts = values.map((v, i) => (i * step).toFixed(1) + "," + (h - 2 - (v / max) * (h - 6)).toFixed(1));
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("points", "0," + h + " " + pts.join(" ") + " " + w + "," + h);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(area, line);
  return svg;
}

function smallSpark(values, bad) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 300 60");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  return sparkline(svg, values, bad);
}

function classBar(classes) {
  const total = classes.reduce((a, b) => a + b, 0);
  const bar = el("div", { class: "classes", title: classes.map((n, i) => (i + 1) + "xx: " + n).join("  ") });
  if (total > 0) {
    classes.forEach((n, i) => {
      if (n === 0) return;
      const part = el("span", { class: "c" + (i + 1) });
      part.style.width = (100 * n / total).toFixed(2) + "%";
      bar.append(part);
    });
  }
  const legend = el("div", { class: "legend" },
    classes.map((n, i) => n > 0 ? (i + 1) + "xx " + fmtCount(n) : "").filter(Boolean).join("  ") || "no requests");
  return el("div", {}, bar, legend);
}

function stateBadge(state) {
  const kind = state.startsWith("down") ? "down" : state === "full" ? "full" : "up";
  return el("span", { class: "badge " + kind }, state);
}

function draw() {
  const now = snapshots[snapshots.length - 1];
  const s = now.s;
  const started = Date.parse(s.started) / 1000;
  $("uptime").textContent = fmtAge(now.t - started);
  const loaded = Date.parse(s.config.loaded_at) / 1000;
  $("loaded").textContent = isFinite(loaded) && loaded > 0 ? fmtAge(now.t - loaded) + " ago" : "–";
  $("reloads").textContent = s.config.reloads + (s.config.failed ? " (" + s.config.failed + " failed)" : "");
  const banner = $("reload-error");
  banner.hidden = !s.config.last_error;
  banner.textContent = s.config.last_error ? "The last reload failed; the running config stays: " + s.config.last_error : "";

  const all = (ix) => ix.all;
  const rate = rateOf(all, 2);
  $("total-rate").textContent = fmtRate(rate);
  sparkline($("total-spark"), seriesOf(all));
  $("total-requests").textContent = fmtCount(now.ix.all.requests);
  $("total-requests").dataset.value = now.ix.all.requests;
  $("total-classes").textContent = now.ix.all.classes.map((n, i) => n ? (i + 1) + "xx " + fmtCount(n) : "").filter(Boolean).join(" · ");
  const win = delta(all, past(WINDOW_S));
  if (win && win.b.requests - (win.a ? win.a.requests : 0) > 0) {
    const n = win.b.requests - (win.a ? win.a.requests : 0);
    const e = win.b.classes[4] - (win.a ? win.a.classes[4] : 0);
    $("error-rate").textContent = (100 * e / n).toFixed(e > 0 && e < n / 100 ? 2 : 1) + " %";
    $("error-rate").classList.toggle("bad-text", e > 0);
  } else {
    $("error-rate").textContent = "–";
  }
  $("latency").textContent = fmtLatency(quantileOf(all, 0.5, WINDOW_S));
  $("latency99").textContent = "p99 " + fmtLatency(quantileOf(all, 0.99, WINDOW_S)) + " · last 10 s";

  const open = s.listeners.reduce((a, l) => a + l.open, 0);
  $("connections").textContent = fmtCount(open);
  $("spool").textContent = "spool " + fmtBytes(s.spool_bytes);
  let servers = 0, up = 0, inflight = 0;
  for (const p of s.pools) for (const sv of p.servers) { servers++; if (sv.up) up++; inflight += sv.in_flight; }
  $("upstreams-up").textContent = servers ? up + " / " + servers : "–";
  $("upstreams-up").classList.toggle("bad-text", up < servers);
  $("in-flight").textContent = plural(inflight, "request") + " in flight";

  drawCache(s);
  drawWAF(s);
  drawDefence(s);
  drawSites(s);
  drawPools(s);
  drawListeners(s);
}

// drawCache shows the share of the cache's requests answered from the
// store over the last seconds, and what it holds.
function drawCache(s) {
  $("cache-card").hidden = !s.cache;
  if (!s.cache) return;
  const served = (r) => r.hit + r.stale + r.revalidated + r.collapsed;
  const total = (r) => served(r) + r.miss;
  const from = past(WINDOW_S).s.cache;
  const now = s.cache.requests;
  let n = total(now) - (from ? total(from.requests) : 0);
  let h = served(now) - (from ? served(from.requests) : 0);
  let when = "last 10 s";
  if (n <= 0) { // nothing lately: since the start
    n = total(now); h = served(now); when = "since start";
  }
  $("cache-hits").textContent = n > 0 ? (100 * h / n).toFixed(1) + " %" : "–";
  let held = when + " · " + plural(s.cache.objects, "object") + " · " + fmtBytes(s.cache.memory_bytes) + " in memory";
  if (s.cache.disk_bytes) held += " · " + fmtBytes(s.cache.disk_bytes) + " on disk";
  $("cache-held").textContent = held;
}

// drawWAF shows the requests the WAF blocked over the last seconds (or
// since the start when none came lately), with what it detected and the
// virtual patches in force.
function drawWAF(s) {
  $("waf-card").hidden = !s.waf;
  if (!s.waf) return;
  const sum = (r) => r.pass + r.block + r.detect + r.error;
  const from = past(WINDOW_S).s.waf;
  const now = s.waf.requests;
  let n = sum(now) - (from ? sum(from.requests) : 0);
  let b = now.block - (from ? from.requests.block : 0);
  let d = now.detect - (from ? from.requests.detect : 0);
  let when = "last 10 s";
  if (n <= 0) { // nothing lately: since the start
    n = sum(now); b = now.block; d = now.detect; when = "since start";
  }
  $("waf-blocked").textContent = fmtCount(b);
  $("waf-blocked").classList.toggle("bad-text", b > 0);
  $("waf-detail").textContent = when + " · of " + plural(n, "request") + " · " + d + " detected · " +
    plural(s.waf.patches, "patch", "patches");
}

// drawDefence shows what the traffic defences refused over the last
// seconds (or since the start when nothing lately), by reason, and the
// bans in force; hidden until something was refused or banned.
function drawDefence(s) {
  const d = s.defence;
  const total = (r) => Object.values(r || {}).reduce((a, b) => a + b, 0);
  const shown = !!d && (total(d.refused) > 0 || d.active_bans > 0);
  $("defence-card").hidden = !shown;
  if (!shown) return;
  const from = past(WINDOW_S).s.defence;
  const recent = {};
  for (const [k, v] of Object.entries(d.refused)) recent[k] = v - ((from && from.refused[k]) || 0);
  let by = recent, when = "last 10 s";
  if (total(recent) <= 0) { by = d.refused; when = "since start"; }
  const parts = Object.entries(by).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => fmtCount(v) + " " + k);
  $("defence-refused").textContent = fmtCount(total(by));
  $("defence-detail").textContent = [when].concat(parts, [plural(d.active_bans, "ban")]).join(" · ");
}

function drawSites(s) {
  const body = $("sites").tBodies[0];
  const rows = [];
  for (const site of s.sites) {
    const sget = (ix) => ix.sites.get(site.name);
    const total = snapshots[snapshots.length - 1].ix.sites.get(site.name);
    rows.push(el("tr", { class: "group", "data-site": site.name },
      el("td", {}, site.name, el("span", { class: "count" }, plural(site.routes.filter((r) => r.path !== "").length, "route"))),
      el("td", { class: "num" }, fmtRate(rateOf(sget, 2))),
      el("td", { class: "spark-cell" }, smallSpark(seriesOf(sget))),
      el("td", { class: "num" }, fmtCount(total.requests)),
      el("td", {}, classBar(total.classes)),
      el("td", { class: "num" }, fmtLatency(quantileOf(sget, 0.5, WINDOW_S))),
      el("td", { class: "num" }, fmtLatency(quantileOf(sget, 0.99, WINDOW_S))),
      el("td", { class: "num" }, fmtBytes(bytesRateOf(sget, 2)) + "/s")));
    for (const r of site.routes) {
      if (r.path === "" && r.requests === 0) continue;
      const key = site.name + "\u0000" + r.path;
      const rget = (ix) => ix.routes.get(key);
      rows.push(el("tr", { class: "child", "data-route": r.path },
        el("td", {}, r.path === "" ? "(no route)" : r.path),
        el("td", { class: "num" }, fmtRate(rateOf(rget, 2))),
        el("td", { class: "spark-cell" }, smallSpark(seriesOf(rget), r.classes[4] > 0 && r.classes[4] >= r.requests / 2)),
        el("td", { class: "num", "data-requests": r.requests }, fmtCount(r.requests)),
        el("td", {}, classBar(r.classes)),
        el("td", { class: "num" }, fmtLatency(quantileOf(rget, 0.5, WINDOW_S))),
        el("td", { class: "num" }, fmtLatency(quantileOf(rget, 0.99, WINDOW_S))),
        el("td", { class: "num" }, fmtBytes(bytesRateOf(rget, 2)) + "/s")));
    }
  }
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 8 }, "no sites")));
  body.replaceChildren(...rows);
}

function drawPools(s) {
  const body = $("pools").tBodies[0];
  const rows = [];
  for (const p of s.pools) {
    const up = p.servers.filter((sv) => sv.up).length;
    rows.push(el("tr", { class: "group" },
      el("td", { colspan: 10 }, p.name, el("span", { class: "count" }, up + " of " + p.servers.length + " up"))));
    for (const sv of p.servers) {
      const key = p.name + "\u0000" + sv.server;
      const get = (ix) => ix.servers.get(key);
      rows.push(el("tr", { class: "child", "data-server": sv.server },
        el("td", {}, sv.server),
        el("td", {}, stateBadge(sv.state)),
        el("td", { class: "num" }, sv.in_flight),
        el("td", { class: "num" }, fmtRate(rateOf(get, 2))),
        el("td", { class: "spark-cell" }, smallSpark(seriesOf(get), !sv.up)),
        el("td", { class: "num" }, fmtCount(sv.requests)),
        el("td", { class: "num" + (sv.errors ? " bad-text" : "") }, fmtCount(sv.errors)),
        el("td", { class: "num" + (sv.failures ? " bad-text" : "") }, fmtCount(sv.failures)),
        el("td", { class: "num" }, fmtLatency(quantileOf(get, 0.5, WINDOW_S))),
        el("td", { class: "num" }, fmtLatency(quantileOf(get, 0.99, WINDOW_S)))));
    }
  }
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 10 }, "no upstream pools")));
  body.replaceChildren(...rows);
}

function drawListeners(s) {
  const rows = s.listeners.map((l) => el("tr", {},
    el("td", {}, l.addr),
    el("td", {}, l.scheme),
    el("td", { class: "num" }, fmtCount(l.open)),
    el("td", { class: "num" }, l.scheme === "https" ? fmtCount(l.handshakes_ok) : "–"),
    el("td", { class: "num" + (l.handshakes_failed ? " bad-text" : "") }, l.scheme === "https" ? fmtCount(l.handshakes_failed) : "–")));
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 5 }, "no listeners")));
  $("listeners").tBodies[0].replaceChildren(...rows);
}

// ---- polling ----

function setStatus(kind, text) {
  $("status-dot").className = "dot " + kind;
  $("status-text").textContent = text;
}

async function poll() {
  timer = null;
  try {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const res = await fetch("../stats", { headers, cache: "no-store" });
    if (res.status === 401) {
      setStatus("bad", "admin token needed");
      $("token-form").hidden = false;
      $("token-input").focus();
      return;
    }
    if (!res.ok) throw new Error(res.status + " " + res.statusText);
    record(await res.json());
    draw();
    setStatus("ok", "live");
  } catch (err) {
    setStatus("bad", "cannot reach Gatehouse (" + err.message + ")");
  }
  timer = setTimeout(poll, POLL_MS);
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token-input").value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token-form").hidden = true;
  if (!timer) poll();
});

poll();
