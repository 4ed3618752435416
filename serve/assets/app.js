// flashforge serve dashboard: plain JS, no framework, no external resources.
// Text from printers is only ever set with textContent.
"use strict";

(function () {
  const API = "/api/v1";
  const KEY = "flashforge-token";
  const STATE_CLASS = {
    Ready: "ready", Printing: "printing", Heating: "printing", Paused: "paused",
    Pausing: "paused", Completed: "completed", Cancelled: "cancelled", Error: "error",
    Busy: "busy", Calibrating: "busy", Unknown: "unknown",
  };

  let token = null;
  const printers = new Map(); // id -> snapshot
  const cards = new Map(); // id -> card element
  const thumbs = new Map(); // id -> {file, url}
  let streamAbort = null;
  let streamGen = 0;

  const $ = (sel, root) => (root || document).querySelector(sel);

  // ---- token -------------------------------------------------------------------------------

  function takeToken() {
    const m = /(?:^|[#&])token=([^&]*)/.exec(location.hash);
    if (m) {
      const t = decodeURIComponent(m[1]);
      try { sessionStorage.setItem(KEY, t); } catch (_) { /* private mode */ }
      history.replaceState(null, "", location.pathname + location.search);
      return t;
    }
    try { return sessionStorage.getItem(KEY); } catch (_) { return null; }
  }

  function showLogin(message) {
    stopStream();
    token = null;
    try { sessionStorage.removeItem(KEY); } catch (_) { /* ignore */ }
    $("#login").hidden = false;
    $("#grid").hidden = true;
    $("#login-error").textContent = message || "";
    setConn("signed-out", "signed out");
    $("#token-input").focus();
  }

  function hideLogin() {
    $("#login").hidden = true;
    $("#grid").hidden = false;
  }

  class Unauthorized extends Error {}

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    const opts = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(API + path, opts);
    if (r.status === 401) {
      showLogin("The token was refused.");
      throw new Unauthorized("unauthorized");
    }
    return r;
  }

  async function errorText(r) {
    try {
      const j = await r.json();
      if (j && j.error) return j.error;
    } catch (_) { /* not JSON */ }
    return "HTTP " + r.status;
  }

  // ---- toasts ------------------------------------------------------------------------------

  function toast(text, kind) {
    const t = document.createElement("div");
    t.className = "toast " + (kind || "error");
    t.setAttribute("role", kind === "ok" ? "status" : "alert");
    t.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", () => t.remove());
    t.appendChild(close);
    $("#toasts").appendChild(t);
    setTimeout(() => t.remove(), kind === "ok" ? 4000 : 10000);
  }

  function setConn(state, text) {
    const c = $("#conn");
    c.dataset.state = state;
    c.textContent = text;
  }

  // ---- formatting --------------------------------------------------------------------------

  function hm(s) {
    if (s === null || s === undefined) return "–";
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h + ":" + String(m).padStart(2, "0");
  }

  function deg(v) {
    return v === null || v === undefined ? "–" : Math.round(v) + "°";
  }

  function temp(t) {
    if (!t) return null;
    const set = t.set ? deg(t.set) : "off";
    return deg(t.current) + " / " + set;
  }

  const MODEL_NAMES = {
    Adventurer3: "Adventurer 3", Adventurer4: "Adventurer 4", Adventurer5M: "Adventurer 5M",
    Adventurer5MPro: "Adventurer 5M Pro", AD5X: "AD5X", Creator5: "Creator 5",
    Creator5Pro: "Creator 5 Pro", Unknown: "Unknown model",
  };

  function modelName(m) {
    if (m === null || m === undefined) return "";
    if (typeof m === "string") return MODEL_NAMES[m] || m;
    return String(m.name || "");
  }

  // ---- cards -------------------------------------------------------------------------------

  function card(id) {
    let c = cards.get(id);
    if (c) return c;
    const frag = $("#card-template").content.cloneNode(true);
    c = frag.querySelector(".card");
    c.dataset.printer = id;
    for (const b of c.querySelectorAll("[data-action]")) {
      b.addEventListener("click", () => action(id, b.dataset.action, b));
    }
    const form = c.querySelector("form.upload");
    const file = form.querySelector("input[type=file]");
    const suffix = id.replace(/[^a-z0-9_-]/gi, "_");
    file.id = "file-" + suffix;
    form.querySelector("input[type=checkbox]").id = "print-" + suffix;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      upload(id, form);
    });
    cards.set(id, c);
    $("#grid").appendChild(c);
    return c;
  }

  function setText(root, sel, text) {
    const el = root.querySelector(sel);
    if (el.textContent !== text) el.textContent = text;
    return el;
  }

  function render(p) {
    const c = card(p.id);
    const st = p.status || null;
    const state = st ? st.state : "Unknown";
    setText(c, ".name", p.name || p.id);
    setText(c, ".model", modelName(p.model) + (p.address ? " · " + p.address : ""));
    c.querySelector(".name").title = p.name || p.id;
    const online = setText(c, ".online", p.online ? "online" : "offline");
    online.dataset.online = p.online ? "true" : "false";
    c.dataset.online = p.online ? "true" : "false";

    const stEl = setText(c, ".state", state);
    stEl.dataset.state = STATE_CLASS[state] || "unknown";
    c.dataset.state = stEl.dataset.state;

    setText(c, ".file", st && st.file ? st.file : "–");
    c.querySelector(".file").title = st && st.file ? st.file : "";
    const layer = st && st.layer !== null && st.layer !== undefined
      ? st.layer + " / " + (st.total_layers !== null && st.total_layers !== undefined ? st.total_layers : "?")
      : "–";
    setText(c, ".layer", layer);
    setText(c, ".eta", st && st.remaining_s !== null && st.remaining_s !== undefined ? hm(st.remaining_s) : "–");

    const prog = st && typeof st.progress === "number" ? st.progress : null;
    const pct = prog === null ? null : Math.round(Math.min(1, Math.max(0, prog)) * 100);
    setText(c, ".progress", pct === null ? "–" : pct + "%");
    const bar = c.querySelector(".progress-row .bar");
    bar.querySelector(".fill").style.width = (pct || 0) + "%";
    if (pct === null) bar.removeAttribute("aria-valuenow"); else bar.setAttribute("aria-valuenow", String(pct));

    renderTemps(c.querySelector(".temps"), st ? st.temperatures : null);

    const err = c.querySelector(".error");
    if (!p.online && p.error) {
      err.hidden = false;
      err.textContent = (p.error.kind ? p.error.kind + ": " : "") + p.error.error;
    } else {
      err.hidden = true;
      err.textContent = "";
    }

    const label = p.name || p.id;
    if (c.getAttribute("aria-label") !== label) {
      c.setAttribute("aria-label", label);
      for (const b of c.querySelectorAll("[data-action]")) {
        b.setAttribute("aria-label", b.textContent + " " + label);
      }
      c.querySelector("form.upload").setAttribute("aria-label", "Upload to " + label);
    }

    const active = ["Printing", "Heating", "Paused", "Pausing"].includes(state);
    c.querySelector("[data-action=pause]").disabled = !p.online || !["Printing", "Heating"].includes(state);
    c.querySelector("[data-action=resume]").disabled = !p.online || !["Paused", "Pausing"].includes(state);
    c.querySelector("[data-action=cancel]").disabled = !p.online || !active;

    if (p.upload) renderUpload(c, p.upload);
    thumbnail(p.id, st && st.file ? st.file : null, c);
  }

  function renderTemps(ul, t) {
    const rows = [];
    if (t) {
      const tools = t.tools || [];
      tools.forEach((x, i) => {
        rows.push([tools.length > 1 ? "Nozzle " + (i + 1) : "Nozzle", temp(x)]);
      });
      if (t.bed) rows.push(["Bed", temp(t.bed)]);
      if (t.chamber) rows.push(["Chamber", temp(t.chamber)]);
    }
    const key = JSON.stringify(rows);
    if (ul.dataset.key === key) return;
    ul.dataset.key = key;
    ul.replaceChildren();
    for (const [label, value] of rows) {
      const li = document.createElement("li");
      const l = document.createElement("span");
      l.className = "t-label";
      l.textContent = label;
      const v = document.createElement("span");
      v.className = "t-value";
      v.textContent = value;
      li.append(l, v);
      ul.appendChild(li);
    }
  }

  function renderUpload(c, u) {
    const box = c.querySelector(".upload-status");
    box.hidden = false;
    const pct = u.total ? Math.round((u.sent / u.total) * 100) : 0;
    box.querySelector(".fill").style.width = (u.done && !u.error ? 100 : pct) + "%";
    box.querySelector(".bar").setAttribute("aria-valuenow", String(pct));
    let text;
    if (u.error) text = u.name + ": failed: " + u.error.error;
    else if (u.done) text = u.name + ": uploaded";
    else text = u.name + ": " + pct + "%";
    box.querySelector(".upload-text").textContent = text;
    box.dataset.state = u.error ? "error" : u.done ? "done" : "running";
  }

  async function thumbnail(id, file, c) {
    const img = c.querySelector(".thumb");
    const cur = thumbs.get(id);
    if (cur && cur.file === file) return;
    if (cur && cur.url) URL.revokeObjectURL(cur.url);
    thumbs.set(id, { file, url: null });
    img.hidden = true;
    img.removeAttribute("src");
    if (!file) return;
    try {
      const r = await api("GET", "/printers/" + encodeURIComponent(id) + "/files/" + encodeURIComponent(file) + "/thumbnail");
      if (!r.ok) return;
      const blob = await r.blob();
      if (thumbs.get(id).file !== file) return;
      const url = URL.createObjectURL(blob);
      thumbs.set(id, { file, url });
      img.src = url;
      img.alt = "Preview of " + file;
      img.hidden = false;
    } catch (_) { /* no thumbnail */ }
  }

  function renderAll() {
    for (const p of printers.values()) render(p);
    const list = [...printers.values()];
    const on = list.filter((p) => p.online).length;
    const busy = list.filter((p) => p.status && ["Printing", "Heating"].includes(p.status.state)).length;
    $("#summary").textContent = list.length + " printers · " + on + " online · " + busy + " printing";
    $("#empty").hidden = list.length !== 0;
  }

  function replaceAll(list) {
    const ids = new Set(list.map((p) => p.id));
    for (const [id, c] of cards) {
      if (!ids.has(id)) { c.remove(); cards.delete(id); printers.delete(id); }
    }
    for (const p of list) printers.set(p.id, p);
    renderAll();
  }

  // ---- actions -----------------------------------------------------------------------------

  async function action(id, what, button) {
    const p = printers.get(id);
    const name = p ? p.name : id;
    if (what === "cancel" && !confirm("Cancel the job on " + name + "?")) return;
    button.disabled = true;
    try {
      const r = await api("POST", "/printers/" + encodeURIComponent(id) + "/" + what);
      if (!r.ok) toast(name + ": " + what + " failed: " + (await errorText(r)));
    } catch (e) {
      if (!(e instanceof Unauthorized)) toast(name + ": " + what + " failed: " + e.message);
    } finally {
      if (p) render(printers.get(id));
    }
  }

  function upload(id, form) {
    const input = form.querySelector("input[type=file]");
    const file = input.files && input.files[0];
    if (!file) { toast("Choose a file first."); return; }
    const print = form.querySelector("input[type=checkbox]").checked;
    const c = card(id);
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", API + "/printers/" + encodeURIComponent(id) + "/files/" + encodeURIComponent(file.name) + "?print=" + (print ? "true" : "false"));
    xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) renderUpload(c, { name: file.name, sent: e.loaded, total: e.total, done: false, error: null });
    };
    xhr.onload = () => {
      submit.disabled = false;
      if (xhr.status === 401) { showLogin("The token was refused."); return; }
      if (xhr.status >= 200 && xhr.status < 300) {
        renderUpload(c, { name: file.name, sent: file.size, total: file.size, done: true, error: null });
        toast(file.name + " uploaded" + (print ? ", printing" : ""), "ok");
        form.reset();
      } else {
        let msg = "HTTP " + xhr.status;
        try { const j = JSON.parse(xhr.responseText); if (j.error) msg = j.error; } catch (_) { /* keep */ }
        renderUpload(c, { name: file.name, sent: 0, total: file.size, done: true, error: { error: msg } });
        toast(file.name + ": upload failed: " + msg);
      }
    };
    xhr.onerror = () => {
      submit.disabled = false;
      toast(file.name + ": upload failed (connection)");
    };
    renderUpload(c, { name: file.name, sent: 0, total: file.size, done: false, error: null });
    xhr.send(file);
  }

  // ---- events ------------------------------------------------------------------------------

  function handle(type, data) {
    let d;
    try { d = JSON.parse(data); } catch (_) { return; }
    const p = d.printer && typeof d.printer === "string" ? printers.get(d.printer) : null;
    switch (type) {
      case "snapshot":
        replaceAll(d.printers || []);
        return;
      case "status":
        if (!p) return;
        p.status = d.status;
        p.online = d.online !== false;
        if (p.online) p.error = null;
        break;
      case "online":
        if (!p) return;
        p.online = true;
        p.error = null;
        break;
      case "offline":
        if (!p) return;
        p.online = false;
        p.error = d.error || null;
        break;
      case "upload":
        if (!p) return;
        p.upload = d.upload;
        break;
      case "job":
        if (!p) return;
        if (d.transition === "completed" || d.transition === "failed") {
          toast(p.name + ": job " + d.transition + (d.file ? " (" + d.file + ")" : ""), d.transition === "completed" ? "ok" : "error");
        }
        return;
      case "added":
        if (d.printer && d.printer.id) printers.set(d.printer.id, d.printer);
        break;
      case "lagged":
        refresh();
        return;
      default:
        return;
    }
    renderAll();
  }

  function stopStream() {
    streamGen++;
    if (streamAbort) { streamAbort.abort(); streamAbort = null; }
  }

  async function stream() {
    const gen = ++streamGen;
    let delay = 1000;
    // The id of the last event seen: a reconnect replays the job transitions missed meanwhile.
    let lastId = null;
    while (gen === streamGen && token) {
      const ctl = new AbortController();
      streamAbort = ctl;
      let got = false;
      try {
        const headers = { Authorization: "Bearer " + token, Accept: "text/event-stream" };
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const r = await fetch(API + "/events", {
          headers,
          cache: "no-store",
          signal: ctl.signal,
        });
        if (r.status === 401) { showLogin("The token was refused."); return; }
        if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
        setConn("live", "live");
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          buf = buf.replace(/\r\n?/g, "\n");
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let ev = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line === "" || line.startsWith(":")) continue;
              const c = line.indexOf(":");
              const field = c < 0 ? line : line.slice(0, c);
              let v = c < 0 ? "" : line.slice(c + 1);
              if (v.startsWith(" ")) v = v.slice(1);
              if (field === "event") ev = v;
              else if (field === "data") data.push(v);
              else if (field === "id" && /^[0-9]{1,20}$/.test(v)) lastId = v;
            }
            if (data.length) {
              got = true;
              handle(ev, data.join("\n"));
            }
          }
        }
      } catch (e) {
        if (gen !== streamGen) return;
      }
      if (gen !== streamGen) return;
      if (got) delay = 1000;
      setConn("reconnecting", "reconnecting…");
      await new Promise((res) => setTimeout(res, delay + Math.random() * 250));
      delay = Math.min(delay * 2, 30000);
    }
  }

  async function refresh() {
    try {
      const r = await api("GET", "/printers");
      if (!r.ok) { toast("Cannot list printers: " + (await errorText(r))); return false; }
      const j = await r.json();
      replaceAll(j.printers || []);
      return true;
    } catch (e) {
      if (!(e instanceof Unauthorized)) {
        setConn("reconnecting", "server unreachable");
      }
      return false;
    }
  }

  async function startWith(t) {
    token = t;
    hideLogin();
    setConn("connecting", "connecting…");
    if (await refresh()) stream();
    else if (token) setTimeout(() => { if (token) startWith(token); }, 3000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#login").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("#token-input").value.trim();
      if (!t) return;
      try { sessionStorage.setItem(KEY, t); } catch (_) { /* ignore */ }
      $("#token-input").value = "";
      startWith(t);
    });
    const t = takeToken();
    if (t) startWith(t); else showLogin("");
  });
})();
