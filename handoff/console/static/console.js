/*
 * The counsellor console. Speaks only the API of docs/console-api.md: HTTP under /api/ and the
 * live events of /api/console/ws. Nothing is kept on the device: the CSRF token, the cases and
 * the messages live in memory only (the session cookie is HttpOnly and set by the server).
 * Every text from the server is set with textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  var TEXTS = window.MAAK_CONSOLE_TEXTS || {};
  var REGIONS = window.MAAK_CONSOLE_REGIONS || {};
  var PRIORITY = { urgent: 0, high: 1, normal: 2 };
  var STATUS = { queued: 0, claimed: 1, closed: 2 };
  var MANAGERS = { supervisor: true, admin: true };
  var RETRY_MS = [500, 1000, 2000, 5000, 10000];
  var PING_MS = 25000;
  var SILENT_MS = 60000;        // no event nor pong for this long: the socket is dead, reconnect
  var TICK_MS = 5000;

  var $ = function (id) { return document.getElementById(id); };
  var lang = /^ar\b/i.test(navigator.language || "") ? "ar" : "fr";
  var me = null;                // {username, role, csrf_token}
  var config = { outcomes: [], services: [], colleagues: [], sla_seconds: 0 };
  var cases = new Map();        // id -> open case
  var openId = null;
  var openCase = null;
  var messages = [];
  var olderRemain = false;  // the case has messages older than those loaded
  var unread = new Set();
  var fresh = new Set();        // urgent cases not looked at yet
  var ws = null;
  var retries = 0;
  var retryTimer = null;
  var lastHeard = 0;
  var loadSeq = 0;
  var audio = null;
  var alerts = 0;
  var stick = true;             // the chat is scrolled to its end: keep it there when it resizes

  /* ---------- helpers ---------- */

  function t(key, vars) {
    var set = TEXTS[lang] || TEXTS.fr;
    var text = set[key] !== undefined ? set[key] : (TEXTS.fr[key] !== undefined ? TEXTS.fr[key] : key);
    Object.keys(vars || {}).forEach(function (name) { text = text.split("{" + name + "}").join(vars[name]); });
    return text;
  }
  function label(prefix, value) {
    if (value === null || value === undefined || value === "") { return t("none"); }
    var set = TEXTS[lang] || TEXTS.fr;
    return set[prefix + value] !== undefined ? set[prefix + value] : String(value);
  }
  function region(code) {
    if (!code) { return t("none"); }
    var names = REGIONS[code];
    return names ? (names[lang] || names.fr) : String(code);
  }
  function node(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined && text !== null) { el.textContent = text; }
    return el;
  }
  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }
  function ms(iso) { var v = Date.parse(iso); return isNaN(v) ? Date.now() : v; }
  function waited(c) {
    var min = Math.floor((Date.now() - ms(c.created_at)) / 60000);
    if (min < 1) { return t("lessMinute"); }
    if (min < 60) { return t("minutes", { n: min }); }
    return t("hours", { h: Math.floor(min / 60), m: String(min % 60).padStart(2, "0") });
  }
  function clock(iso) {
    var d = new Date(ms(iso)), opts = { hour: "2-digit", minute: "2-digit" };
    if (new Date().toDateString() !== d.toDateString()) { opts.day = "numeric"; opts.month = "short"; }
    return d.toLocaleString(t("locale"), opts);
  }
  function escalated(c) {
    return !!c.escalated || (c.status === "queued" && config.sla_seconds > 0 &&
      Date.now() - ms(c.created_at) > config.sla_seconds * 1000);
  }
  function readable(c) {                // the API's need to know: a colleague's case stays closed
    return !!(c && me && (MANAGERS[me.role] || c.status === "queued" || c.claimed_by === me.username));
  }
  function canWrite(c) {
    return !!(c && me && c.status === "claimed" && (c.claimed_by === me.username || MANAGERS[me.role]));
  }
  function isolate(el, key, name, value) { // t(key) with {name} in a <bdi>: any script reads right
    var parts = t(key).split("{" + name + "}");
    clear(el);
    el.appendChild(document.createTextNode(parts[0]));
    el.appendChild(node("bdi", null, value));
    el.appendChild(document.createTextNode(parts[1] || ""));
    return el;
  }
  function showMe() { isolate($("me"), "me", "name", me.username); }
  function notice(key, vars) {
    var el = $("notice");
    el.textContent = t(key, vars);
    el.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { el.hidden = true; }, 10000);
  }

  /* ---------- HTTP ---------- */

  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (method !== "GET" && me) { headers["X-CSRF-Token"] = me.csrf_token; }
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = {}; }
        if (response.ok) { return data; }
        var error = new Error(data.error || String(response.status));
        error.status = response.status;
        error.data = data;
        error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
        if (response.status === 401 && path !== "/api/auth/login") { toLogin("expired"); }
        throw error;
      });
    });
  }

  function failed(error) {
    if (error.status === 401) { return; }            // already back on the login form
    if (error.status === 404) { notice("notFound"); }
    else if (error.status === 403) { notice("notAllowed"); }
    else if (error.status === 409) { notice("conflict"); }
    else { notice("failed", { error: error.message }); }
    if (error.status === 404 || error.status === 409) { loadCases(); }
  }

  /* ---------- session ---------- */

  function showView(loggedIn) {
    $("login-view").hidden = loggedIn;
    $("app-view").hidden = !loggedIn;
    $("logout").hidden = !loggedIn;
    $("me").hidden = !loggedIn;
    $("conn").hidden = !loggedIn;
  }

  function toLogin(reason) {
    me = null;
    stopSocket();
    cases.clear(); unread.clear(); fresh.clear();
    openId = null; openCase = null; messages = [];
    clear($("queue")); clear($("log")); clear($("card"));
    $("alert").hidden = true; $("notice").hidden = true;
    $("password").value = "";
    if (!reason) { $("username").value = ""; }  // logged out on purpose: leave no name behind
    var error = $("login-error");
    error.hidden = !reason;
    if (reason) { error.textContent = t(reason); }
    showView(false);
    $("username").focus();
  }

  function start(account) {
    me = account;
    showMe();
    $("login-error").hidden = true;
    showView(true);
    renderDetail();
    api("GET", "/api/console/config").then(function (data) {
      config = data;
      $("manage").removeAttribute("data-case");     // refill the selects with the new lists
      renderQueue(); renderDetail();
    }).catch(failed);
    loadCases();
    connect();
  }

  function login(event) {
    event.preventDefault();
    var button = $("login-btn"), error = $("login-error");
    var name = $("username").value.trim(), password = $("password").value;
    if (!name || !password) { return; }
    button.disabled = true;
    api("POST", "/api/auth/login", { username: name, password: password }).then(function (data) {
      $("password").value = "";
      start(data);
    }).catch(function (e) {
      $("password").value = "";
      error.hidden = false;
      error.textContent = e.status === 401 ? t("loginFailed")
        : e.status === 429 ? t("tooMany", { n: Math.max(1, Math.ceil(e.retryAfter / 60)) })
        : e.status === 403 ? t("forbidden") : t("unreachable");
      $("password").focus();
    }).then(function () { button.disabled = false; });
  }

  function logout() {
    api("POST", "/api/auth/logout").catch(function () {}).then(function () { toLogin(null); });
  }

  /* ---------- live events ---------- */

  function setConn(state) {              // "live", "connecting" or "reconnecting"
    $("conn").className = "conn is-" + state;
    $("conn").setAttribute("data-state", state);
    $("conn-text").textContent = t(state);
  }

  function connect() {
    clearTimeout(retryTimer);
    if (!me) { return; }
    var url = new URL("/api/console/ws", location.href);       // same host, ws: or wss:
    url.protocol = url.protocol.replace("http", "ws");
    var socket = new WebSocket(url.href);
    ws = socket;
    socket.onopen = function () {
      if (ws !== socket) { return; }
      retries = 0; lastHeard = Date.now();
      setConn("live");
      loadCases();                                  // whatever happened while we were away
    };
    socket.onmessage = function (event) {
      if (ws !== socket) { return; }
      lastHeard = Date.now();
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      handle(data);
    };
    socket.onclose = function () {
      if (ws !== socket) { return; }
      ws = null;
      setConn("reconnecting");
      var delay = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
      retries += 1;
      retryTimer = setTimeout(reconnect, delay);
    };
    if (!lastHeard) { setConn("connecting"); }
  }

  function reconnect() {
    if (!me) { return; }
    // A 401 here means the session ended: api() goes back to the login form.
    api("GET", "/api/auth/me").then(function (account) {
      if (me) { me.csrf_token = account.csrf_token; connect(); }
    }).catch(function (e) {
      if (e.status !== 401 && me) {
        retryTimer = setTimeout(reconnect, RETRY_MS[Math.min(retries++, RETRY_MS.length - 1)]);
      }
    });
  }

  function stopSocket() {
    clearTimeout(retryTimer);
    var socket = ws;
    ws = null; lastHeard = 0;
    if (socket) { socket.close(); }
  }

  function handle(event) {
    var c = event.case;
    if (event.type === "hello") { setConn("live"); return; }
    if (event.type === "resync") { loadCases(); return; }
    if (!c || c.id === undefined) { return; }
    var before = cases.get(c.id);
    upsert(c);
    if ((event.type === "case_opened" || event.type === "case_updated") && c.status === "queued" &&
        c.priority === "urgent" && (!before || before.priority !== "urgent")) {
      alertUrgent(c);
    }
    if (event.type === "message" && event.message) {
      if (c.id === openId && readable(c)) { addMessage(event.message); }
      else if (event.message.author === "user") { unread.add(c.id); }
    }
    renderQueue();
    if (c.id === openId) { renderDetail(); }
  }

  function alertUrgent(c) {
    fresh.add(c.id);
    $("alert-open").textContent = t("urgentAlert", { case: t("caseN", { id: c.id }) });
    $("alert-open").setAttribute("data-id", c.id);
    $("alert").hidden = false;
    beep();
  }

  function beep() {
    alerts += 1;
    document.body.setAttribute("data-alerts", String(alerts));
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") { audio.resume().catch(function () {}); }
      [0, 0.25, 0.5].forEach(function (at, i) {
        var osc = audio.createOscillator(), gain = audio.createGain(), t0 = audio.currentTime + at;
        osc.frequency.value = i === 1 ? 660 : 880;
        gain.gain.setValueAtTime(0.0001, t0);
        gain.gain.exponentialRampToValueAtTime(0.3, t0 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.2);
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(t0); osc.stop(t0 + 0.22);
      });
    } catch (e) { /* no sound card: the banner and the row still show it */ }
  }

  /* ---------- cases ---------- */

  function upsert(c) {
    if (c.status === "closed") { cases.delete(c.id); unread.delete(c.id); fresh.delete(c.id); }
    else { cases.set(c.id, c); }
    if (c.id === openId) { openCase = c; }
  }

  function loadCases() {
    if (!me) { return; }
    var seq = ++loadSeq;
    api("GET", "/api/cases").then(function (data) {
      if (seq !== loadSeq || !me) { return; }
      cases.clear();
      (data.cases || []).forEach(upsert);
      renderQueue();
      if (openId !== null) { show(openId); }
    }).catch(failed);
  }

  function sorted() {
    return Array.from(cases.values()).sort(function (a, b) {
      return (STATUS[a.status] - STATUS[b.status]) || (PRIORITY[a.priority] - PRIORITY[b.priority]) ||
        (ms(a.created_at) - ms(b.created_at)) || (a.id - b.id);
    });
  }

  function badges(c) {
    var box = node("span", "badges");
    box.appendChild(node("span", "badge prio-" + c.priority, label("prio_", c.priority)));
    if (escalated(c)) {
      var esc = node("span", "badge escalated", t("escalated"));
      esc.title = t("escalatedLong");
      box.appendChild(esc);
    }
    if (c.status === "queued" && callbackOpen(c)) { box.appendChild(node("span", "badge callback", t("callbackNow"))); }
    return box;
  }

  /* ---------- her callback window, in the time zone of config.callback ---------- */

  function callbackHours(c) {
    var cb = config.callback, w = cb && cb.windows ? cb.windows[c.callback_window] : null;
    return w && typeof w.from === "string" && typeof w.to === "string" ? w : null;
  }

  function timeThere(zone) {                        // "HH:MM" now in `zone`
    try {
      return new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit",
        hourCycle: "h23" }).format(new Date());
    } catch (e) { return ""; }
  }

  // She chose this moment to be written to, and it is now.
  function callbackOpen(c) {
    var w = callbackHours(c), now = w ? timeThere(config.callback.timezone) : "";
    return !!now && w.from <= now && now < w.to;
  }

  function callbackText(c) {
    var w = callbackHours(c), text = label("cb_", c.callback_window);
    if (w) { text += " (" + w.from + "–" + w.to + ")"; }
    return callbackOpen(c) ? text + " · " + t("callbackNow") : text;
  }

  function statusText(c) {
    return c.status === "claimed" ? t("status_claimed", { name: c.claimed_by || "?" }) : label("status_", c.status);
  }

  function renderQueue() {
    var list = $("queue"), focused = document.activeElement;
    var focusId = focused && focused.getAttribute("data-id");
    var all = sorted();
    clear(list);
    all.forEach(function (c) {
      var item = node("li", "row prio-" + c.priority + (escalated(c) ? " is-escalated" : "") +
        (callbackOpen(c) ? " is-callback" : "") +
        (fresh.has(c.id) ? " is-new" : "") + (c.id === openId ? " is-open" : ""));
      var button = node("button", "row-button");
      button.type = "button";
      button.setAttribute("data-id", c.id);
      if (c.id === openId) { button.setAttribute("aria-current", "true"); }
      var top = node("span", "row-top");
      top.appendChild(badges(c));
      top.appendChild(node("span", "row-id", t("caseN", { id: c.id })));
      var wait = node("span", "waiting", waited(c));
      wait.setAttribute("data-since", c.created_at);
      top.appendChild(wait);
      button.appendChild(top);
      button.appendChild(node("span", "row-meta", [label("lang_", c.lang), label("ch_", c.channel),
        region(c.region), label("cat_", c.category)].join(" · ")));
      var state = node("span", "row-status", statusText(c));
      if (unread.has(c.id)) { state.appendChild(node("span", "unread", t("newMessage"))); }
      button.appendChild(state);
      button.addEventListener("click", function () { show(c.id); });
      item.appendChild(button);
      list.appendChild(item);
      if (String(c.id) === focusId) { button.focus(); }
    });
    $("count").textContent = "(" + all.length + ")";
    $("queue-empty").hidden = all.length > 0;
  }

  function show(id) {
    var seq = ++show.seq;
    if (openId !== id) { messages = []; olderRemain = false; clear($("log")); }
    openId = id;
    unread.delete(id);
    if (fresh.delete(id) && !fresh.size) { $("alert").hidden = true; }
    openCase = cases.get(id) || (openCase && openCase.id === id ? openCase : null);
    renderQueue(); renderDetail();
    if (openCase && !readable(openCase)) { return; }  // the card from the queue is all she may see
    api("GET", "/api/cases/" + encodeURIComponent(id)).then(function (data) {
      if (seq !== show.seq || openId !== id) { return; }
      upsert(data.case);
      openCase = data.case;
      messages = (data.messages || []).slice().sort(byTime);
      olderRemain = data.more === true;
      renderLog();
      renderQueue(); renderDetail();
    }).catch(function (e) {
      if (e.status === 404 && openId === id) { openId = null; openCase = null; renderDetail(); }
      if (e.status === 403 && openId === id) { messages = []; renderLog(); renderDetail(); return; }
      failed(e);
    });
  }
  show.seq = 0;

  function field(list, key, value, cls) {
    var pair = node("div", "field field-" + key.slice(2)), dd = node("dd", cls || null, value);
    dd.setAttribute("data-field", key.slice(2));
    pair.appendChild(node("dt", null, t(key)));
    pair.appendChild(dd);
    list.appendChild(pair);
    return dd;
  }

  function renderDetail() {
    var c = openId === null ? null : openCase;
    $("no-case").hidden = !!c;
    $("case").hidden = !c;
    if (!c) { return; }
    if (!readable(c) && messages.length) { messages = []; renderLog(); }
    $("case-title").textContent = t("caseN", { id: c.id });
    var old = $("case-badges"), now = badges(c);
    now.id = "case-badges";
    old.parentNode.replaceChild(now, old);
    $("case-status").textContent = statusText(c);
    var card = $("card");
    clear(card);
    field(card, "f_lang", label("lang_", c.lang));
    field(card, "f_channel", label("ch_", c.channel));
    field(card, "f_region", region(c.region));
    field(card, "f_danger", c.danger ? t("yes") : t("no"), c.danger ? "is-danger" : null);
    field(card, "f_category", label("cat_", c.category));
    field(card, "f_safe", c.safe_to_chat === "yes" ? t("yes") : c.safe_to_chat === "no" ? t("no") : t("unknown"),
      c.safe_to_chat === "no" ? "is-danger" : null);
    field(card, "f_callback", callbackText(c), callbackOpen(c) ? "is-callback" : null);
    field(card, "f_created", clock(c.created_at));
    if (c.status === "closed") { field(card, "f_waiting", t("none")); }
    else { field(card, "f_waiting", waited(c), "waiting").setAttribute("data-since", c.created_at); }
    field(card, "f_summary", c.summary || t("none"), "summary").setAttribute("dir", "auto");

    var writable = canWrite(c);
    $("claim").hidden = c.status !== "queued";
    $("reply").disabled = !writable;
    $("send").disabled = !writable;
    $("reply").placeholder = writable ? t("replyPlaceholder") : "";
    $("composer-hint").textContent = writable ? "" : c.status === "queued" ? t("claimToReply")
      : c.status === "closed" ? t("closedCase") : t("heldBy", { name: c.claimed_by || "?" });
    var manage = $("manage"), filled = manage.getAttribute("data-case") === String(c.id);
    manage.hidden = !writable;
    if (writable && !filled) { fillManage(c); }
    if (!writable) { manage.removeAttribute("data-case"); }
  }

  function option(select, value, text) {
    var o = node("option", null, text);
    o.value = value;
    select.appendChild(o);
  }

  function fillManage(c) {
    var to = $("transfer-to"), outcome = $("outcome"), service = $("service");
    var same = $("manage").getAttribute("data-for") === String(c.id);  // refilled: keep her choices
    var keep = same ? [to.value, outcome.value, service.value] : ["", "", ""];
    if (!same) { $("note").value = ""; $("close-error").hidden = true; }
    clear(to); clear(outcome); clear(service);
    option(to, "", t("toQueue"));
    (config.colleagues || []).forEach(function (p) {
      if (me && p.username === me.username) { return; }
      option(to, p.username, p.username + " (" + t(p.online ? "online" : "offline") + ")");
    });
    option(outcome, "", t("chooseOutcome"));
    (config.outcomes || []).forEach(function (o) {
      option(outcome, o.code, (o.label || {})[lang] || (o.label || {}).fr || o.code);
    });
    option(service, "", t("noReferral"));
    var rank = function (s) { return s.region === c.region ? 0 : s.region ? 2 : 1; };  // hers, national, others
    (config.services || []).slice().sort(function (a, b) { return rank(a) - rank(b); }).forEach(function (s) {
      var name = (s.label || {})[lang] || (s.label || {}).fr || s.id;
      option(service, s.id, s.region ? name + " — " + region(s.region) : name);
    });
    [to, outcome, service].forEach(function (select, i) {
      if (Array.prototype.some.call(select.options, function (o) { return o.value === keep[i]; })) {
        select.value = keep[i];
      }
    });
    $("note").disabled = !service.value;
    $("note").placeholder = t("note");
    $("manage").setAttribute("data-case", String(c.id));
    $("manage").setAttribute("data-for", String(c.id));
  }

  /* ---------- messages ---------- */

  function byTime(a, b) { return (ms(a.created_at) - ms(b.created_at)) || (a.id - b.id); }

  function addMessage(m) {
    var at = messages.findIndex(function (x) { return x.id === m.id; });
    if (at >= 0) { messages[at] = m; } else { messages.push(m); }
    messages.sort(byTime);
    renderLog();
  }

  function loadOlder() {
    var id = openId, first = messages.length ? messages[0].id : null;
    if (id === null || first === null) { return; }
    api("GET", "/api/cases/" + encodeURIComponent(id) + "?before=" + encodeURIComponent(first)).then(function (data) {
      if (openId !== id) { return; }
      (data.messages || []).forEach(function (m) {
        if (!messages.some(function (x) { return x.id === m.id; })) { messages.push(m); }
      });
      messages.sort(byTime);
      olderRemain = data.more === true;
      stick = false;
      renderLog(true);
    }).catch(failed);
  }

  function renderLog(keepScroll) {
    var log = $("log"), top = log.scrollTop;
    clear(log);
    if (olderRemain && messages.length) {
      var older = node("button", "quiet older", t("older"));
      older.type = "button";
      older.addEventListener("click", loadOlder);
      log.appendChild(older);
    }
    messages.forEach(function (m) {
      var row = node("div", "msg msg-" + m.author + (m.delivery_error ? " is-undelivered" : ""));
      var head = node("p", "msg-head");
      head.appendChild(node("span", "msg-author",
        m.author === "counsellor" ? (m.counsellor || "?") : label("author_", m.author)));
      head.appendChild(node("time", "msg-time", clock(m.created_at)));
      row.appendChild(head);
      var text = node("p", "msg-text", m.text);
      text.setAttribute("dir", "auto");
      row.appendChild(text);
      if (m.delivery_error) { row.appendChild(isolate(node("p", "msg-error"), "undelivered", "reason", m.delivery_error)); }
      log.appendChild(row);
    });
    log.scrollTop = keepScroll === true && !stick ? top : log.scrollHeight;
    stick = keepScroll === true ? stick : true;
  }

  /* ---------- actions ---------- */

  function act(path, body) {
    var id = openId;
    return api("POST", "/api/cases/" + encodeURIComponent(id) + path, body).then(function (data) {
      if (data.case) { upsert(data.case); }
      renderQueue(); renderDetail();
      return data;
    });
  }

  function claim() {
    $("claim").disabled = true;
    act("/claim").then(function () { $("reply").focus(); }).catch(function (e) {
      if (e.status === 409) { notice("alreadyTaken"); loadCases(); } else { failed(e); }
    }).then(function () { $("claim").disabled = false; });
  }

  // Her callback choice: the server refuses a first message against it until the counsellor confirms.
  function againstHerChoice(e) {
    var reason = e.status === 409 && e.data ? e.data.reason : null;
    if (reason === "callback_stopped") { return t("callbackStopped"); }
    if (reason === "callback_none") { return t("callbackNone"); }
    if (reason === "callback_window") {
      return t("callbackWindow", { window: label("cb_", e.data.window), hours: e.data.hours || "" });
    }
    return null;
  }

  function send(event) {
    if (event) { event.preventDefault(); }
    var box = $("reply"), text = box.value.trim(), id = openId;
    if (!text || box.disabled || $("send").disabled) { return; }
    $("send").disabled = true;
    function post(confirmed) {
      return act("/messages", confirmed ? { text: text, confirm: true } : { text: text }).catch(function (e) {
        var question = confirmed ? null : againstHerChoice(e);
        if (!question) { throw e; }
        return window.confirm(question) ? post(true) : {};
      });
    }
    post(false).then(function (data) {
      if (!data.message) { return; }
      if (openId === id) { addMessage(data.message); }
      box.value = "";
    }).catch(failed).then(function () { renderDetail(); box.focus(); });
  }

  function transfer(event) {
    event.preventDefault();
    var to = $("transfer-to").value || null;
    act("/transfer", { to: to }).then(function (data) { if (!data.case) { loadCases(); } }).catch(failed);
  }

  function close(event) {
    event.preventDefault();
    var error = $("close-error"), outcome = $("outcome").value, service = $("service").value;
    if (!outcome) {
      error.textContent = t("outcomeRequired");
      error.hidden = false;
      $("outcome").focus();
      return;
    }
    error.hidden = true;
    var referral = service ? { service_id: service, note: $("note").value.trim() } : null;
    act("/close", { outcome: outcome, referral: referral }).then(function () {
      $("outcome").value = ""; $("service").value = ""; $("note").value = ""; $("note").disabled = true;
    }).catch(failed);
  }

  /* ---------- language, ticking, wiring ---------- */

  function applyLang(tag) {
    lang = TEXTS[tag] ? tag : "fr";
    document.documentElement.setAttribute("lang", lang);
    document.documentElement.setAttribute("dir", t("dir"));
    $("lang").value = lang;
    document.querySelectorAll("[data-text]").forEach(function (el) { el.textContent = t(el.getAttribute("data-text")); });
    if (me) {
      showMe();
      setConn($("conn").getAttribute("data-state") || "connecting");
      $("manage").removeAttribute("data-case");     // the selects' labels change language too
      renderQueue(); renderDetail(); renderLog(true);
      if (!$("alert").hidden) { $("alert-open").textContent = t("urgentAlert", { case: t("caseN", { id: $("alert-open").getAttribute("data-id") }) }); }
    }
  }

  function tick() {
    if (!me) { return; }
    var changed = Array.from(cases.values()).some(function (c) {
      var row = document.querySelector('#queue [data-id="' + c.id + '"]');
      return row && (row.parentNode.classList.contains("is-escalated") !== escalated(c) ||
        row.parentNode.classList.contains("is-callback") !== callbackOpen(c));
    });
    if (changed) { renderQueue(); if (openCase) { renderDetail(); } }
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = waited({ created_at: el.getAttribute("data-since") });
    });
    if (ws && ws.readyState === WebSocket.OPEN) {
      if (Date.now() - lastHeard > SILENT_MS) { ws.close(); }
    }
  }

  function ping() {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify({ type: "ping" })); }
  }

  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("change", function () { applyLang($("lang").value); });
  $("claim").addEventListener("click", claim);
  $("composer").addEventListener("submit", send);
  $("reply").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { send(event); }
  });
  $("transfer-form").addEventListener("submit", transfer);
  $("close-form").addEventListener("submit", close);
  $("log").addEventListener("scroll", function () {
    var log = $("log");
    stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 24;
  });
  if (window.ResizeObserver) {
    new ResizeObserver(function () { if (stick) { $("log").scrollTop = $("log").scrollHeight; } }).observe($("log"));
  }
  $("service").addEventListener("change", function () { $("note").disabled = !$("service").value; });
  $("alert-open").addEventListener("click", function () {
    var id = Number($("alert-open").getAttribute("data-id"));
    $("alert").hidden = true;
    show(id);
  });
  $("alert-dismiss").addEventListener("click", function () { $("alert").hidden = true; });
  setInterval(tick, TICK_MS);
  setInterval(ping, PING_MS);

  applyLang(lang);
  api("GET", "/api/auth/me").then(start).catch(function (e) {
    toLogin(e.status === 401 || e.status === 403 ? null : "unreachable");
  });
}());
