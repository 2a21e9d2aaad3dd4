"use strict";
// The Shipmate console: a chat channel where the bot's run messages are
// rendered from the engine's platform-neutral model and edited in place.
(() => {
  const $ = (sel) => document.querySelector(sel);
  const timeline = $("#timeline");
  const entries = new Map(); // ref -> element
  let me = "";
  let headerUser = false;

  async function api(path, body) {
    const opts = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ user: me }, body)),
    };
    const res = await fetch(path, opts);
    return res.json();
  }

  function showPrivate(reply) {
    const box = $("#private");
    box.hidden = false;
    box.className = reply.error ? "error" : "";
    box.textContent = reply.text;
    const only = document.createElement("span");
    only.className = "only";
    only.textContent = "Only visible to you";
    box.prepend(only);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderRun(entry) {
    const m = entry.message;
    const node = $("#run-tpl").content.firstElementChild.cloneNode(true);
    node.dataset.ref = entry.ref;
    node.dataset.state = m.state;
    node.classList.add("tone-" + m.tone);
    node.querySelector(".title").textContent = m.title;
    node.querySelector(".status").textContent = m.status;
    node.querySelector(".note").textContent = m.text || "";
    const dl = node.querySelector(".fields");
    for (const f of m.fields || []) {
      dl.append(el("dt", "", f.label), el("dd", "", f.value));
    }
    const itemsTitle = node.querySelector(".items-title");
    if (m.items && m.items.length && m.items_title) {
      itemsTitle.textContent = m.items_title;
      itemsTitle.hidden = false;
    }
    const ul = node.querySelector(".checklist");
    for (const it of m.items || []) {
      const li = el("li");
      const label = el("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = it.done;
      box.disabled = !it.editable;
      box.dataset.item = it.key;
      box.addEventListener("change", async () => {
        const r = await api(`/api/runs/${m.run_id}/action`, { action: box.checked ? "tick" : "untick", item: it.key });
        if (r.error) { box.checked = !box.checked; showPrivate(r); }
      });
      label.append(box, " " + it.label);
      li.append(label);
      let note = null;
      if (it.auto && it.done) {
        // Checked by Shipmate itself: its finding, and the evidence.
        note = el("span", "by auto", "checked by Shipmate" + (it.detail ? ": " + it.detail : ""));
      } else {
        if (it.done && it.by) li.append(el("span", "by", "✓ " + it.by));
        // What to know before ticking it, or what Shipmate has found so far.
        if (it.detail || it.link) note = el("span", "detail", it.detail || "");
      }
      if (note && it.link && /^https?:/.test(it.link)) {
        const a = el("a", "", "view");
        a.href = it.link;
        a.target = "_blank";
        a.rel = "noopener";
        note.append(" ", a);
      }
      if (note) li.append(note);
      ul.append(li);
    }
    if (m.log && m.log.length) {
      const pre = node.querySelector(".log");
      pre.hidden = false;
      pre.textContent = m.log.join("\n");
    }
    addButtons(node.querySelector(".buttons"), m.buttons);
    return node;
  }

  // addButtons puts a message's buttons in bar; each acts on its run.
  function addButtons(bar, buttons) {
    for (const b of buttons || []) {
      const btn = el("button", b.style || "", b.label);
      btn.dataset.action = b.action;
      btn.addEventListener("click", async () => {
        let reason = "";
        if (b.confirm && !window.confirm(b.confirm)) return;
        if (b.action === "reject") reason = window.prompt("Reason for rejecting?") || "";
        showPrivate(await api(`/api/runs/${b.run_id}/action`, { action: b.action, reason, seen: b.value || "" }));
      });
      bar.append(btn);
    }
  }

  // A notice may ask for a decision (roll back a run whose analysis
  // fails): its buttons come with it.
  function renderNotice(entry) {
    const node = el("article", "msg notice");
    node.dataset.ref = entry.ref;
    const body = el("div", "body");
    body.append(el("div", "head", entry.message.title), el("p", "note", entry.message.text));
    if (entry.message.buttons && entry.message.buttons.length) {
      const bar = el("div", "buttons");
      addButtons(bar, entry.message.buttons);
      body.append(bar);
    }
    node.append(el("div", "avatar", "⚓"), body);
    return node;
  }

  // A message a pointer is pressed on keeps its node until the pointer
  // comes up: replacing it between press and release would swallow the
  // click (a tick, a button). Its newest update waits in held, and the
  // node says so (data-held).
  let pressed = null;
  const held = new Map();
  timeline.addEventListener("pointerdown", (ev) => { pressed = ev.target.closest("article"); });
  const release = () => {
    pressed = null;
    // After the click the release makes has been handled.
    setTimeout(() => { const waiting = [...held.values()]; held.clear(); waiting.forEach(put); });
  };
  document.addEventListener("pointerup", release);
  document.addEventListener("pointercancel", release);

  function put(entry) {
    const old = entries.get(entry.ref);
    if (old && old === pressed) {
      held.set(entry.ref, entry);
      old.dataset.held = "true";
      return;
    }
    const node = entry.message.status ? renderRun(entry) : renderNotice(entry);
    const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
    if (old) old.replaceWith(node); else timeline.append(node);
    entries.set(entry.ref, node);
    if (!old && atBottom) timeline.scrollTop = timeline.scrollHeight;
  }

  async function loadTimeline() {
    const list = await api("/api/timeline");
    timeline.textContent = "";
    entries.clear();
    held.clear();
    for (const e of list) put(e);
    timeline.scrollTop = timeline.scrollHeight;
  }

  function connect() {
    const es = new EventSource("/api/stream");
    es.onopen = () => { $("#live").className = "online"; };
    es.addEventListener("message", (ev) => put(JSON.parse(ev.data)));
    es.addEventListener("resync", () => loadTimeline());
    es.onerror = () => { $("#live").className = "offline"; };
  }

  async function init() {
    const who = await api("/api/whoami");
    const sel = $("#user");
    if (who.local) {
      for (const u of who.users || []) sel.append(new Option(u, u));
      me = localStorage.getItem("shipmate.user") || (who.users || [])[0] || "";
      sel.value = me;
      sel.addEventListener("change", () => { me = sel.value; localStorage.setItem("shipmate.user", me); });
    } else {
      headerUser = true;
      sel.hidden = true;
      me = who.user || "";
      $("#fixed-user").textContent = me;
    }
    $("#composer").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = $("#input");
      const text = input.value.trim();
      if (!text) return;
      const r = await api("/api/command", { text });
      showPrivate(r);
      if (!r.error) input.value = "";
    });
    await loadTimeline();
    connect();
    document.body.dataset.ready = "true";
  }
  init();
})();
