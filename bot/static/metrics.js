// Supervisor metrics: a table of timings and horizontal bar charts drawn as SVG.
"use strict";
const NS = "http://www.w3.org/2000/svg";

function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value < 120 ? `${value.toFixed(0)} s` : `${(value / 60).toFixed(1)} min`;
}

function percent(share) {
  return share === null || share === undefined ? "—" : `${(share * 100).toFixed(1)} %`;
}

// counts: {label: number}; shown: how a number is written at the end of its bar; top: the
// number a full bar stands for (default: the largest).
function bars(svg, counts, shown = (value) => value, top = 0) {
  const entries = Object.entries(counts);
  const max = top || Math.max(1, ...entries.map(([, v]) => v));
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
    count.setAttribute("x", 186 + 400 * value / max); count.setAttribute("y", i * 24 + 15); count.textContent = shown(value);
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
    ["Containment (seen through by the bot alone)", `${percent(m.containment.rate)} (${m.containment.contained} of ${m.containment.conversations})`],
  ];
  for (const [priority, s] of Object.entries(m.human_first_response_by_priority)) {
    rows.push([`Human first response, priority ${priority} (median / p90)`, `${seconds(s.median_s)} / ${seconds(s.p90_s)}`]);
  }
  const sat = m.satisfaction;
  rows.push(["Ratings answered", `${sat.all.count} of ${sat.asked} asked`]);
  const helped = {all: "all ratings", bot: "the bot helped", person: "a person helped"};
  for (const [who, s] of [["all", sat.all], ...Object.entries(sat.by_handled_by)]) {
    const mean = s.mean === null ? "—" : s.mean.toFixed(2);
    rows.push([`Satisfaction, ${helped[who] || who} (mean / share of 4–5)`, `${mean} / ${percent(s.satisfied_share)} (${s.count} ratings)`]);
  }
  const r = m.review;
  rows.push(["Review inbox (waiting for a designer)", `${r.inbox}, ${r.done} reviewed`]);
  rows.push(["Review labels exported", `${r.labels_exported} of ${r.labels} (${percent(r.labels_exported_share)}), ${r.labels_not_for_training} not for training`]);
  rows.push(["Review stories exported", `${r.stories_exported} of ${r.stories}`]);
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
  const medians = Object.fromEntries(Object.entries(m.human_first_response_by_priority)
    .filter(([, s]) => s.median_s !== null).map(([p, s]) => [`P${p} (${s.count})`, s.median_s]));
  bars(document.getElementById("reply-by-priority"), medians, seconds);
  // Mean score per group with answered ratings; the label says how many.
  const means = (groups) => Object.fromEntries(Object.entries(groups)
    .filter(([, s]) => s.count).map(([k, s]) => [`${k} (${s.count})`, s.mean]));
  const score = (value) => value.toFixed(2);
  bars(document.getElementById("satisfaction-by-handler"), means(sat.by_handled_by), score, 5);
  bars(document.getElementById("satisfaction-by-reason"), means(sat.by_reason), score, 5);
}
load(); setInterval(load, 10000);
