// Supervisor metrics: a table of timings and horizontal bar charts drawn as SVG.
"use strict";
const NS = "http://www.w3.org/2000/svg";

function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value < 120 ? `${value.toFixed(0)} s` : `${(value / 60).toFixed(1)} min`;
}

function bars(svg, counts) {
  const entries = Object.entries(counts);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  svg.setAttribute("height", Math.max(20, entries.length * 24));
  svg.replaceChildren();
  entries.forEach(([label, value], i) => {
    const text = document.createElementNS(NS, "text");
    text.setAttribute("x", 0); text.setAttribute("y", i * 24 + 15); text.textContent = label;
    const rect = document.createElementNS(NS, "rect");
    rect.setAttribute("x", 180); rect.setAttribute("y", i * 24 + 3);
    rect.setAttribute("width", Math.max(2, 400 * value / max)); rect.setAttribute("height", 16);
    rect.setAttribute("fill", "#2f6fd6");
    const count = document.createElementNS(NS, "text");
    count.setAttribute("x", 186 + 400 * value / max); count.setAttribute("y", i * 24 + 15); count.textContent = value;
    svg.append(text, rect, count);
  });
}

async function load() {
  const response = await fetch("/api/console/metrics");
  if (!response.ok) { document.getElementById("error").textContent = response.status === 403 ? "Supervisors only." : "Log in on the console first."; return; }
  const m = await response.json();
  const rows = [
    ["Conversations", m.conversations], ["Escalations", m.escalations],
    ["Handoff rate", `${(m.handoff_rate * 100).toFixed(1)} %`],
    ["Bot first response (median / p90)", `${seconds(m.bot_first_response.median_s)} / ${seconds(m.bot_first_response.p90_s)}`],
    ["Human first response (median / p90)", `${seconds(m.human_first_response.median_s)} / ${seconds(m.human_first_response.p90_s)}`],
    ["Time to handoff (median)", seconds(m.time_to_handoff.median_s)],
    ["Waiting before an agent (median / p90)", `${seconds(m.waiting.median_s)} / ${seconds(m.waiting.p90_s)}`],
    ["SLA breaches", `${m.sla_breaches} (${(m.sla_breach_rate * 100).toFixed(1)} %)`],
  ];
  // Replies waiting for a platform (its rate limit, or the platform down), and how long
  // delivered replies waited, per channel.
  for (const [channel, b] of Object.entries(m.outbox_backlog || {})) {
    rows.push([`Replies waiting to go out on ${channel}`, `${b.waiting}, the oldest for ${seconds(b.oldest_s)}`]);
  }
  for (const [channel, d] of Object.entries(m.reply_delivery || {})) {
    rows.push([`Reply delivery on ${channel} (median / p90)`, `${seconds(d.median_s)} / ${seconds(d.p90_s)}`]);
  }
  const body = document.querySelector("#figures tbody");
  body.replaceChildren(...rows.map(([k, v]) => { const tr = document.createElement("tr"); tr.innerHTML = "<th></th><td></td>"; tr.children[0].textContent = k; tr.children[1].textContent = v; return tr; }));
  bars(document.getElementById("by-reason"), m.handoffs_by_reason);
  bars(document.getElementById("by-intent"), m.handoffs_by_intent);
  bars(document.getElementById("by-day"), m.handoffs_by_day);
}
load(); setInterval(load, 10000);
