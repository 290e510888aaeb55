// The customer side of the web chat: send, then poll for what the bot or an agent says.
// Who is writing is the server's business: it keeps the visitor in a signed HttpOnly cookie
// (bot/web_identity.py). This page only asks it to change: a demo customer picked (demo
// mode), or the brand's signed assertion passed in the address, sent once.
"use strict";
const thread = document.getElementById("thread");
const who = document.getElementById("who");
const statusLine = document.getElementById("status");
// Bumped at each change of identity: a poll sent before it must not show its answer after.
let generation = 0;
let lastId = 0;

function show(message) {
  const item = document.createElement("div");
  item.className = "bubble " + message.author;
  item.dataset.id = message.id;
  item.textContent = message.text;
  for (const button of message.buttons || []) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "quick";
    b.textContent = button.title;
    b.addEventListener("click", () => send(button.payload, button.title));
    item.appendChild(b);
  }
  thread.appendChild(item);
  thread.scrollTop = thread.scrollHeight;
}

// wait > 0: the server holds the request until the bot or an agent has written (long poll).
async function poll(wait = 0) {
  const asked = generation;
  try {
    const reply = await fetch(`/api/chat/messages?after=${lastId}&wait=${wait}`);
    if (reply.ok) {
      const data = await reply.json();
      if (asked !== generation) return;  // the page switched to another customer meanwhile
      for (const message of data.messages) {
        if (message.id <= lastId) continue;  // already shown by another poll in flight
        show(message);
        lastId = message.id;
      }
      statusLine.textContent = { waiting: "Waiting for a colleague…", with_agent: "A colleague is with you." }[data.state] || "";
      statusLine.dataset.state = data.state;
    }
  } catch (error) { statusLine.textContent = "Connection lost, retrying…"; }
}

async function send(text, label) {
  const response = await fetch("/api/chat/messages", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({text, client_id: crypto.getRandomValues(new Uint32Array(4)).join("-")}),
  });
  if (!response.ok) { statusLine.textContent = (await response.json()).error || "Not sent"; return; }
  await poll(10);
}

function restart() {
  generation += 1; lastId = 0; thread.innerHTML = "";
  poll();
}

function showIdentity(customer) {
  const signedIn = document.getElementById("signed-in");
  signedIn.textContent = customer ? `Signed in as ${customer.name}` : "";
  signedIn.classList.toggle("hidden", !customer || !who.closest("#picker").classList.contains("hidden"));
  who.value = customer ? customer.id : "";
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || "refused");
  return data;
}

// Demo mode: the server sets the identity of the demo customer picked (never this page).
async function pick(id) {
  try {
    const data = await postJson("/api/chat/customers", {customer: id || null});
    showIdentity(data.customer);
    statusLine.textContent = "";
  } catch (error) { statusLine.textContent = error.message; }
  restart();
}

// The brand's website links here with ?customer_id=…&expires=…&signature=… (README, "Web chat
// identity"); sent once, then taken out of the address so that it is not kept in the history.
async function acceptAssertion() {
  const params = new URLSearchParams(location.search);
  if (!params.has("signature")) return null;
  const assertion = {
    customer_id: params.get("customer_id"), expires: params.get("expires"), signature: params.get("signature"),
  };
  for (const name of Object.keys(assertion)) params.delete(name);
  history.replaceState(null, "", location.pathname + (params.toString() ? `?${params}` : ""));
  try {
    return (await postJson("/api/chat/identity", assertion)).customer;
  } catch (error) { statusLine.textContent = error.message; return null; }
}

document.getElementById("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  const text = input.value.trim();
  if (text) { input.value = ""; send(text); }
});
who.addEventListener("change", () => pick(who.value));

async function start() {
  const asserted = await acceptAssertion();
  const me = await (await fetch("/api/chat/identity")).json();
  if (me.demo) {
    document.getElementById("picker").classList.remove("hidden");
    document.getElementById("demo-note").classList.remove("hidden");
    const data = await (await fetch("/api/chat/customers")).json();
    for (const c of data.customers) {
      const option = document.createElement("option");
      option.value = c.id; option.textContent = `${c.name} (${c.tier})`;
      who.appendChild(option);
    }
    // ?as=demo-sophie: the demo customer to start as (picked on the server, like the list).
    const wanted = new URLSearchParams(location.search).get("as");
    if (wanted && wanted !== (me.customer && me.customer.id)) {
      await pick(wanted);
      setInterval(poll, 1000);
      return;
    }
  }
  showIdentity(asserted || me.customer);
  restart();
  // Only now: a poll racing the first requests could be given a second new visitor.
  setInterval(poll, 1000);
}
start();
