// The designers' review: the inbox, one conversation with what the bot made of each customer
// message, labels (intent, entity spans, not for training), a test story, "done", the export.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = 20;
let offset = 0;
let current = null;   // the conversation id on screen
let view = null;      // its review data
let selected = null;  // {messageId, start, end}: words selected in a customer's message

async function api(path, options = {}) {
  const response = await fetch(path, {headers: {"Content-Type": "application/json"}, ...options});
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { loggedOut(); throw new Error("log in first"); }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function loggedOut() { $("logged-out").classList.remove("hidden"); $("review").classList.add("hidden"); $("logout").classList.add("hidden"); }

function why(c) {
  const parts = [];
  if (c.reasons.length) parts.push(`handed over: ${c.reasons.join(", ")}`);
  if (c.flagged) parts.push("flagged by an agent: the bot should have handled it");
  if (c.low_rating !== null) parts.push(`rated ${c.low_rating}/5` + (c.rating_comment ? `: “${c.rating_comment}”` : ""));
  return parts.join(" · ");
}

function inboxRow(c) {
  const div = document.createElement("div");
  div.className = "row" + (c.conversation_id === current ? " p3" : "");
  div.dataset.conversation = c.conversation_id;
  const title = document.createElement("strong");
  title.textContent = `${c.conversation_id} · ${c.channel} · ${c.language || "?"}`;
  const reason = document.createElement("div");
  reason.textContent = why(c);
  const more = document.createElement("div");
  more.className = "status";
  const labels = c.labels === 1 ? "1 label" : `${c.labels} labels`;
  more.textContent = `${c.at.slice(0, 16).replace("T", " ")} · ${labels}` + (c.customer_wanted ? ` · agent: ${c.customer_wanted}` : "");
  div.append(title, reason, more);
  div.addEventListener("click", () => open(c.conversation_id));
  return div;
}

async function refreshInbox() {
  const data = await api(`/api/console/review/inbox?limit=${PAGE}&offset=${offset}`);
  $("inbox").replaceChildren(...data.conversations.map(inboxRow));
  if (!data.conversations.length) $("inbox").textContent = "Nothing to review.";
  const last = Math.min(data.total, offset + data.conversations.length);
  $("inbox-count").textContent = data.total > PAGE ? `(${offset + 1}–${last} of ${data.total})` : `(${data.total})`;
  $("newer").disabled = offset === 0;
  $("older").disabled = offset + PAGE >= data.total;
}

// A message's text with its labelled entities marked; offsets count characters (code
// points), as the server's and Rasa's do, not JavaScript's UTF-16 units.
function markedText(element, text, entities) {
  const chars = Array.from(text);
  let at = 0;
  for (const e of [...entities].sort((a, b) => a.start - b.start)) {
    element.append(chars.slice(at, e.start).join(""));
    const mark = document.createElement("mark");
    mark.title = e.entity;
    mark.textContent = chars.slice(e.start, e.end).join("");
    element.append(mark);
    at = e.end;
  }
  element.append(chars.slice(at).join(""));
}

function percent(value) { return value === null || value === undefined ? "?" : `${Math.round(value * 100)} %`; }

function parseLine(m) {
  if (m.merged_into) return `The bot read this with message #${m.merged_into}.`;
  const p = m.parse;
  if (!p) return view.bot === "ok" ? "The bot has no parse of this message." : "";
  const parts = [`Bot: ${p.intent || "?"} (${percent(p.confidence)})`, p.language || "?", `anger ${p.anger === null ? "?" : p.anger.toFixed(2)}`];
  if (p.entities.length) parts.push("entities: " + p.entities.map((e) => `${e.entity}=${e.value}`).join(", "));
  if (p.knowledge) parts.push(`knowledge: ${p.knowledge.article} (${percent(p.knowledge.score)})`);
  return parts.join(" · ");
}

function nextLine(next) {
  if (!next) return "";
  const parts = [];
  if (next.bot) parts.push(`bot replied (${next.bot})`);
  if (next.handoff) parts.push(`handed over: ${next.handoff.join(", ")}`);
  if (next.agent) parts.push(`agent replied (${next.agent})`);
  return parts.length ? "Then: " + parts.join(" · ") : "Then: nothing (the customer wrote again).";
}

function labelLine(label) {
  if (!label) return "Not labelled.";
  const parts = [];
  if (label.intent) parts.push(`intent ${label.intent}`);
  if (label.entities.length) parts.push("entities: " + label.entities.map((e) => `${e.entity}=${e.value}`).join(", "));
  if (label.excluded) parts.push("not for training");
  if (label.exported_at) parts.push("exported");
  return "Label: " + (parts.join(" · ") || "nothing set");
}

function line(text, className = "status") {
  const p = document.createElement("p");
  p.className = className;
  p.textContent = text;
  return p;
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

function customerMessage(m) {
  const box = document.createElement("div");
  box.className = "labelling";
  box.dataset.id = m.id;
  const bubble = document.createElement("div");
  bubble.className = "bubble customer";
  bubble.dataset.id = m.id;
  markedText(bubble, m.text, m.label ? m.label.entities : []);
  box.append(bubble, line(parseLine(m)), line(nextLine(m.next)), line(labelLine(m.label)));
  if (!m.text.trim()) return box;
  const intent = document.createElement("input");
  intent.setAttribute("list", "intents");
  intent.className = "intent";
  intent.placeholder = "The right intent (or a new name)";
  intent.value = m.label && m.label.intent ? m.label.intent : "";
  const language = m.parse && ["en", "fr"].includes(m.parse.language) ? m.parse.language : undefined;
  const setIntent = button("Set intent", () => label(m.id, {intent: intent.value.trim(), language}));
  setIntent.className = "set-intent";
  const entity = document.createElement("input");
  entity.setAttribute("list", "entities");
  entity.placeholder = "Entity name";
  const markEntity = button("Mark selected words as this entity", () => {
    if (!selected || selected.messageId !== m.id) { $("action-error").textContent = "Select words in this message first."; return; }
    const spans = (m.label ? m.label.entities : []).map(({start, end, entity: name}) => ({start, end, entity: name}));
    spans.push({start: selected.start, end: selected.end, entity: entity.value.trim()});
    label(m.id, {entities: spans, language});
  });
  markEntity.className = "mark-entity";
  const excluded = document.createElement("label");
  const notForTraining = document.createElement("input");
  notForTraining.type = "checkbox";
  notForTraining.className = "excluded";
  notForTraining.checked = Boolean(m.label && m.label.excluded);
  notForTraining.addEventListener("change", () => label(m.id, {excluded: notForTraining.checked}));
  excluded.append(notForTraining, " Not for training");
  const controls = document.createElement("div");
  controls.className = "chips";
  controls.append(intent, setIntent, entity, markEntity, excluded);
  if (m.label) controls.append(button("Remove label", () => unlabel(m.id)));
  box.append(controls);
  return box;
}

function otherMessage(m) {
  const div = document.createElement("div");
  div.className = `bubble ${m.author}`;
  div.dataset.id = m.id;
  const who = m.author === "agent" && m.agent ? `${m.agent}: ` : "";
  div.textContent = (m.author === "system" ? "— " : "") + who + m.text;
  return div;
}

function options(list, target) {
  target.replaceChildren(...list.map((name) => { const o = document.createElement("option"); o.value = name; return o; }));
}

function renderSide(data) {
  const box = $("why");
  box.replaceChildren(line(why(data.summary), ""));
  for (const e of data.escalations) {
    const text = `Handoff ${e.created_at.slice(0, 16).replace("T", " ")}: ${e.reasons.join(", ")} (P${e.priority}, ${e.status}${e.agent ? `, ${e.agent}` : ""})`;
    box.append(line(text, ""));
    if (e.customer_wanted) box.append(line(`The customer wanted: ${e.customer_wanted}`, ""));
    if (e.bot_should_handle) box.append(line("The agent says the bot should have handled this.", ""));
  }
  for (const r of data.ratings) {
    if (r.score !== null) box.append(line(`Rated ${r.score}/5 (${r.handled_by})` + (r.comment ? `: “${r.comment}”` : ""), ""));
  }
  const s = data.summary;
  const reason = s.reasons.length ? `handed over for ${s.reasons.join(", ")}` : s.flagged ? "the bot should have handled it" : "a low rating";
  $("story-name").value = data.story ? data.story.name : `${reason} (${data.channel})`;
  $("story-status").textContent = data.story ? `Test story “${data.story.name}”` + (data.story.exported_at ? " (exported)." : " (not exported yet).") : "";
}

async function open(conversationId) {
  current = conversationId;
  selected = null;
  $("action-error").textContent = "";
  view = await api(`/api/console/review/conversations/${encodeURIComponent(conversationId)}`);
  options(view.intents, $("intents"));
  options(view.entities, $("entities"));
  $("empty").classList.add("hidden"); $("view").classList.remove("hidden"); $("side").classList.remove("hidden");
  $("view-title").textContent = `${view.id} · ${view.channel} · ${view.language || "?"}` + (view.done_at ? " · done" : "");
  $("bot-status").textContent = view.bot === "ok" ? "" : "The bot (Rasa) did not answer: its parse of each message is not shown.";
  $("bot-status").classList.toggle("hidden", view.bot === "ok");
  $("messages").replaceChildren(...view.messages.map((m) => m.author === "customer" ? customerMessage(m) : otherMessage(m)));
  renderSide(view);
  document.querySelectorAll("#inbox .row").forEach((r) => r.classList.toggle("p3", r.dataset.conversation === current));
}

async function label(messageId, body) {
  $("action-error").textContent = "";
  try { await api(`/api/console/review/messages/${messageId}/label`, {method: "POST", body: JSON.stringify(body)}); }
  catch (error) { $("action-error").textContent = error.message; return; }
  await open(current); await refreshInbox();
}

async function unlabel(messageId) {
  $("action-error").textContent = "";
  try { await api(`/api/console/review/messages/${messageId}/label`, {method: "DELETE"}); }
  catch (error) { $("action-error").textContent = error.message; return; }
  await open(current); await refreshInbox();
}

// Where the selection starts or ends inside a message bubble, in characters (code points).
function offsetIn(bubble, node, offset) {
  const range = document.createRange();
  range.selectNodeContents(bubble);
  range.setEnd(node, offset);
  return Array.from(range.toString()).length;
}

// Kept as it is made: clicking a button may clear the page's selection.
document.addEventListener("selectionchange", () => {
  const selection = document.getSelection();
  if (!selection || selection.isCollapsed || !selection.rangeCount) return;
  const range = selection.getRangeAt(0);
  const bubble = (node) => (node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement).closest("#messages .bubble.customer");
  const start = bubble(range.startContainer), end = bubble(range.endContainer);
  if (!start || start !== end) return;
  selected = {
    messageId: Number(start.dataset.id),
    start: offsetIn(start, range.startContainer, range.startOffset),
    end: offsetIn(start, range.endContainer, range.endOffset),
  };
});

async function showExport() {
  try {
    const preview = await api("/api/console/review/export");
    $("export-summary").textContent = `${preview.examples} training example(s) and ${preview.stories} test story(ies) ready.`
      + (preview.trackers_missing ? " The bot (Rasa) did not give every conversation: their stories wait." : "");
    $("download-nlu").classList.toggle("hidden", !preview.examples);
    $("download-stories").classList.toggle("hidden", !preview.stories);
    // Duplicates, conflicts, new intents…: what the designer must see before training.
    $("export-flags").replaceChildren(...preview.flags.map((f) => line(f.description, f.written ? "status" : "alert")));
  } catch (error) { $("export-summary").textContent = error.message; }
}

$("make-story").addEventListener("click", async () => {
  $("action-error").textContent = "";
  try { await api(`/api/console/review/conversations/${encodeURIComponent(current)}/story`, {method: "POST", body: JSON.stringify({name: $("story-name").value})}); }
  catch (error) { $("action-error").textContent = error.message; return; }
  await open(current); await refreshInbox(); await showExport();
});
$("done").addEventListener("click", async () => {
  $("action-error").textContent = "";
  try { await api(`/api/console/review/conversations/${encodeURIComponent(current)}/done`, {method: "POST", body: "{}"}); }
  catch (error) { $("action-error").textContent = error.message; return; }
  current = null; view = null;
  $("view").classList.add("hidden"); $("side").classList.add("hidden"); $("empty").classList.remove("hidden");
  $("empty").textContent = "Done. Pick another conversation.";
  await refreshInbox(); await showExport();
});
for (const id of ["download-nlu", "download-stories"]) $(id).addEventListener("click", () => setTimeout(showExport, 1000));
$("newer").addEventListener("click", async () => { offset = Math.max(0, offset - PAGE); await refreshInbox(); });
$("older").addEventListener("click", async () => { offset += PAGE; await refreshInbox(); });
$("logout").addEventListener("click", async () => { await api("/api/logout", {method: "POST"}); location.assign("/console"); });

async function start() {
  const me = await api("/api/console/me");
  $("me").textContent = `${me.name} (${me.role})`;
  $("logout").classList.remove("hidden");
  if (me.role !== "designer" && me.role !== "supervisor") {
    $("logged-out").textContent = "The review is for designers and supervisors.";
    $("logged-out").classList.remove("hidden");
    return;
  }
  $("console-link").classList.toggle("hidden", me.role !== "supervisor");
  $("metrics-link").classList.toggle("hidden", me.role !== "supervisor");
  $("review").classList.remove("hidden");
  await refreshInbox();
  await showExport();
  setInterval(() => refreshInbox().catch(() => {}), 30000);
}
start().catch(() => loggedOut());
