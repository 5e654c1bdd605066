/*
 * The discreet chat page.
 *
 * Talks to the gateway over Socket.IO with Rasa's socketio protocol:
 *   -> session_request {session_id}      <- session_confirm "<session_id>"
 *   -> user_uttered {message, session_id} <- bot_uttered {text, quick_replies?, custom?}
 * A bot_uttered with no text (custom {maak: "received"}: her words went to a counsellor) only
 * stops the "typing" dots. A counsellor's message carries a `seq`; when the socket comes back the
 * page asks with `session_request {session_id, seen}` for what was sent while it was away, and
 * shows each `seq` once.
 *
 * Nothing is kept on the device: the session id lives in memory only (a reload starts a new
 * conversation), no storage API is touched, and server text is only ever set as textContent.
 */
(function () {
  "use strict";

  var TEXTS = window.MAAK_TEXTS || {};
  var MAX_LEN = 2000;
  var COUNTER_FROM = 200;        // show the counter when this many characters (or fewer) are left
  var EXIT_URL = "/today";
  var CONFIRM_WAIT_MS = 4000;    // send anyway if a server never confirms the session
  var TYPING_MAX_MS = 20000;

  var root = document.documentElement;
  var els = {
    log: document.getElementById("log"),
    form: document.getElementById("composer"),
    input: document.getElementById("msg"),
    send: document.getElementById("send"),
    exit: document.getElementById("exit"),
    lang: document.getElementById("lang"),
    status: document.getElementById("status"),
    counter: document.getElementById("counter"),
    typing: document.getElementById("typing")
  };

  var sessionId = newSessionId();
  var lang = defaultLang();
  var queue = [];        // messages she sent that the socket has not taken yet, in order
  var ready = false;     // connected and session confirmed
  var exiting = false;
  var socket = null;
  var confirmTimer = null;
  var typingTimer = null;
  var retryTimer = null;
  var joined = false;    // the server has confirmed this conversation once: a later connect is a return
  var seen = 0;          // the highest counsellor message `seq` shown
  var shown = {};        // every `seq` shown, so a message sent again is not shown twice

  /* ---------- helpers ---------- */

  function newSessionId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) {
      hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return hex;
  }

  function defaultLang() {
    var nav = String(navigator.language || "").toLowerCase();
    if (nav.indexOf("ar") === 0) { return "ar"; }
    if (nav.indexOf("fr") === 0) { return "fr"; }
    return "en";
  }

  function t(key) {
    var set = TEXTS[lang] || TEXTS.en || {};
    return set[key] !== undefined ? set[key] : ((TEXTS.en || {})[key] || "");
  }

  function finePointer() {
    return !!(window.matchMedia && window.matchMedia("(pointer: fine)").matches);
  }

  function scrollDown() {
    els.log.scrollTop = els.log.scrollHeight;
  }

  /* ---------- language ---------- */

  function applyLang(tag) {
    if (!TEXTS[tag]) { tag = "en"; }
    lang = tag;
    root.setAttribute("lang", tag);
    root.setAttribute("dir", t("dir") || "ltr");
    els.lang.value = tag;
    var nodes = document.querySelectorAll("[data-text]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute("data-text"));
    }
    els.input.setAttribute("placeholder", t("placeholder"));
    els.lang.setAttribute("aria-label", t("language"));
    updateCounter();
  }

  /* ---------- messages ---------- */

  function srLabel(key) {
    var span = document.createElement("span");
    span.className = "sr-only";
    span.setAttribute("data-text", key);
    span.textContent = t(key) + " ";
    return span;
  }

  function addMessage(kind, text) {
    var row = document.createElement("div");
    row.className = "row row-" + kind;
    var bubble = document.createElement("p");
    bubble.className = "bubble";
    bubble.setAttribute("dir", "auto");
    bubble.textContent = text;            // textContent only: server text stays text
    row.appendChild(srLabel(kind === "user" ? "you" : "reply"));
    row.appendChild(bubble);
    els.log.appendChild(row);
    scrollDown();
    return row;
  }

  function setPending(row, pending) {
    var mark = row.querySelector(".pending");
    if (pending && !mark) {
      mark = document.createElement("span");
      mark.className = "pending";
      mark.setAttribute("data-text", "pending");
      mark.textContent = t("pending");
      row.appendChild(mark);
      row.classList.add("is-pending");
    } else if (!pending && mark) {
      row.removeChild(mark);
      row.classList.remove("is-pending");
    }
  }

  function removeQuickReplies() {
    var groups = els.log.querySelectorAll(".quick");
    for (var i = 0; i < groups.length; i++) {
      groups[i].parentNode.removeChild(groups[i]);
    }
  }

  function addQuickReplies(replies) {
    var group = document.createElement("div");
    group.className = "quick";
    group.setAttribute("role", "group");
    replies.forEach(function (reply) {
      if (!reply || typeof reply !== "object") { return; }
      if (reply.content_type && reply.content_type !== "text") { return; }
      var title = typeof reply.title === "string" ? reply.title : "";
      var payload = typeof reply.payload === "string" && reply.payload ? reply.payload : title;
      if (!title || !payload) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "quick-reply";
      button.setAttribute("dir", "auto");
      button.textContent = title;
      button.addEventListener("click", function () {
        sendMessage(payload, title);
        if (finePointer()) { els.input.focus(); } else { els.log.focus({ preventScroll: true }); }
      });
      group.appendChild(button);
    });
    if (group.childNodes.length) {
      els.log.appendChild(group);
      scrollDown();
    }
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    els.typing.hidden = !on;
    if (on) {
      typingTimer = setTimeout(function () { els.typing.hidden = true; }, TYPING_MAX_MS);
      scrollDown();
    }
  }

  function showStatus(lost) {
    els.status.hidden = !lost;
  }

  /* ---------- sending: nothing she typed is ever dropped ---------- */

  function sendMessage(payload, shown) {
    var text = String(payload).slice(0, MAX_LEN);
    if (!text.trim()) { return; }
    removeQuickReplies();
    var row = addMessage("user", shown);
    queue.push({ text: text, row: row });
    if (!flush()) { setPending(row, true); }
  }

  function flush() {
    if (!ready || !socket || !socket.connected) { return false; }
    while (queue.length) {
      var item = queue.shift();
      socket.emit("user_uttered", {
        message: item.text,
        session_id: sessionId,
        metadata: { language: lang }
      });
      setPending(item.row, false);
      showTyping(true);
    }
    return true;
  }

  /* ---------- receiving ---------- */

  function isQuickExit(data) {
    var custom = data.custom;
    return (custom && typeof custom === "object" && custom.maak === "quick_exit") ||
      data.maak === "quick_exit";
  }

  function onBotUttered(data) {
    if (exiting) { return; }
    if (typeof data === "string") { data = { text: data }; }
    if (!data || typeof data !== "object") { return; }
    if (isQuickExit(data)) { quickExit(); return; }
    showTyping(false);
    if (typeof data.seq === "number") {
      if (shown[data.seq]) { return; }
      shown[data.seq] = true;
      seen = Math.max(seen, data.seq);
    }
    if (typeof data.text === "string" && data.text) {
      addMessage("bot", data.text);
    }
    var replies = Array.isArray(data.quick_replies) ? data.quick_replies :
      (Array.isArray(data.buttons) ? data.buttons : null);
    if (replies && replies.length) { addQuickReplies(replies); }
  }

  /* ---------- connection ---------- */

  function onConfirmed(confirmedId) {
    clearTimeout(confirmTimer);
    if (exiting || !socket || !socket.connected) { return; }
    if (typeof confirmedId === "string" && confirmedId) { sessionId = confirmedId; joined = true; }
    ready = true;
    showStatus(false);
    flush();
  }

  function connect() {
    if (typeof window.io !== "function") { showStatus(true); return; }
    socket = window.io({
      path: "/socket.io/",
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      timeout: 10000,
      withCredentials: false
    });
    socket.on("connect", function () {
      ready = false;
      socket.emit("session_request", joined ? { session_id: sessionId, seen: seen } : { session_id: sessionId });
      clearTimeout(confirmTimer);
      confirmTimer = setTimeout(onConfirmed, CONFIRM_WAIT_MS);
    });
    socket.on("session_confirm", onConfirmed);
    socket.on("bot_uttered", onBotUttered);
    socket.on("disconnect", function (reason) {
      ready = false;
      clearTimeout(confirmTimer);
      if (exiting) { return; }
      showTyping(false);
      showStatus(true);
      if (reason === "io server disconnect") {
        // The server closed the socket itself: Socket.IO does not retry that on its own.
        clearTimeout(retryTimer);
        retryTimer = setTimeout(function () {
          if (!exiting && socket && !socket.connected) { socket.connect(); }
        }, 2000);
      }
    });
    socket.on("connect_error", function () {
      if (!exiting) { showStatus(true); }
    });
  }

  /* ---------- quick exit ---------- */

  function quickExit(event) {
    if (event && event.preventDefault) { event.preventDefault(); }
    if (exiting) { return; }
    exiting = true;
    queue.length = 0;
    clearTimeout(confirmTimer);
    clearTimeout(retryTimer);
    try {
      if (socket) {
        socket.io.reconnection(false);
        socket.off();
        socket.disconnect();
      }
    } catch (e) { /* leave anyway */ }
    try {
      els.log.textContent = "";
      els.input.value = "";
    } catch (e) { /* leave anyway */ }
    window.location.replace(EXIT_URL);
  }

  /* ---------- input ---------- */

  function autoSize() {
    els.input.style.height = "auto";
    var max = Math.round(window.innerHeight * 0.35);
    els.input.style.height = Math.min(els.input.scrollHeight + 2, max) + "px";
  }

  function updateCounter() {
    var left = MAX_LEN - els.input.value.length;
    if (left > COUNTER_FROM) {
      els.counter.hidden = true;
      els.counter.textContent = "";
      els.counter.classList.remove("at-limit");
      return;
    }
    els.counter.hidden = false;
    els.counter.textContent = left <= 0 ? t("limit") : t("remaining").replace("{n}", String(left));
    els.counter.classList.toggle("at-limit", left <= 0);
  }

  function submit(event) {
    if (event) { event.preventDefault(); }
    if (exiting) { return; }
    var text = els.input.value;
    if (!text.trim()) { els.input.focus(); return; }
    sendMessage(text, text);
    els.input.value = "";
    autoSize();
    updateCounter();
    els.input.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" || event.key === "Esc") { quickExit(event); }
  }, true);
  els.exit.addEventListener("click", quickExit);
  els.form.addEventListener("submit", submit);
  els.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey &&
        !event.metaKey && !event.isComposing) {
      submit(event);
    }
  });
  els.input.addEventListener("input", function () {
    autoSize();
    updateCounter();
  });
  els.lang.addEventListener("change", function () { applyLang(els.lang.value); });

  applyLang(lang);
  connect();
  if (finePointer()) { els.input.focus(); }
})();
