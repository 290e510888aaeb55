// The agent console: a live queue (polled), one conversation at a time, and its actions.
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;       // the conversation id on screen
let currentEscalation = null;
let known = new Set();    // escalation ids already seen in the queue (for the new-escalation alert)
let firstLoad = true;

async function api(path, options = {}) {
  const response = await fetch(path, {headers: {"Content-Type": "application/json"}, ...options});
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { showLogin(); throw new Error("log in first"); }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function showLogin() { $("login").classList.remove("hidden"); $("desk").classList.add("hidden"); $("logout").classList.add("hidden"); }

function clock(seconds) {
  const sign = seconds < 0 ? "-" : "";
  seconds = Math.abs(seconds);
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return `${sign}${m}:${String(s).padStart(2, "0")}`;
}

function row(e) {
  const div = document.createElement("div");
  div.className = `row p${e.priority}` + (e.sla_seconds_left < 0 && !e.answered ? " late" : "");
  div.dataset.escalation = e.id;
  div.innerHTML = "";
  const title = document.createElement("strong");
  title.textContent = `P${e.priority} · ${e.customer || e.conversation_id}`;
  const detail = document.createElement("div");
  detail.textContent = `${e.reasons.join(", ")} · ${e.channel} · waiting ${clock(e.waiting_seconds)} · SLA ${clock(e.sla_seconds_left)}`;
  div.append(title, detail);
  div.addEventListener("click", () => open(e.conversation_id));
  return div;
}

async function refreshQueue() {
  const data = await api("/api/console/queue");
  $("queue").replaceChildren(...data.waiting.map(row));
  $("mine").replaceChildren(...data.mine.map(row));
  $("queue-count").textContent = `(${data.waiting.length})`;
  // Replies waiting for a platform (X's send limit, say): said until they are out.
  $("backlog").textContent = (data.backlog || []).join(" ");
  $("backlog").classList.toggle("hidden", !(data.backlog || []).length);
  const fresh = data.waiting.filter((e) => !known.has(e.id));
  data.waiting.forEach((e) => known.add(e.id));
  if (fresh.length && !firstLoad) {
    $("alert").textContent = `New escalation: P${fresh[0].priority} ${fresh[0].reasons.join(", ")}`;
    $("alert").classList.remove("hidden");
    setTimeout(() => $("alert").classList.add("hidden"), 8000);
  }
  firstLoad = false;
  $("transfer-to").replaceChildren(...data.agents.map((a) => { const o = document.createElement("option"); o.value = a.id; o.textContent = a.name; return o; }));
}

function bubble(m) {
  const div = document.createElement("div");
  div.className = `bubble ${m.author}`;
  div.dataset.id = m.id;
  const edited = m.details && m.details.edited_at ? " (edited)" : "";
  div.textContent = (m.author === "system" ? "— " : "") + m.text + edited;
  return div;
}

async function open(conversationId) {
  if (conversationId !== current) { $("customer-wanted").value = ""; $("bot-should-handle").checked = false; }
  current = conversationId;
  const data = await api(`/api/console/conversations/${encodeURIComponent(conversationId)}`);
  currentEscalation = data.escalation;
  $("empty").classList.add("hidden"); $("view").classList.remove("hidden");
  $("view-title").textContent = `${data.records.customer ? data.records.customer.name : data.id} · ${data.channel} · ${data.state}`;
  $("view-reasons").textContent = data.escalation ? `Priority ${data.escalation.priority} — reasons: ${data.escalation.reasons.join(", ")}` : "";
  $("view-summary").textContent = data.escalation ? data.escalation.summary : "";
  $("transcript").replaceChildren(...data.transcript.map(bubble));
  const chips = (list, target) => target.replaceChildren(...list.map((text) => { const b = document.createElement("button"); b.type = "button"; b.textContent = text.title || text.text || text; b.title = text.text || text; b.addEventListener("click", () => { $("reply").value = text.text || text; }); return b; }));
  chips(data.suggestions, $("suggestions"));
  $("suggestions").append(...(data.knowledge_suggestions || []).map(knowledgeSuggestion));
  chips(data.canned, $("canned"));
  renderRecords(data.records);
  $("notes").replaceChildren(...data.notes.map((n) => { const p = document.createElement("p"); p.textContent = `${n.by}: ${n.text}`; return p; }));
  const held = data.escalation && data.escalation.status === "claimed";
  $("take").classList.toggle("hidden", !(data.escalation && data.escalation.status === "waiting"));
  for (const id of ["send", "hand-back", "resolve", "release", "transfer", "transfer-to", "reply", "customer-wanted", "bot-should-handle"]) $(id).disabled = !held;
}

// A passage of the brand's knowledge that answers the customer's latest messages, in their
// language, named by its article; "Insert" puts it (with the article's link) in the reply box.
function knowledgeSuggestion(s) {
  const div = document.createElement("div");
  div.className = "knowledge-suggestion";
  div.dataset.article = s.article;
  const name = document.createElement("strong");
  name.textContent = `${s.title} (knowledge)`;
  const text = document.createElement("span");
  text.textContent = s.text;
  const insert = document.createElement("button");
  insert.type = "button"; insert.textContent = "Insert";
  insert.addEventListener("click", () => { $("reply").value = s.text; $("reply").focus(); });
  div.append(name, " ", text, " ", insert);
  return div;
}

function renderRecords(records) {
  const box = $("records");
  box.replaceChildren();
  const unverified = records.unverified;
  if (!records.customer && !records.bookings.length && !unverified) { box.textContent = "Not a known customer."; return; }
  const head = document.createElement("p");
  if (records.customer) {
    const c = records.customer;
    head.textContent = `${c.name} · ${c.tier} tier · ${c.points} points · ${c.email}`;
  } else {
    head.textContent = "Customer not identified.";
  }
  box.appendChild(head);
  if (unverified) {
    // A reference the customer typed without proving it: its records may not be theirs.
    const warn = document.createElement("p");
    warn.className = "alert";
    warn.setAttribute("role", "note");
    warn.textContent = `${unverified.reference}: ${unverified.notice}${unverified.known ? "" : " No booking has this reference."}`;
    box.appendChild(warn);
  }
  for (const b of records.bookings) {
    const p = document.createElement("p");
    const legs = b.flights.map((f) => `${f.number} ${f.from}→${f.to} ${f.departure.slice(0, 16)} ${f.status}`).join("; ");
    const extra = [...b.bags.map((x) => `bag ${x.file} ${x.status}`), ...b.refunds.map((r) => `refund ${r.amount} ${r.status}`)].join("; ");
    const mark = b.verified === false ? " [NOT VERIFIED]" : (records.customer ? "" : " [proven: reference and surname]");
    p.textContent = `${b.reference}${mark} (${b.fare}, ${b.status}): ${legs}${extra ? " — " + extra : ""}`;
    box.appendChild(p);
  }
  if (records.contacts.length) {
    const h = document.createElement("h4"); h.textContent = "Past contacts"; box.appendChild(h);
    for (const x of records.contacts) { const p = document.createElement("p"); p.textContent = `${x.at.slice(0, 10)} ${x.channel} ${x.topic}: ${x.summary}`; box.appendChild(p); }
  }
}

async function act(action, body) {
  $("action-error").textContent = "";
  try {
    await api(`/api/console/escalations/${currentEscalation.id}/${action}`, {method: "POST", body: JSON.stringify(body || {})});
  } catch (error) { $("action-error").textContent = error.message; }
  await refreshQueue(); if (current) await open(current);
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/api/login", {method: "POST", body: JSON.stringify({username: $("username").value, password: $("password").value})});
    await start();
  } catch (error) { $("login-error").textContent = error.message; }
});
$("logout").addEventListener("click", async () => { await api("/api/logout", {method: "POST"}); location.reload(); });
$("claim-next").addEventListener("click", async () => {
  try { const r = await api("/api/console/claim-next", {method: "POST"}); if (r.escalation) await open(r.escalation.conversation_id); else $("action-error").textContent = r.message; }
  catch (error) { $("action-error").textContent = error.message; }
  await refreshQueue();
});
$("take").addEventListener("click", () => act("claim"));
$("send").addEventListener("click", async () => {
  const text = $("reply").value.trim();
  if (!text || $("send").dataset.busy) return;
  $("send").dataset.busy = "1";  // a double click sends once; the server also dedupes by client_id
  try { await act("reply", {text, client_id: crypto.getRandomValues(new Uint32Array(4)).join("-")}); $("reply").value = ""; }
  finally { delete $("send").dataset.busy; }
});
// What the agent says for the bot's designers as they close: one line, and a flag.
const closing = () => ({customer_wanted: $("customer-wanted").value.trim(), bot_should_handle: $("bot-should-handle").checked});
$("hand-back").addEventListener("click", () => act("hand-back", closing()));
$("resolve").addEventListener("click", () => act("resolve", closing()));
$("release").addEventListener("click", () => act("release"));
$("transfer").addEventListener("click", () => act("transfer", {agent_id: Number($("transfer-to").value)}));
$("add-note").addEventListener("click", async () => { const text = $("note").value.trim(); if (text) { await act("note", {text}); $("note").value = ""; } });

async function start() {
  const me = await api("/api/console/me");
  $("me").textContent = `${me.name} (${me.role})`;
  $("login").classList.add("hidden"); $("desk").classList.remove("hidden"); $("logout").classList.remove("hidden");
  $("metrics-link").classList.toggle("hidden", me.role !== "supervisor");
  $("review-link").classList.toggle("hidden", me.role !== "supervisor" && me.role !== "designer");
  // Designers take no queue: their page is the review inbox.
  if (me.role === "designer") { location.assign("/console/review"); return; }
  await refreshQueue();
  setInterval(async () => { await refreshQueue(); if (current) await open(current); }, 2000);
}
start().catch(() => showLogin());
