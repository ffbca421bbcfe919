/* Roundtable dashboard: progressive enhancement only (every page reads without JavaScript).
 * - times: local and relative ("3 min ago"), durations
 * - live parts over the event stream (/api/v1/events/stream, the HttpOnly login cookie):
 *   [data-events] lists get new events; [data-live] regions re-fetch their HTML fragment
 * - inclusion proofs checked in the page with WebCrypto SHA-256 (RFC 9162 §2.1.3.2)
 * No token is ever handled here: the browser sends the cookie by itself. */
"use strict";
(function () {
  var units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["min", 60], ["s", 1]];

  function relative(date) {
    var secs = Math.round((Date.now() - date.getTime()) / 1000);
    var future = secs < 0;
    secs = Math.abs(secs);
    if (secs < 5) return "just now";
    for (var i = 0; i < units.length; i++) {
      var n = Math.floor(secs / units[i][1]);
      if (n >= 1) {
        var label = units[i][0] === "s" || units[i][0] === "min" ? units[i][0] : units[i][0] + (n > 1 ? "s" : "");
        return future ? "in " + n + " " + label : n + " " + label + " ago";
      }
    }
    return "just now";
  }

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  function local(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      " " + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }

  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    return Math.floor(m / 60) + "h " + (m % 60) + "m";
  }

  function times(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      el.title = local(date) + " (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
      el.textContent = local(date) + " · " + relative(date);
    });
    root.querySelectorAll(".duration[data-from][data-to]").forEach(function (el) {
      el.textContent = span(new Date(el.dataset.to) - new Date(el.dataset.from));
    });
  }

  function eventItem(e) {
    var li = document.createElement("li");
    li.dataset.id = e.id;
    var t = document.createElement("time");
    t.className = "when";
    t.setAttribute("datetime", e.ts);
    li.appendChild(t);
    li.appendChild(document.createTextNode(" "));
    var code = document.createElement("code");
    code.textContent = e.type;
    li.appendChild(code);
    var rest = "";
    if (e.agent) rest += " · " + e.agent;
    if (e.project) rest += " · " + e.project;
    li.appendChild(document.createTextNode(rest));
    if (e.session_id) {
      li.appendChild(document.createTextNode(" · "));
      var a = document.createElement("a");
      a.href = "/sessions/" + encodeURIComponent(e.session_id) + window.location.search.replace(/^(?!\?ns=).*$/, "");
      a.textContent = "…" + e.session_id.slice(-12);
      li.appendChild(a);
    }
    if (e.payload && typeof e.payload.message === "string") {
      li.appendChild(document.createTextNode(" — " + e.payload.message));
    }
    times(li);
    return li;
  }

  function addEvent(list, e) {
    if (list.dataset.session && e.session_id !== list.dataset.session) return;
    if (list.querySelector('li[data-id="' + e.id + '"]')) return;
    var empty = list.querySelector("li.empty");
    if (empty) empty.remove();
    var li = eventItem(e);
    if (list.dataset.events === "prepend") list.insertBefore(li, list.firstChild);
    else list.appendChild(li);
    var limit = parseInt(list.dataset.limit || "0", 10);
    while (limit && list.children.length > limit) list.removeChild(list.lastChild);
  }

  var pending = new Map();

  function refresh(region) {
    if (pending.has(region)) return;
    pending.set(region, setTimeout(function () {
      pending.delete(region);
      fetch(region.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          region.innerHTML = html;
          times(region);
          region.dispatchEvent(new CustomEvent("rt:refreshed", { bubbles: true }));
        })
        .catch(function () { /* the next event tries again */ });
    }, 250));
  }

  function wants(region, e) {
    if (e.type === "session.heartbeat") return false;
    if (region.dataset.liveProject && e.project !== region.dataset.liveProject) return false;
    return region.dataset.liveTypes.split(",").some(function (p) { return p && e.type.indexOf(p) === 0; });
  }

  function live() {
    var url = document.body.dataset.stream;
    var lists = document.querySelectorAll("[data-events]");
    var regions = document.querySelectorAll("[data-live]");
    if (!url || !window.EventSource || (!lists.length && !regions.length)) return;
    var state = document.getElementById("live-state");
    var source = new EventSource(url);
    source.onopen = function () { if (state) state.textContent = "● live"; document.body.dataset.live = "open"; };
    source.onerror = function () { if (state) state.textContent = "○ reconnecting"; document.body.dataset.live = "retrying"; };
    function onEvent(message) {
      var e;
      try { e = JSON.parse(message.data); } catch (err) { return; }
      lists.forEach(function (list) { addEvent(list, e); });
      regions.forEach(function (region) { if (wants(region, e)) refresh(region); });
    }
    (document.body.dataset.eventTypes || "").split(",").forEach(function (type) {
      if (type) source.addEventListener(type, onEvent);
    });
    source.addEventListener("resync", function () { regions.forEach(refresh); });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function hex(bytes) {
    return Array.prototype.map.call(new Uint8Array(bytes), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function unhex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }

  function nodeHash(left, right) {
    var data = new Uint8Array(1 + left.length + right.length);
    data[0] = 1;
    data.set(left, 1);
    data.set(right, 1 + left.length);
    return crypto.subtle.digest("SHA-256", data).then(function (d) { return new Uint8Array(d); });
  }

  /* RFC 9162 §2.1.3.2, the same steps as roundtable.journal.merkle.verify_inclusion. */
  async function verifyInclusion(leaf, index, size, path, root) {
    if (index < 0 || index >= size) return false;
    var fn = index, sn = size - 1, r = leaf;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === 0) return false;
      if ((fn & 1) || fn === sn) {
        r = await nodeHash(p, r);
        if (!(fn & 1)) { while (fn && !(fn & 1)) { fn >>= 1; sn >>= 1; } }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1; sn >>= 1;
    }
    return sn === 0 && hex(r) === root;
  }

  function proof() {
    var data = document.getElementById("proof-data");
    var out = document.getElementById("proof-result");
    var button = document.getElementById("check-proof");
    if (!data || !out) return;
    var bundle = JSON.parse(data.textContent);
    function run() {
      var inc = bundle.inclusion, cp = bundle.checkpoint;
      if (!window.crypto || !crypto.subtle) {
        out.textContent = "This browser cannot hash here (WebCrypto needs a secure context); download the proof instead.";
        out.className = "pending";
        return;
      }
      out.textContent = "Checking…";
      var canonical = new TextEncoder().encode(bundle.canonical);
      var leafInput = new Uint8Array(canonical.length + 1);
      leafInput.set(canonical, 1);
      var fields = JSON.parse(bundle.canonical);
      var same = fields.seq === bundle.entry.seq && fields.message === bundle.entry.message &&
        fields.agent === bundle.entry.agent && fields.prev_hash === bundle.entry.prev_hash;
      Promise.all([crypto.subtle.digest("SHA-256", canonical), crypto.subtle.digest("SHA-256", leafInput)])
        .then(function (digests) {
          var entryOk = same && hex(digests[0]) === bundle.entry.hash;
          var leaf = new Uint8Array(digests[1]);
          var leafOk = hex(leaf) === inc.leaf_hash;
          return verifyInclusion(leaf, inc.leaf_index, inc.tree_size, inc.path.map(unhex), cp.root)
            .then(function (pathOk) {
              var ok = entryOk && leafOk && pathOk && inc.tree_size === cp.size;
              out.textContent = ok
                ? "Verified in this page: entry " + inc.seq + " hashes to its recorded hash, and its audit path leads to the signed checkpoint's root at size " + cp.size + "."
                : "NOT verified: " + (!entryOk ? "the entry does not hash to its recorded hash" : !leafOk ? "the leaf hash does not match the entry" : "the audit path does not lead to the signed checkpoint's root") + ".";
              out.className = ok ? "ok" : "bad";
              out.dataset.verified = ok ? "yes" : "no";
            });
        });
    }
    button.hidden = false;
    button.addEventListener("click", run);
    run();
  }

  document.addEventListener("DOMContentLoaded", function () {
    times(document);
    setInterval(function () { times(document); }, 30000);
    live();
    proof();
  });
})();
