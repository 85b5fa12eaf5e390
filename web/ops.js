// The operations dashboard (/ops): signs in with the admin token (kept in this tab's
// sessionStorage), polls /status, /metrics, /admin/limits, /admin/alarms and /admin/ab every
// 2 s, draws the last 5 minutes with uPlot, and drives the runbook's switches and the
// simulated models' chaos through the admin API (docs/operations.md, docs/api.md).
"use strict";

(() => {
  const kTokenKey = "mangaassist.ops.token";
  const kPrevRetryKey = "mangaassist.ops.retry_before_brake";
  const kPollMs = 2000;
  const kKeepPoints = 150;  // 5 minutes at one point every 2 s
  const kDefaultRetryAttempts = 3;  // config/default.toml [retry] max_attempts

  const $ = (id) => document.getElementById(id);
  let token = "";
  let pollTimer = null;
  let polling = false;
  let flags = null;      // the last flag set seen (PATCH answers and /status)
  let lanes = [];        // model lanes, in cascade order (from /status)
  let prevMetrics = null;  // {t, m} of the previous poll, for counter deltas

  // ---- The log every action writes to (aria-live) ----
  function log(message, ok = true) {
    const li = document.createElement("li");
    li.className = ok ? "ok" : "error";
    const time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString();
    li.append(time, " ", message);
    const list = $("ops-log");
    list.prepend(li);
    while (list.children.length > 50) list.lastElementChild.remove();
  }

  // ---- HTTP ----
  // Resolves {status, body} (body: parsed JSON, or text for /metrics); a network failure
  // resolves status 0 with the reason.
  async function api(method, path, body) {
    const headers = { "Authorization": "Bearer " + token, "Accept": "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: { error: "network", message: "the server did not answer: " + e.message } };
    }
    const text = await res.text();
    const type = res.headers.get("Content-Type") || "";
    let parsed = text;
    if (type.includes("json")) {
      try { parsed = JSON.parse(text); } catch { parsed = { error: "bad_json", message: text.slice(0, 200) }; }
    }
    return { status: res.status, body: parsed };
  }

  function errorText(r) {
    if (r.body && typeof r.body === "object" && r.body.message) {
      return `${r.status} ${r.body.error || ""}: ${r.body.message}`;
    }
    return `HTTP ${r.status}`;
  }

  // ---- Sign in / out ----
  function showLogin(message) {
    stopPolling();
    token = "";
    sessionStorage.removeItem(kTokenKey);
    $("dashboard").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("login-token").focus();
  }

  async function signIn(candidate, fromStorage) {
    token = candidate;
    const r = await api("GET", "/admin/flags");
    if (r.status === 200) {
      sessionStorage.setItem(kTokenKey, candidate);
      flags = r.body;
      $("login").hidden = true;
      $("login-error").textContent = "";
      $("dashboard").hidden = false;
      $("logout").hidden = false;
      log("signed in");
      startPolling();
      return;
    }
    let message;
    if (r.status === 401) {
      message = fromStorage ? "Your session's token is no longer accepted: sign in again."
                            : "Wrong admin token: the server refused it (401).";
    } else if (r.status === 403) {
      message = "The admin API is off on this server (403): set MANGAASSIST_ADMIN_TOKEN or server.admin_token.";
    } else {
      message = "Could not sign in: " + errorText(r);
    }
    showLogin(message);
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("login-token").value.trim();
    if (!value) {
      $("login-error").textContent = "Enter the admin token.";
      return;
    }
    $("login-token").value = "";
    signIn(value, false);
  });

  $("logout").addEventListener("click", () => {
    showLogin("Signed out.");
  });

  // ---- Prometheus text -> {name: [{labels, value}]} ----
  function parseLabels(s) {
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let m;
    while ((m = re.exec(s)) !== null) {
      labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    return labels;
  }

  function parseMetrics(text) {
    const out = new Map();
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/);
      if (!m) continue;
      const value = Number(m[3]);
      if (!Number.isFinite(value)) continue;
      if (!out.has(m[1])) out.set(m[1], []);
      out.get(m[1]).push({ labels: m[2] ? parseLabels(m[2]) : {}, value });
    }
    return out;
  }

  // Sum of a metric's samples by one label (or "" for all): Map key -> value.
  function sumBy(m, name, label) {
    const out = new Map();
    for (const s of m.get(name) || []) {
      const key = label ? (s.labels[label] || "") : name;
      out.set(key, (out.get(key) || 0) + s.value);
    }
    return out;
  }

  // Per-second rates of a counter summed by label, from the previous poll (null before).
  function rateBy(cur, prev, dt, name, label, scale = 1) {
    const out = new Map();
    const now = sumBy(cur, name, label);
    const before = prev ? sumBy(prev, name, label) : null;
    for (const [k, v] of now) {
      if (!before || dt <= 0) { out.set(k, null); continue; }
      const delta = v - (before.get(k) || 0);
      out.set(k, delta < 0 ? null : (delta / dt) * scale);  // a reset: no point
    }
    return out;
  }

  function prefixed(map, prefix) {
    const out = new Map();
    for (const [k, v] of map) out.set(prefix + k, v);
    return out;
  }

  // ---- Charts ----
  const palette = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#e67e22", "#16a085",
                   "#7f8c8d", "#d35400", "#2c3e50", "#f39c12"];

  // Each chart: its figure id, what it computes from a poll, and an optional second axis
  // for keys in `right` (drawn on the right).
  const charts = [
    { id: "chart-tiers", compute: (c, p, dt) => rateBy(c, p, dt, "mangaassist_replies_total", "tier") },
    { id: "chart-errors", compute: (c, p, dt) => rateBy(c, p, dt, "mangaassist_model_errors_total", "error_code") },
    { id: "chart-breakers", range: [0, 2.2], compute: (c) => sumBy(c, "mangaassist_breaker_state", "model") },
    { id: "chart-limiter", compute: (c) => sumBy(c, "mangaassist_adaptive_rate", "model") },
    { id: "chart-retries", compute: (c, p, dt) => new Map([
        ...prefixed(rateBy(c, p, dt, "mangaassist_retries_total", "model"), "retries "),
        ...prefixed(rateBy(c, p, dt, "mangaassist_retry_refusals_total", "reason"), "refused: ")]) },
    { id: "chart-budget", compute: (c) => sumBy(c, "mangaassist_retry_quota_available", "model") },
    { id: "chart-ratelimit", right: ["queue depth"], compute: (c) => {
        const u = sumBy(c, "mangaassist_ratelimit_utilization", "");
        const q = sumBy(c, "mangaassist_queue_depth", "");
        const out = new Map();
        if (u.size) out.set("utilization %", [...u.values()][0] * 100);
        if (q.size) out.set("queue depth", [...q.values()][0]);
        return out;
      } },
    { id: "chart-cache", compute: (c, p, dt) => {
        const hits = rateBy(c, p, dt, "mangaassist_cache_hits_total", "");
        const stale = rateBy(c, p, dt, "mangaassist_cache_stale_serves_total", "");
        return new Map([["cache serves", [...hits.values()][0] ?? null],
                        ["stale serves", [...stale.values()][0] ?? null]]);
      } },
    { id: "chart-priceguard", compute: (c, p, dt) => {
        const m = rateBy(c, p, dt, "mangaassist_price_guard_mismatches_total", "", 60);
        return new Map([["mismatches", [...m.values()][0] ?? null],
                        ...prefixed(rateBy(c, p, dt, "mangaassist_price_guard_total", "outcome", 60), "checked: ")]);
      } },
    { id: "chart-cost", compute: (c, p, dt) => rateBy(c, p, dt, "mangaassist_model_cost_usd_total", "model", 60) },
  ];

  const times = [];  // seconds since the epoch, one per poll
  for (const ch of charts) { ch.series = new Map(); ch.plot = null; ch.keys = ""; }

  function chartWidth(ch) {
    const box = document.querySelector(`#${ch.id} .plot`);
    return Math.max(240, Math.floor(box.clientWidth || 300));
  }

  function buildPlot(ch) {
    const box = document.querySelector(`#${ch.id} .plot`);
    if (ch.plot) { ch.plot.destroy(); ch.plot = null; }
    box.textContent = "";
    if (typeof uPlot === "undefined") {
      box.textContent = "the chart library (/ops/vendor/uPlot.iife.min.js) is not installed";
      return;
    }
    const keys = [...ch.series.keys()];
    const right = new Set(ch.right || []);
    const axes = [{}, { size: 50 }];
    const scales = { x: { time: true } };
    if (ch.range) scales.y = { range: ch.range };
    if (keys.some((k) => right.has(k))) {
      axes.push({ scale: "right", side: 1, grid: { show: false }, size: 50 });
      scales.right = { auto: true };
    }
    const opts = {
      width: chartWidth(ch), height: 170, scales, axes,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      series: [{}].concat(keys.map((k, i) => ({
        label: k, stroke: palette[i % palette.length], width: 2, spanGaps: false,
        scale: right.has(k) ? "right" : "y",
      }))),
    };
    ch.plot = new uPlot(opts, [times].concat(keys.map((k) => ch.series.get(k))), box);
    ch.keys = keys.join("\u0000");
  }

  function record(cur, prev, dt, t) {
    times.push(t);
    const drop = times.length > kKeepPoints ? times.length - kKeepPoints : 0;
    if (drop) times.splice(0, drop);
    for (const ch of charts) {
      const values = ch.compute(cur, prev, dt);
      for (const [k, v] of values) {
        if (!ch.series.has(k)) ch.series.set(k, new Array(times.length - 1).fill(null));
      }
      let points = 0, nonzero = 0;
      for (const [k, arr] of ch.series) {
        const v = values.has(k) ? values.get(k) : null;
        arr.push(v === null || v === undefined ? null : v);
        if (drop) arr.splice(0, drop);
        for (const x of arr) {
          if (x !== null) { points++; if (x !== 0) nonzero++; }
        }
      }
      const fig = $(ch.id);
      fig.dataset.points = String(points);    // read by tests/browser/ops_dashboard.test.mjs
      fig.dataset.nonzero = String(nonzero);
      const keys = [...ch.series.keys()].join("\u0000");
      if (!ch.plot || keys !== ch.keys) buildPlot(ch);
      else ch.plot.setData([times].concat([...ch.series.values()]));
    }
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const ch of charts) if (ch.plot) ch.plot.setSize({ width: chartWidth(ch), height: 170 });
    }, 150);
  });

  // ---- Panels ----
  function renderState(st) {
    const el = $("ops-state");
    el.className = "state state-" + st.state;
    el.textContent = "";
    const head = document.createElement("strong");
    head.textContent = "State: " + st.state;
    el.append(head);
    if (st.eta_s !== null && st.eta_s !== undefined) el.append(` — back in about ${st.eta_s} s`);
    const details = document.createElement("span");
    details.className = "details";
    const models = (st.model_details || []).map((m) => `${m.name}: ${m.breaker}` +
      (m.availability !== "available" ? ` (${m.availability})` : "")).join(", ");
    const f = st.flags || {};
    details.textContent = ` · models ${models} · retries ${f.RETRY_MAX_ATTEMPTS} · primary ` +
      `${f.PRIMARY_MODEL} · mode ${f.FM_MODE} · in flight ${st.in_flight}` +
      (typeof st.spend_today_usd === "number" ? ` · spend today $${st.spend_today_usd.toFixed(4)}` : "");
    el.append(details);
  }

  function setOptions(select, values) {
    const want = values.join("\u0000");
    if (select.dataset.options === want) return;
    const keep = select.value;
    select.textContent = "";
    for (const v of values) {
      const o = document.createElement("option");
      o.value = v; o.textContent = v;
      select.append(o);
    }
    select.dataset.options = want;
    if (values.includes(keep)) select.value = keep;
  }

  function renderFlags() {
    if (!flags) return;
    const braked = Number(flags.RETRY_MAX_ATTEMPTS) === 0;
    const brake = $("brake");
    brake.setAttribute("aria-pressed", braked ? "true" : "false");
    brake.classList.toggle("on", braked);
    const prev = sessionStorage.getItem(kPrevRetryKey) || String(kDefaultRetryAttempts);
    brake.textContent = braked
      ? `Storm brake ON (RETRY_MAX_ATTEMPTS=0): click to restore ${prev}`
      : `Storm brake off (RETRY_MAX_ATTEMPTS=${flags.RETRY_MAX_ATTEMPTS}): click to stop retries`;
    if (document.activeElement !== $("primary-model")) $("primary-model").value = flags.PRIMARY_MODEL;
    if (document.activeElement !== $("fm-mode")) $("fm-mode").value = flags.FM_MODE;
  }

  function renderAlarms(body) {
    const list = $("alarms");
    list.textContent = "";
    const alarms = (body && body.alarms) || [];
    alarms.sort((a, b) => Number(b.firing) - Number(a.firing));
    if (!alarms.length) {
      const li = document.createElement("li");
      li.className = "quiet";
      li.textContent = "no alarms defined";
      list.append(li);
    }
    for (const a of alarms) {
      const li = document.createElement("li");
      li.className = a.firing ? "firing" : "quiet";
      li.dataset.alarm = a.name;
      const name = document.createElement("strong");
      name.textContent = a.name + (a.subject ? ` (${a.subject})` : "");
      const fmt = (x) => (typeof x === "number" ? Number(x.toPrecision(4)) : x);
      li.append(name, ` ${a.firing ? "FIRING" : "ok"} · ${fmt(a.value)} / ${fmt(a.threshold)}`);
      if (a.firing && a.message) {
        const msg = document.createElement("div");
        msg.className = "message";
        msg.textContent = a.message;
        li.append(msg);
      }
      list.append(li);
    }
  }

  const pct = (x) => (typeof x === "number" ? (x * 100).toFixed(1) + "%" : "–");

  function renderAb(r) {
    const note = $("ab-note");
    const tbody = $("ab-table").querySelector("tbody");
    if (r.status === 404) {
      note.textContent = "No experiment data yet: the A/B comparison (/admin/ab) is not available on this server.";
      note.className = "no-data";
      tbody.textContent = "";
      $("ab-table").hidden = true;
      return;
    }
    if (r.status !== 200 || !r.body || !Array.isArray(r.body.versions)) {
      note.textContent = "The A/B comparison could not be read: " + errorText(r);
      note.className = "error";
      return;
    }
    const b = r.body;
    const split = b.split ? Object.entries(b.split).map(([v, s]) => `${v} ${s}%`).join(", ") : "";
    note.className = "";
    note.textContent = `Split ${split}; a retry is a message again within ${b.retry_window_s} s of a ` +
      `degraded reply; abandoned: no message for ${b.abandon_after_s} s after it.`;
    if (!b.versions.length) note.textContent = "No experiment data yet: no degraded reply so far. " + note.textContent;
    $("ab-table").hidden = false;
    tbody.textContent = "";
    for (const v of b.versions) {
      const tr = document.createElement("tr");
      tr.dataset.version = v.version;
      const fb = v.feedback || {};
      const cells = [
        ["version", v.version], ["users", v.users], ["degraded_replies", v.degraded_replies],
        ["retry_rate", `${pct(v.retry_rate)} (${v.retried_within_60s ?? "–"})`],
        ["abandonment_rate", `${pct(v.abandonment_rate)} (${v.abandoned ?? "–"})`],
        ["left_question", v.left_question], ["helpful", fb.helpful], ["not_helpful", fb.not_helpful],
        ["understood", fb.understood], ["not_understood", fb.not_understood],
      ];
      for (const [col, value] of cells) {
        const td = document.createElement(col === "version" ? "th" : "td");
        if (col === "version") td.scope = "row";
        td.dataset.col = col;
        td.textContent = value === undefined || value === null ? "–" : String(value);
        tr.append(td);
      }
      tbody.append(tr);
    }
  }

  // ---- Polling ----
  async function poll() {
    if (polling || !token) return;
    polling = true;
    try {
      const [st, met, lim, al, ab] = await Promise.all([
        api("GET", "/status"), api("GET", "/metrics"), api("GET", "/admin/limits"),
        api("GET", "/admin/alarms"), api("GET", "/admin/ab")]);
      if (!token) return;  // signed out meanwhile
      if ([st, met, lim, al].some((r) => r.status === 401 || r.status === 403)) {
        showLogin("The server no longer accepts this token: sign in again.");
        return;
      }
      if (st.status === 200 && typeof st.body === "object") {
        renderState(st.body);
        flags = st.body.flags || flags;
        lanes = (st.body.model_details || []).map((m) => m.name);
        setOptions($("primary-model"), lanes);
        setOptions($("chaos-model"), lanes.concat(["all"]));
        renderFlags();
      } else {
        $("ops-state").className = "state state-unknown";
        $("ops-state").textContent = "Status unavailable: " + errorText(st);
      }
      if (met.status === 200 && typeof met.body === "string") {
        const t = Date.now() / 1000;
        const cur = parseMetrics(met.body);
        // /admin/limits carries the queue depth and the global rate in force too; the
        // metrics have the same numbers, so the charts read one source.
        if (lim.status === 200 && lim.body && typeof lim.body.queue_depth === "number" &&
            !cur.has("mangaassist_queue_depth")) {
          cur.set("mangaassist_queue_depth", [{ labels: {}, value: lim.body.queue_depth }]);
        }
        const dt = prevMetrics ? t - prevMetrics.t : 0;
        record(cur, prevMetrics ? prevMetrics.m : null, dt, t);
        prevMetrics = { t, m: cur };
      }
      if (al.status === 200) renderAlarms(al.body);
      renderAb(ab);
    } finally {
      polling = false;
    }
  }

  function startPolling() {
    stopPolling();
    poll();
    pollTimer = setInterval(poll, kPollMs);
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  // ---- Switches ----
  async function patchFlags(change, what) {
    const r = await api("PATCH", "/admin/flags", change);
    if (r.status === 200) {
      flags = r.body;
      renderFlags();
      log(`${what}: ${JSON.stringify(change)} applied`);
      return true;
    }
    log(`${what} failed: ${errorText(r)}`, false);
    renderFlags();
    return false;
  }

  $("brake").addEventListener("click", async () => {
    const b = $("brake");
    b.disabled = true;
    try {
      const fresh = await api("GET", "/admin/flags");
      if (fresh.status === 200) flags = fresh.body;
      const current = flags ? Number(flags.RETRY_MAX_ATTEMPTS) : NaN;
      if (current !== 0) {
        sessionStorage.setItem(kPrevRetryKey, String(current || kDefaultRetryAttempts));
        await patchFlags({ RETRY_MAX_ATTEMPTS: 0 }, "storm brake on");
      } else {
        const saved = sessionStorage.getItem(kPrevRetryKey);
        const restore = saved ? Number(saved) : kDefaultRetryAttempts;
        if (await patchFlags({ RETRY_MAX_ATTEMPTS: restore },
                             saved ? "storm brake off" : "storm brake off (the value before was not known: the default)")) {
          sessionStorage.removeItem(kPrevRetryKey);
          renderFlags();
        }
      }
    } finally {
      b.disabled = false;
    }
  });

  $("primary-model").addEventListener("change", (e) => {
    patchFlags({ PRIMARY_MODEL: e.target.value }, "primary model");
  });
  $("fm-mode").addEventListener("change", (e) => {
    patchFlags({ FM_MODE: e.target.value }, "model mode");
  });

  $("flush-pricing").addEventListener("click", async () => {
    const r = await api("POST", "/admin/cache/flush", { category: "pricing" });
    if (r.status === 200) log(`pricing cache flushed: ${r.body.flushed} entries removed`);
    else log("flushing the pricing cache failed: " + errorText(r), false);
  });

  // A whole number from an input, 0 to max; undefined when blank; NaN when invalid.
  function wholeNumber(input, max) {
    const raw = input.value.trim();
    if (raw === "") return undefined;
    const n = Number(raw);
    return Number.isInteger(n) && n >= 0 && n <= max ? n : NaN;
  }

  $("price-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = $("price-product").value.trim();
    const yen = wholeNumber($("price-yen"), 2000000);
    const stock = wholeNumber($("price-stock"), 2000000);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
      log("price: give a product id such as mg-0014-v21", false);
      return;
    }
    if (Number.isNaN(yen) || Number.isNaN(stock)) {
      log("price: price and stock must be whole numbers, 0 to 2000000", false);
      return;
    }
    if (yen === undefined && stock === undefined) {
      log("price: give a price, a stock, or both", false);
      return;
    }
    const body = {};
    if (yen !== undefined) body.price_jpy = yen;
    if (stock !== undefined) body.stock = stock;
    const r = await api("PUT", "/admin/catalog/products/" + encodeURIComponent(id), body);
    if (r.status === 200) log(`price of ${r.body.id}: ${r.body.price_jpy} yen, stock ${r.body.stock}`);
    else log(`price of ${id} failed: ${errorText(r)}`, false);
  });

  // ---- Chaos ----
  function chaosResult(text, ok) {
    const el = $("chaos-result");
    el.textContent = text;
    el.className = ok ? "ok" : "error";
    log(text, ok);
  }

  $("chaos-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const throttle = wholeNumber($("chaos-throttle"), 100);
    const unknown = wholeNumber($("chaos-unknown"), 100);
    const latency = wholeNumber($("chaos-latency"), 600000);
    const duration = wholeNumber($("chaos-duration"), 86400);
    if ([throttle, unknown].some(Number.isNaN)) return chaosResult("chaos: percentages are whole numbers, 0 to 100", false);
    if (Number.isNaN(latency)) return chaosResult("chaos: latency is whole milliseconds, 0 to 600000", false);
    if (Number.isNaN(duration) || duration === 0) return chaosResult("chaos: duration is whole seconds, 1 to 86400", false);
    const body = {
      model: $("chaos-model").value || "all",
      throttle_rate: (throttle || 0) / 100,
      unknown_error_rate: (unknown || 0) / 100,
      outage: $("chaos-outage").checked,
      latency_ms: latency || 0,
      duration_s: duration === undefined ? 45 : duration,
    };
    const r = await api("POST", "/admin/chaos", body);
    if (r.status === 200) {
      chaosResult(`chaos on ${r.body.applied} for ${r.body.duration_s} s: throttle ${throttle || 0}%, ` +
                  `outage ${body.outage ? "yes" : "no"}, unknown errors ${unknown || 0}%, ` +
                  `latency +${body.latency_ms} ms`, true);
    } else {
      chaosResult("chaos refused: " + errorText(r), false);
    }
  });

  $("chaos-clear").addEventListener("click", async () => {
    const model = $("chaos-model").value || "all";
    const r = await api("POST", "/admin/chaos", { model, clear: true });
    if (r.status === 200) chaosResult(`chaos cleared on ${model}`, true);
    else chaosResult("clearing chaos failed: " + errorText(r), false);
  });

  // ---- Start ----
  const saved = sessionStorage.getItem(kTokenKey);
  if (saved) signIn(saved, true);
  else showLogin("");
})();
