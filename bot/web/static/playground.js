// The playground (GET /): a file, not an inline script, for the Content-Security-Policy.
"use strict";
// ?tenant=… tries another tenant's knowledge (a Slack workspace or Discord server id); "local" by default.
const TENANT = new URLSearchParams(location.search).get("tenant") || "local";
document.getElementById("tenant").textContent = TENANT;
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
let conversation = null;
const user = localStorage.getItem("threadwise-user") || ("playground-" + crypto.randomUUID().slice(0, 8));
localStorage.setItem("threadwise-user", user);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

// The API asks for ADMIN_TOKEN when one is set; the page keeps it for this browser tab only.
async function api(path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { "Content-Type": "application/json" };
    const token = sessionStorage.getItem("threadwise-token");
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
    if (response.status !== 401) return response;
    const given = prompt("This Threadwise needs its ADMIN_TOKEN:");
    if (!given) return response;
    sessionStorage.setItem("threadwise-token", given.trim());
  }
  throw new Error("the ADMIN_TOKEN was not accepted");
}

async function problem(response) {
  try {
    const body = await response.json();
    const detail = body.detail;
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  } catch { return response.statusText; }
}

// Each excerpt as the server rendered it (see rendered()), or as plain text when that failed.
function renderSources(sources, excerptsHtml) {
  const list = el("ol", { className: "sources" });
  for (const [index, source] of sources.entries()) {
    const where = source.url || source.source_uri;  // the published page when known
    const title = source.heading_path || source.title || where;
    const isLink = /^https?:\/\//.test(where);
    const label = isLink ? el("a", { href: where, target: "_blank", rel: "noopener", textContent: title })
                         : el("span", { textContent: title, title: where });
    const excerpt = el("div", { className: "excerpt", textContent: source.excerpt || "" });
    const html = excerptsHtml && excerptsHtml[index];
    if (typeof html === "string") {
      showHtml(excerpt, html);
      excerpt.classList.add("rendered");
    }
    list.append(el("li", { value: source.number }, label, excerpt));
  }
  return list;
}

function renderVotes(reply) {
  const box = el("span");
  const up = el("button", { className: "vote", type: "button", textContent: "👍", title: "Helpful" });
  const down = el("button", { className: "vote", type: "button", textContent: "👎", title: "Not helpful" });
  const status = el("span");
  let current = "none";
  async function vote(choice, comment) {
    const next = comment === undefined && current === choice ? "none" : choice;
    const response = await api("/api/v1/feedback", { message_id: reply.message_id, vote: next, user, tenant: TENANT, comment });
    if (!response.ok) { status.textContent = "Vote not saved: " + await problem(response); return; }
    current = next;
    up.setAttribute("aria-pressed", String(current === "up"));
    down.setAttribute("aria-pressed", String(current === "down"));
    status.textContent = comment ? "Thanks, noted." : "";
    if (current === "down" && comment === undefined) askWhatWasMissing();
  }
  function askWhatWasMissing() {
    const field = el("input", { placeholder: "What was missing or wrong?", maxLength: 4000 });
    const save = el("button", { className: "vote", type: "button", textContent: "Send" });
    const row = el("span", { className: "comment" }, field, save);
    save.onclick = async () => { if (field.value.trim()) { await vote("down", field.value.trim()); row.remove(); } };
    box.append(row);
    field.focus();
  }
  up.onclick = () => vote("up");
  down.onclick = () => vote("down");
  box.append(up, " ", down, " ", status);
  return box;
}

// The final answer and its sources' excerpts as HTML, rendered and sanitised by the server; null (the plain
// text stays) when that fails.
async function rendered(reply) {
  try {
    const excerpts = reply.sources.map((source) => source.excerpt || "");
    const body = { text: reply.text, outcome: reply.outcome, extractive: reply.extractive, excerpts };
    const response = await api("/playground/render", body);
    return response.ok ? await response.json() : null;
  } catch { return null; }
}

// Parsed into an inert document (its scripts never run, nothing loads) and moved in: no innerHTML, no eval.
function showHtml(box, html) {
  const doc = new DOMParser().parseFromString(html.trim(), "text/html");
  box.replaceChildren(...doc.body.childNodes);
}

async function renderFinal(turn, reply) {
  turn.answer.textContent = reply.text;
  turn.answer.className = "answer " + reply.outcome;
  const shown = await rendered(reply);
  if (shown) {
    showHtml(turn.answer, shown.html);
    turn.answer.classList.add("rendered");
  }
  const what = shown?.note || (reply.extractive ? "extract" : reply.model || reply.outcome);
  const bits = [what, reply.latency_ms + " ms"];
  if (reply.reference_id) bits.push("reference " + reply.reference_id);
  const meta = el("div", { className: "meta" }, el("span", { textContent: bits.join(" · ") }));
  if (reply.message_id) meta.append(renderVotes(reply));
  turn.node.append(meta);
  if (reply.sources.length) turn.node.append(renderSources(reply.sources, shown?.excerpts));
}

// Reads the server-sent events of POST /api/v1/ask with stream: true (delta events, then one final event).
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = (block.match(/^event: (.*)$/m) || [])[1];
      const data = (block.match(/^data: (.*)$/m) || [])[1];
      if (name && data) onEvent(name, JSON.parse(data));
    }
  }
}

async function ask(question) {
  document.getElementById("empty")?.remove();
  const answer = el("div", { className: "answer", textContent: "…" });
  const node = el("section", { className: "turn" }, el("div", { className: "question", textContent: question }), answer);
  log.append(node);
  node.scrollIntoView({ behavior: "smooth", block: "end" });
  const turn = { node, answer };
  try {
    const response = await api("/api/v1/ask", { question, conversation_id: conversation, tenant: TENANT, stream: true });
    if (!response.ok) throw new Error(await problem(response));
    let streamed = "";
    let final = null;
    await readEvents(response, (name, data) => {
      if (name === "delta") answer.textContent = (streamed += data.text);  // plain text while it streams
      if (name === "final") { conversation = data.conversation; final = renderFinal(turn, data); }
    });
    await final;
  } catch (error) {
    answer.className = "answer error";
    answer.textContent = "Could not get an answer: " + error.message;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  send.disabled = true;
  try { await ask(question); } finally { send.disabled = false; input.focus(); }
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
});
document.getElementById("new-conversation").onclick = () => {
  conversation = null;
  log.replaceChildren(el("p", { className: "empty", id: "empty", textContent: "New conversation. Ask away." }));
  input.focus();
};
input.focus();
