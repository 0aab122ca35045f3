// Vigil console. Plain JavaScript, no dependencies. Every string that comes
// from an alert is put in the page as text (textContent, text nodes), never
// as HTML: alerts carry attacker-controlled command lines and paths.
"use strict";

const PRIORITIES = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];
const FILTERS = ["rule", "priority", "node", "namespace", "pod", "image", "since", "until"];
const state = { role: "", node: "", rules: "", live: null, liveOK: false };

// el builds an element: el("td", {class: "x"}, "text", child...).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "hidden") { e.hidden = true; continue; }
    e.setAttribute(k, String(v));
  }
  for (const k of kids) {
    if (k === undefined || k === null) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function $(id) { return document.getElementById(id); }

async function api(path, opts) {
  opts = opts || {};
  const headers = opts.headers || {};
  if (opts.method === "POST") headers["X-Vigil-Console"] = "1";
  const r = await fetch("/console/api/" + path, { method: opts.method || "GET", headers, body: opts.body, credentials: "same-origin" });
  let data = null;
  const text = await r.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (r.status === 401 && path !== "login") { showLogin(); throw new Error("log in first"); }
  if (!r.ok) throw new Error((data && data.error) || r.statusText);
  return data;
}

function fmtTime(s) {
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toISOString().replace("T", " ").replace("Z", "");
}

function ctrOf(a) { return (a.vigil && a.vigil.container) || null; }

// ---- login --------------------------------------------------------------

function showLogin() {
  stopLive();
  $("nav").hidden = true;
  $("who").hidden = true;
  $("page").replaceChildren();
  $("login").hidden = false;
  $("token").focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    const me = await api("login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: $("token").value }) });
    $("token").value = "";
    loggedIn(me);
  } catch (e) {
    $("login-error").textContent = e.message;
  }
}

function loggedIn(me) {
  state.role = me.role;
  state.node = me.node;
  state.rules = me.rules;
  document.body.dataset.role = me.role;
  $("login").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("role").textContent = me.role;
  $("node").textContent = me.node || "";
  startLive();
  route();
}

async function onLogout() {
  try { await api("logout", { method: "POST" }); } catch (e) { /* shown as the login page */ }
  state.role = "";
  showLogin();
}

// ---- live feed ----------------------------------------------------------

function startLive() {
  stopLive();
  const es = new EventSource("/console/api/live");
  state.live = es;
  es.onopen = () => { state.liveOK = true; setLiveStatus(); };
  es.onerror = () => { state.liveOK = false; setLiveStatus(); };
  es.addEventListener("alert", (m) => {
    let a;
    try { a = JSON.parse(m.data); } catch (e) { return; }
    onLiveAlert(a);
  });
}

function stopLive() {
  if (state.live) { state.live.close(); state.live = null; }
  state.liveOK = false;
}

function setLiveStatus() {
  const s = $("live-status");
  if (s) {
    s.textContent = state.liveOK ? "live" : "reconnecting…";
    s.className = state.liveOK ? "ok" : "muted";
  }
}

// ---- routing ------------------------------------------------------------

function route() {
  if (!state.role) return;
  const h = location.hash || "#/alerts";
  const [path, qs] = h.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === "#/" + (parts[0] || "alerts"));
  }
  const params = new URLSearchParams(qs || "");
  const page = $("page");
  page.replaceChildren();
  delete page.dataset.loaded;
  const show = {
    alerts: () => alertsPage(page, params),
    alert: () => alertPage(page, decodeURIComponent(parts[1] || "")),
    rules: () => rulesPage(page),
    nodes: () => nodesPage(page),
    posture: () => posturePage(page),
    images: () => imagesPage(page),
  }[parts[0] || "alerts"];
  (show || (() => alertsPage(page, params)))().catch((e) => page.append(el("p", { class: "error", id: "page-error" }, e.message)));
}

// ---- alerts -------------------------------------------------------------

let currentFilter = null;

function alertRow(a) {
  const c = ctrOf(a);
  const p = (a.vigil && a.vigil.process && a.vigil.process[0]) || null;
  const tr = el("tr", { class: "alert-row", "data-uuid": a.uuid },
    el("td", { class: "mono" }, fmtTime(a.time)),
    el("td", { class: "p-" + a.priority }, a.priority),
    el("td", { class: "rule" }, a.rule),
    el("td", {}, a.hostname),
    el("td", { class: "mono" }, c ? (c.name || c.id) : "host"),
    el("td", {}, c && c.pod_name ? c.pod_namespace + "/" + c.pod_name : ""),
    el("td", { class: "mono" }, c ? c.image : ""),
    el("td", { class: "mono" }, p ? p.comm : ""),
    el("td", { class: "mono output" }, a.output));
  tr.addEventListener("click", () => { location.hash = "#/alert/" + encodeURIComponent(a.uuid); });
  return tr;
}

function matches(a, f) {
  const c = ctrOf(a) || {};
  if (f.rule && a.rule !== f.rule) return false;
  if (f.node && a.hostname !== f.node) return false;
  if (f.namespace && c.pod_namespace !== f.namespace) return false;
  if (f.pod && c.pod_name !== f.pod) return false;
  if (f.image && c.image !== f.image) return false;
  if (f.priority && PRIORITIES.indexOf(a.priority) > PRIORITIES.indexOf(f.priority)) return false;
  if (f.until) return false; // a closed time range gets no new alerts
  return true;
}

function onLiveAlert(a) {
  const tbody = $("alerts-body");
  if (!tbody || !currentFilter || !matches(a, currentFilter)) return;
  const row = alertRow(a);
  row.classList.add("fresh");
  const old = tbody.querySelector('tr[data-uuid="' + CSS.escape(a.uuid) + '"]');
  if (old) old.replaceWith(row); else tbody.prepend(row);
  const n = $("alerts-count");
  if (n) n.textContent = String(tbody.children.length);
}

async function alertsPage(page, params) {
  const f = {};
  for (const k of FILTERS) f[k] = params.get(k) || "";
  currentFilter = f;
  const inputs = {};
  const form = el("form", { class: "filters", id: "filters" });
  for (const k of FILTERS) {
    let input;
    if (k === "priority") {
      input = el("select", { id: "f-priority" }, el("option", { value: "" }, "any"));
      for (const p of PRIORITIES) input.append(el("option", { value: p }, p + " or worse"));
    } else {
      input = el("input", { id: "f-" + k, type: "text", size: k === "since" || k === "until" ? 10 : 16,
        placeholder: k === "since" ? "1h, 7d, RFC 3339" : "" });
    }
    input.value = f[k];
    inputs[k] = input;
    form.append(el("label", {}, k, input));
  }
  form.append(el("button", { id: "apply", type: "submit" }, "Filter"));
  form.append(el("button", { id: "clear", type: "button" }, "Clear"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const k of FILTERS) if (inputs[k].value.trim()) q.set(k, inputs[k].value.trim());
    location.hash = "#/alerts" + (q.toString() ? "?" + q : "");
  });
  form.querySelector("#clear").addEventListener("click", () => { location.hash = "#/alerts"; });
  const status = el("span", { id: "live-status", class: "muted" }, "");
  page.append(el("h1", {}, "Alerts ", el("small", { class: "muted" }, "(", el("span", { id: "alerts-count" }, "…"), " shown, newest first) "), status), form);
  setLiveStatus();
  const tbody = el("tbody", { id: "alerts-body" });
  page.append(el("table", { id: "alerts" }, el("thead", {}, el("tr", {},
    ...["time", "priority", "rule", "node", "container", "pod", "image", "process", "output"].map((h) => el("th", {}, h)))), tbody));
  const q = new URLSearchParams();
  for (const k of FILTERS) if (f[k]) q.set(k, f[k]);
  q.set("limit", "200");
  const as = await api("alerts?" + q);
  for (const a of as) tbody.append(alertRow(a));
  $("alerts-count").textContent = String(as.length);
  page.dataset.loaded = "1";
  window.vigilRenderedAt = performance.now(); // the first-paint benchmark reads it
}

async function alertPage(page, uuid) {
  const d = await api("alerts/" + encodeURIComponent(uuid));
  const a = d.alert, inc = d.incident, c = ctrOf(a);
  page.append(el("p", {}, el("a", { href: "#/alerts" }, "← alerts")));
  page.append(el("h1", { id: "d-rule" }, a.rule));
  const dl = el("dl", { id: "d-summary" });
  const add = (k, v, cls) => dl.append(el("dt", {}, k), el("dd", { class: cls }, v));
  add("time", fmtTime(a.time), "mono");
  add("priority", a.priority, "p-" + a.priority);
  add("node", a.hostname);
  add("output", a.output, "mono");
  add("count", a.vigil ? a.vigil.count : 1);
  if (a.vigil && a.vigil.action) add("action", a.vigil.action);
  add("tags", (a.tags || []).join(", "));
  add("uuid", a.uuid, "mono");
  page.append(dl);
  page.append(el("h2", {}, "Container and pod"));
  const cdl = el("dl", { id: "d-container" });
  if (c) {
    for (const [k, v] of [["id", c.id], ["name", c.name], ["image", c.image], ["namespace", c.pod_namespace], ["pod", c.pod_name]]) {
      if (v) cdl.append(el("dt", {}, k), el("dd", { class: "mono" }, v));
    }
  } else {
    cdl.append(el("dt", {}, "host"), el("dd", {}, "a host process"));
  }
  page.append(cdl);
  page.append(el("h2", {}, "Process ancestry"));
  const ol = el("ol", { id: "d-ancestry", class: "ancestry" });
  for (const p of (a.vigil && a.vigil.process) || []) {
    ol.append(el("li", { class: "mono" }, p.pid + " " + p.comm + " " + [p.exepath].concat(p.args || []).join(" ")));
  }
  page.append(ol);
  page.append(el("h2", {}, "Incident timeline"));
  if (!inc) {
    page.append(el("p", { id: "d-timeline-none", class: "muted" }, "No incident was recorded for this alert."));
  } else {
    page.append(el("p", { class: "muted", id: "d-timeline-state" }, inc.events.length + " events, " +
      (inc.complete ? "complete" : "after window still open") + (inc.truncated ? ", truncated" : "")));
    const t0 = Date.parse(a.time) * 1e6; // ns (to ms precision: the offsets are shown in ms)
    const tb = el("tbody", {});
    for (const e of inc.events) {
      const off = (e.time - t0) / 1e9;
      tb.append(el("tr", { class: e.alert ? "ev ev-alert" : "ev" },
        el("td", { class: "mono" }, (off >= 0 ? "+" : "") + off.toFixed(3) + "s"),
        el("td", { class: "mono" }, e.pid),
        el("td", { class: "mono" }, e.comm),
        el("td", {}, e.type),
        el("td", { class: "mono what" }, e.what),
        el("td", { class: "mono" }, e.ret < 0 ? e.ret : "")));
    }
    page.append(el("table", { id: "d-timeline" }, el("thead", {}, el("tr", {},
      ...["when", "pid", "process", "event", "what", "error"].map((h) => el("th", {}, h)))), tb));
  }
  page.dataset.loaded = "1";
}

// ---- rules --------------------------------------------------------------

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#6b7280"];

async function rulesPage(page) {
  page.append(el("h1", {}, "Rule hits, last 24 hours"));
  if (state.role === "admin" && state.rules === "push") {
    // The hub: a rule file, compiled with the default rules, then pushed
    // to every node as the next bundle version.
    const name = el("input", { id: "push-name", type: "text", value: "site.yaml", "aria-label": "rule file name" });
    const text = el("textarea", { id: "push-rules", rows: "8", cols: "80", spellcheck: "false", "aria-label": "rule file" });
    const btn = el("button", { id: "push-btn", type: "button" }, "Push to every node");
    const out = el("pre", { id: "push-result" });
    btn.addEventListener("click", async () => {
      out.textContent = "…";
      try {
        const r = await api("rules?name=" + encodeURIComponent(name.value), { method: "POST", body: text.value });
        out.className = "ok"; out.textContent = r.result;
      } catch (e) { out.className = "error"; out.textContent = e.message; }
    });
    page.append(el("div", { id: "push-form" }, el("p", {}, "Rule file ", name), text, el("p", {}, btn), out));
  } else if (state.role === "admin") {
    const btn = el("button", { id: "reload-rules", type: "button" }, "Reload rules");
    const out = el("span", { id: "reload-result" });
    btn.addEventListener("click", async () => {
      out.textContent = "…";
      try { const r = await api("rules", { method: "POST" }); out.className = "ok"; out.textContent = r.result; }
      catch (e) { out.className = "error"; out.textContent = e.message; }
    });
    page.append(el("p", {}, btn, " ", out));
  }
  const d = await api("hits?since=24h&step=1h");
  const rules = d.rules.slice(0, COLORS.length - 1);
  if (d.rules.length > rules.length) {
    const rest = { rule: "other rules", counts: d.rules[0].counts.map(() => 0) };
    for (const r of d.rules.slice(rules.length)) r.counts.forEach((c, i) => { rest.counts[i] += c; });
    rules.push(rest);
  }
  const n = rules.length ? rules[0].counts.length : 24;
  const totals = new Array(n).fill(0);
  for (const r of rules) r.counts.forEach((c, i) => { totals[i] += c; });
  const max = Math.max(1, ...totals);
  const W = 960, H = 240, bw = W / n;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 " + W + " " + (H + 20));
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "hits");
  const base = new Array(n).fill(0);
  rules.forEach((r, ri) => {
    r.counts.forEach((c, i) => {
      if (!c) return;
      const h = (c / max) * H;
      const rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", String(i * bw + 1));
      rect.setAttribute("y", String(H - base[i] - h));
      rect.setAttribute("width", String(Math.max(1, bw - 2)));
      rect.setAttribute("height", String(h));
      rect.setAttribute("fill", COLORS[ri]);
      const title = document.createElementNS(NS, "title");
      title.textContent = r.rule + ": " + c;
      rect.append(title);
      svg.append(rect);
      base[i] += h;
    });
  });
  const label = document.createElementNS(NS, "text");
  label.setAttribute("x", "0");
  label.setAttribute("y", String(H + 15));
  label.setAttribute("font-size", "12");
  label.textContent = "max " + max + " per hour; from " + fmtTime(d.since);
  svg.append(label);
  page.append(svg);
  const legend = el("p", { class: "legend", id: "hits-legend" });
  rules.forEach((r, i) => {
    const sw = el("span", { class: "swatch" });
    sw.style.background = COLORS[i];
    legend.append(el("span", {}, sw, r.rule + " (" + r.counts.reduce((x, y) => x + y, 0) + ")"));
  });
  page.append(legend);
  page.dataset.loaded = "1";
}

// ---- nodes --------------------------------------------------------------

async function nodesPage(page) {
  page.append(el("h1", {}, "Nodes"));
  const ns = await api("nodes");
  const tb = el("tbody", {});
  for (const n of ns) {
    const lost = Object.entries(n.lost_by_reason || {}).map(([k, v]) => k + "=" + v).join(" ");
    tb.append(el("tr", {}, el("td", {}, n.name), el("td", { class: n.alive ? "ok" : "error" }, n.alive ? "alive" : "silent"),
      el("td", { class: "mono" }, fmtTime(n.last_seen)), el("td", {}, n.version), el("td", {}, n.rules), el("td", {}, n.policies),
      el("td", {}, n.events_per_sec.toFixed(1)), el("td", {}, n.lost + (lost ? " (" + lost + ")" : "")),
      el("td", {}, (n.rss_bytes / 1048576).toFixed(1) + " MiB")));
  }
  page.append(el("table", { id: "nodes" }, el("thead", {}, el("tr", {},
    ...["node", "state", "last seen", "version", "rules", "policies", "events/s", "lost events", "RSS"].map((h) => el("th", {}, h)))), tb));
  page.dataset.loaded = "1";
}

// ---- posture, compliance, images ---------------------------------------

function uploadForm(kinds) {
  if (state.role !== "admin") return null;
  const kind = el("select", { id: "upload-kind" }, ...kinds.map((k) => el("option", { value: k[0] }, k[1])));
  const file = el("input", { id: "upload-file", type: "file", accept: ".json,application/json" });
  const out = el("span", { id: "upload-result" });
  const form = el("form", { id: "upload", class: "card" }, "Upload a result: ", kind, " ", file, " ", el("button", { type: "submit" }, "Upload"), " ", out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!file.files.length) return;
    const f = file.files[0];
    try {
      await api("reports?kind=" + encodeURIComponent(kind.value) + "&name=" + encodeURIComponent(f.name),
        { method: "POST", headers: { "Content-Type": "application/json" }, body: await f.text() });
      route();
    } catch (err) { out.className = "error"; out.textContent = err.message; }
  });
  return form;
}

async function posturePage(page) {
  page.append(el("h1", {}, "Posture and compliance"));
  const up = uploadForm([["posture", "vigil k8s audit -f json"], ["compliance", "vigil compliance report -f json"]]);
  if (up) page.append(up);
  const [pos, comp] = await Promise.all([api("reports?kind=posture"), api("reports?kind=compliance")]);
  page.append(el("h2", {}, "Posture findings"));
  const latest = pos[0];
  if (!latest) page.append(el("p", { class: "muted", id: "posture-none" }, "No `vigil k8s audit` result uploaded yet."));
  else if (latest.error) page.append(el("p", { class: "error" }, latest.name + ": " + latest.error));
  else {
    const r = latest.result;
    page.append(el("p", { class: "muted" }, latest.name + ", uploaded " + fmtTime(latest.time) + ": " + r.objects + " objects, " +
      Object.entries(r.summary || {}).map(([k, v]) => k + " " + v).join(", ")));
    const tb = el("tbody", {});
    for (const f of r.findings || []) {
      const o = f.object || {};
      tb.append(el("tr", {}, el("td", { class: "p-" + sevClass(f.severity) }, f.severity), el("td", { class: "mono" }, f.check_id),
        el("td", {}, f.title), el("td", { class: "mono" }, o.kind + " " + (o.namespace ? o.namespace + "/" : "") + o.name),
        el("td", {}, f.message)));
    }
    page.append(el("table", { id: "posture" }, el("thead", {}, el("tr", {}, ...["severity", "check", "title", "object", "message"].map((h) => el("th", {}, h)))), tb));
  }
  page.append(el("h2", {}, "Compliance"));
  if (!comp.length) page.append(el("p", { class: "muted", id: "compliance-none" }, "No `vigil compliance report` result uploaded yet."));
  for (const c of comp.slice(0, 3)) {
    if (c.error) { page.append(el("p", { class: "error" }, c.name + ": " + c.error)); continue; }
    const r = c.result;
    page.append(el("p", {}, el("strong", {}, r.name + " " + r.version), " — " +
      Object.entries(r.summary || {}).map(([k, v]) => k + " " + v).join(", ") + " (uploaded " + fmtTime(c.time) + ")"));
    const tb = el("tbody", {});
    for (const res of r.results || []) {
      tb.append(el("tr", {}, el("td", { class: "mono" }, res.control.id), el("td", {}, res.control.title),
        el("td", { class: "status-" + res.status }, res.status), el("td", {}, (res.findings || []).length)));
    }
    page.append(el("table", { class: "compliance" }, el("thead", {}, el("tr", {}, ...["control", "title", "status", "findings"].map((h) => el("th", {}, h)))), tb));
  }
  page.dataset.loaded = "1";
}

function sevClass(s) {
  return { critical: "Critical", high: "Error", medium: "Warning", low: "Notice" }[String(s).toLowerCase()] || "Notice";
}

async function imagesPage(page) {
  page.append(el("h1", {}, "Image findings"));
  const up = uploadForm([["image", "vigil image scan -f json"]]);
  if (up) page.append(up);
  const reps = await api("reports?kind=image");
  if (!reps.length) page.append(el("p", { class: "muted", id: "images-none" }, "No `vigil image scan` result uploaded yet."));
  const tb = el("tbody", {});
  for (const rep of reps) {
    if (rep.error) { page.append(el("p", { class: "error" }, rep.name + ": " + rep.error)); continue; }
    for (const t of rep.result) {
      for (const f of t.findings || []) {
        const p = f.package || {};
        tb.append(el("tr", {}, el("td", { class: "mono" }, t.target), el("td", { class: "p-" + sevClass(f.severity) }, f.severity),
          el("td", { class: "mono" }, f.id), el("td", { class: "mono" }, p.name + " " + p.version),
          el("td", { class: "mono" }, (f.fixed_versions || []).join(", ")), el("td", {}, f.summary || "")));
      }
      for (const s of t.secrets || []) {
        tb.append(el("tr", {}, el("td", { class: "mono" }, t.target), el("td", {}, "secret"), el("td", { class: "mono" }, s.rule || s.id || ""),
          el("td", { class: "mono" }, s.path || s.file || ""), el("td", {}, ""), el("td", {}, "")));
      }
    }
  }
  page.append(el("table", { id: "images" }, el("thead", {}, el("tr", {}, ...["image", "severity", "id", "package", "fixed in", "summary"].map((h) => el("th", {}, h)))), tb));
  page.dataset.loaded = "1";
}

// ---- start --------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("login").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  window.addEventListener("hashchange", route);
  try {
    const me = await api("me");
    if (me.role) loggedIn(me); else showLogin();
  } catch (e) {
    showLogin();
  }
});
