// The customer side of the web chat: send, then poll for what the bot or an agent says.
"use strict";
const thread = document.getElementById("thread");
const who = document.getElementById("who");
const statusLine = document.getElementById("status");
let sender = null;
let lastId = 0;

function visitorId() {
  let id = localStorage.getItem("relais-visitor");
  if (!id) {
    id = "guest-" + crypto.getRandomValues(new Uint32Array(2)).join("");
    localStorage.setItem("relais-visitor", id);
  }
  return id;
}

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
  const asked = sender;
  try {
    const reply = await fetch(`/api/chat/messages?sender=${encodeURIComponent(asked)}&after=${lastId}&wait=${wait}`);
    if (reply.ok) {
      const data = await reply.json();
      if (asked !== sender) return;  // the page switched to another customer meanwhile
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
    body: JSON.stringify({sender, text, client_id: crypto.getRandomValues(new Uint32Array(4)).join("-")}),
  });
  if (!response.ok) { statusLine.textContent = (await response.json()).error || "Not sent"; return; }
  await poll(10);
}

function switchTo(id) {
  sender = id; lastId = 0; thread.innerHTML = "";
  poll();
}

document.getElementById("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  const text = input.value.trim();
  if (text) { input.value = ""; send(text); }
});
who.addEventListener("change", () => switchTo(who.value || visitorId()));

fetch("/api/chat/customers").then((r) => r.json()).then((data) => {
  for (const c of data.customers) {
    const option = document.createElement("option");
    option.value = c.sender; option.textContent = `${c.name} (${c.tier})`;
    who.appendChild(option);
  }
  const wanted = new URLSearchParams(location.search).get("as");
  if (wanted) who.value = wanted;
  switchTo(who.value || visitorId());
});
setInterval(poll, 1000);
