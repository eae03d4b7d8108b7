// The live console: one BrokerClient, a strategy picker, a price table, news, alerts and the
// broker's stats. It uses only the public WebSocket protocol and HTTP API.
(function () {
  "use strict";

  const STATS_INTERVAL = 2000;
  const FEED_LENGTH = 8;
  const LOG_LENGTH = 30;
  const STATE_TEXT = {
    connecting: "connecting",
    connected: "connected",
    resumed: "resumed",
    backing_off: "reconnecting",
    failed: "failed",
    closed: "closed",
  };

  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  const rows = new Map(); // code -> <tr>
  let strategy = query.get("strategy");
  let signalCodes = null; // the chosen strategy's codes, as GET /api/signals/buy last listed them

  // Formatting

  const decimals = (value, digits) =>
    Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const signed = (value, digits) => (value > 0 ? "+" : "") + decimals(value, digits);
  const clock = (date) => date.toLocaleTimeString("en-GB", { hour12: false });
  const fromMicros = (micros) => new Date(Math.floor(micros / 1000));

  function bytes(n) {
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function duration(seconds) {
    const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, h = Math.floor(seconds / 3600);
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function prepend(list, item, limit) {
    list.insertBefore(item, list.firstChild);
    while (list.children.length > limit) list.removeChild(list.lastChild);
  }

  // Connection state

  let logged = 0;

  function log(kind, text) {
    const item = element("li", "log-" + kind);
    item.dataset.state = kind;
    item.dataset.index = ++logged;
    item.append(element("time", null, clock(new Date())), document.createTextNode(" " + text));
    prepend($("log"), item, LOG_LENGTH);
  }

  function showState(state, detail) {
    const badge = $("connection");
    badge.dataset.state = state;
    let text = STATE_TEXT[state] || state;
    if (state === "backing_off") text += " in " + (detail.delay / 1000).toFixed(1) + " s (attempt " + detail.attempt + ")";
    $("state-text").textContent = text;
    if (state === "connected" || state === "resumed") $("client-id").textContent = detail.clientId;

    switch (state) {
      case "connecting":
        log(state, detail.resume ? "connecting, resuming " + detail.clientId : "connecting");
        break;
      case "connected":
        log(state, "new session " + detail.clientId + " at seq " + detail.seq);
        loadStrategies();
        break;
      case "resumed":
        log(state, "resumed " + detail.clientId + " at seq " + detail.seq);
        loadStrategies();
        break;
      case "backing_off":
        log(state, detail.reason + "; retry " + detail.attempt + " in " + (detail.delay / 1000).toFixed(1) + " s");
        break;
      default:
        log(state, detail.reason || state);
    }
  }

  // With client authentication on, the strategy routes want the page's client token too.
  function reading() {
    const token = query.get("token");
    return { cache: "no-store", headers: token ? { Authorization: "Bearer " + token } : {} };
  }

  // Strategy picker

  async function loadStrategies() {
    const picker = $("strategy");
    let list;
    try {
      const response = await fetch("/api/strategies", reading());
      if (!response.ok) throw new Error("HTTP " + response.status);
      list = (await response.json()).strategies;
    } catch (error) {
      return; // the broker is away; the next (re)connect loads them again
    }
    const names = list.map((s) => s.name);
    picker.replaceChildren(...list.map((s) => {
      const option = element("option", null, s.name + " (" + s.signal_count + ")");
      option.value = s.name;
      return option;
    }));
    if (list.length === 0) {
      picker.replaceChildren(element("option", null, "no strategies"));
      picker.disabled = true;
      $("prices-empty").textContent = "The broker knows no strategy yet: PUT /api/signals/{strategy}, or run the simulator.";
      return;
    }
    picker.disabled = false;
    choose(names.includes(strategy) ? strategy : names[0]);
  }

  // `reload`: subscribe again even to the strategy shown, for a fresh snapshot of its prices.
  function choose(name, reload) {
    $("strategy").value = name;
    if (!reload && name === strategy && client.subscriptions.some((s) => s.type === "strategy" && s.target === name)) return;
    if (strategy) client.unsubscribe("strategy", strategy);
    if (name !== strategy) signalCodes = null;
    strategy = name;
    rows.clear();
    $("prices").tBodies[0].replaceChildren();
    $("prices-empty").hidden = false;
    $("prices-empty").textContent = "Waiting for prices…";
    const url = new URL(location.href);
    url.searchParams.set("strategy", name);
    history.replaceState(null, "", url);
    client.subscribe("strategy", name);
    watchSignals(); // the list as of now, which later checks compare with
  }

  // A strategy's signal list can be replaced while the page shows it (a daily refresh): the pushes
  // then carry the new list's codes only, and the rows of codes dropped from it would stay, frozen.
  async function watchSignals() {
    const watched = strategy;
    if (!watched) return;
    let listed;
    try {
      const response = await fetch("/api/signals/buy?strategy=" + encodeURIComponent(watched), reading());
      if (!response.ok) return;
      listed = (await response.json()).signals.map((signal) => signal.code).sort();
    } catch (error) {
      return; // the broker is away; the stats panel says so
    }
    if (watched !== strategy) return;
    const codes = listed.join(",");
    // A row of a code the list no longer has also means a replacement: the one that came while
    // the first look at the list failed (nothing to compare with then) is not missed.
    const shown = new Set(listed);
    const stale = Array.from(rows.keys()).some((code) => !shown.has(code));
    const replaced = stale || (signalCodes !== null && codes !== signalCodes);
    signalCodes = codes;
    if (!replaced) return;
    log("signals", watched + " has a new signal list; its prices are loaded again");
    loadStrategies(); // the picker's counts
    choose(watched, true);
  }

  // Prices

  function cell(row, index, text) {
    if (row.cells[index].textContent !== text) row.cells[index].textContent = text;
  }

  function rowFor(code) {
    let row = rows.get(code);
    if (row) return row;
    row = element("tr");
    row.dataset.code = code;
    for (let i = 0; i < 7; i += 1) row.append(element("td", i >= 2 ? "num" : null));
    const body = $("prices").tBodies[0];
    const after = Array.from(body.rows).find((r) => r.dataset.code > code);
    body.insertBefore(row, after || null);
    rows.set(code, row);
    return row;
  }

  function showPrices(message) {
    if (message.subscription_type !== "strategy" || message.target !== strategy) return;
    for (const entry of message.data) {
      const row = rowFor(entry.code);
      const previous = row.dataset.price === undefined ? null : Number(row.dataset.price);
      row.dataset.price = entry.price;
      const direction = entry.change > 0 ? "up" : entry.change < 0 ? "down" : "flat";
      row.className = direction;
      cell(row, 0, entry.code);
      cell(row, 1, entry.name);
      cell(row, 2, decimals(entry.price, 2));
      cell(row, 3, signed(entry.change, 2));
      cell(row, 4, signed(entry.change_percent, 2) + "%");
      cell(row, 5, Number(entry.volume).toLocaleString("en-US"));
      cell(row, 6, clock(new Date(entry.timestamp)));
      if (previous !== null && previous !== entry.price) {
        // Restart the animation: drop the class, force a style flush, add it again.
        row.classList.remove("flash-up", "flash-down");
        void row.offsetWidth;
        row.classList.add(entry.price > previous ? "flash-up" : "flash-down");
      }
    }
    const table = $("prices");
    table.dataset.updates = Number(table.dataset.updates) + 1;
    table.dataset.seq = message.seq;
    $("prices-empty").hidden = rows.size > 0;
    $("price-meta").textContent = rows.size + " codes · seq " + message.seq + " · " + clock(new Date());
  }

  // News and alerts

  function showNews(item) {
    if (document.querySelector('#news li[data-id="' + CSS.escape(item.id) + '"]')) return;
    const entry = element("li");
    entry.dataset.id = item.id;
    // Only web links: a javascript: URL in a news item must not become clickable script.
    const link = /^https?:\/\//i.test(item.url || "");
    const title = link ? element("a", null, item.title) : element("strong", null, item.title);
    if (link) { title.href = item.url; title.target = "_blank"; title.rel = "noopener noreferrer"; }
    entry.append(element("time", null, clock(fromMicros(item.published_at))), " ", element("span", "tag", item.category), " ", title);
    if (item.codes && item.codes.length) entry.append(element("span", "codes", " " + item.codes.join(", ")));
    prepend($("news"), entry, FEED_LENGTH);
    $("news-empty").hidden = true;
  }

  function showAlert(text, at) {
    const entry = element("li");
    entry.append(element("time", null, clock(at)), " " + text);
    prepend($("alerts"), entry, FEED_LENGTH);
    $("alerts-empty").hidden = true;
  }

  function describeRule(rule) {
    // The broker fires a change_pct rule on a move either way: |change %| at or past the threshold.
    const condition = rule.condition === "change_pct" ? "|change %| ≥" : rule.condition;
    return rule.code + " " + condition + " " + rule.threshold;
  }

  $("alert-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const sent = client.send({
      type: "set_alert",
      code: $("alert-code").value.trim(),
      condition: $("alert-condition").value,
      threshold: Number($("alert-threshold").value),
    });
    if (!sent) showAlert("not connected: alert not set", new Date());
  });

  // Messages

  function receive(message) {
    if (typeof message.seq === "number") $("last-seq").textContent = client.lastSeq;
    switch (message.type) {
      case "price_update":
        showPrices(message);
        break;
      case "news_update":
        showNews(message.data);
        break;
      case "alert":
        showAlert("fired: " + describeRule(message.data) + " at " + message.data.price, fromMicros(message.data.triggered_at));
        break;
      case "alert_set":
        showAlert("set " + describeRule(message.rule || message), new Date());
        break;
      case "subscribed":
        log("subscribed", "subscribed to " + message.subscription_type + " " + message.target);
        break;
      case "error":
        log("error", message.error + ": " + message.details);
        break;
    }
  }

  // Broker stats

  async function refreshStats() {
    try {
      const response = await fetch("/api/websocket/stats", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const stats = await response.json();
      const byType = Object.entries(stats.subscriptions).filter(([, n]) => n > 0);
      const total = byType.reduce((sum, [, n]) => sum + n, 0);
      $("stat-node").textContent = stats.node;
      const sessions = stats.connections.sessions;
      $("stat-clients").textContent = stats.connections.active + " connected · " + sessions + (sessions === 1 ? " session" : " sessions");
      $("stat-subscriptions").textContent = total + (byType.length ? " (" + byType.map(([t, n]) => t + " " + n).join(", ") + ")" : "");
      $("stat-ticks").textContent = decimals(stats.ticks.per_second, 1);
      $("stat-seq").textContent = stats.journal.last_seq.toLocaleString("en-US");
      $("stat-size").textContent = bytes(stats.journal.size_bytes);
      $("stat-uptime").textContent = duration(stats.uptime_seconds);
      $("stats-status").textContent = "updated " + clock(new Date());
      $("stats").classList.remove("stale");
    } catch (error) {
      $("stats-status").textContent = "broker unreachable (" + error.message + ")";
      $("stats").classList.add("stale");
    }
  }

  // Start

  const client = new BrokerClient(null, {
    token: query.get("token"),
    onState: showState,
    onMessage: receive,
  });
  client.subscribe("news", "all");
  $("strategy").addEventListener("change", (event) => choose(event.target.value));
  refreshStats();
  setInterval(() => {
    refreshStats();
    watchSignals();
  }, STATS_INTERVAL);
  window.brokerConsole = { client: client };
})();
