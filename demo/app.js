// The demo frontend: how a real frontend integrates with this backend.
"use strict";

const api = window.DEMO_CONFIG.apiBase;
const $ = (id) => document.getElementById(id);

function currentUser() {
  return localStorage.getItem("demoUser");
}

function headers() {
  // Stand-in for `Authorization: Bearer <JWT>` in production.
  return { "x-user-id": currentUser(), "Content-Type": "application/json" };
}

function say(text) {
  $("message").textContent = text;
}

// Step 1 and 2 of OFAuth's redirect flow, as close to its documented snippet as
// this backend allows: the backend calls /v2/link/init; the page checks the mode
// and redirects.
async function connect(connectionId) {
  const response = await fetch(`${api}/link/session`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(connectionId ? { connectionId } : {}),
  });
  const session = await response.json();
  if (!response.ok) {
    say(`Could not start: ${session.error} (${session.message})`);
    return;
  }
  if (session.mode !== "hosted") {
    throw new Error(`Expected hosted Link session, received ${session.mode}`);
  }
  window.location.href = session.url;
}

async function disconnect(id) {
  const response = await fetch(`${api}/link/connections/${encodeURIComponent(id)}`, {
    method: "DELETE",
    headers: headers(),
  });
  say(response.status === 204 ? `Disconnected ${id}.` : `Could not disconnect (${response.status}).`);
  await loadConnections();
}

async function loadConnections() {
  const response = await fetch(`${api}/link/connections`, { headers: headers() });
  const body = await response.json();
  const rows = $("connections").querySelector("tbody");
  rows.replaceChildren();
  const list = response.ok ? body.connections : [];
  $("connections").hidden = list.length === 0;
  $("no-connections").hidden = list.length !== 0;
  for (const c of list) {
    const tr = document.createElement("tr");
    tr.dataset.id = c.id;
    tr.dataset.status = c.status;
    const account = document.createElement("td");
    if (c.avatar) {
      const img = document.createElement("img");
      img.className = "avatar";
      img.alt = "";
      account.append(img, " ");
    }
    account.append(c.name || c.username || "(unknown)");
    const cells = [c.id, c.status, new Date(c.connectedAt).toLocaleString()].map((t) => {
      const td = document.createElement("td");
      td.textContent = t;
      return td;
    });
    const actions = document.createElement("td");
    const reconnect = document.createElement("button");
    reconnect.textContent = "Reconnect";
    reconnect.className = "reconnect";
    reconnect.addEventListener("click", () => connect(c.id));
    const remove = document.createElement("button");
    remove.textContent = "Disconnect";
    remove.className = "disconnect";
    remove.addEventListener("click", () => disconnect(c.id));
    actions.append(reconnect, " ", remove);
    tr.append(account, ...cells, actions);
    rows.append(tr);
  }
  document.body.dataset.loaded = "true";
}

// Step 3: the app's success, cancelled and error pages read what the callback adds.
function showResult() {
  const params = new URLSearchParams(window.location.search);
  const page = window.location.pathname;
  const box = $("result");
  if (page.endsWith("/success") && params.get("status") === "success") {
    box.className = "success";
    box.textContent = `Connected: ${params.get("connection_id")}`;
  } else if (page.endsWith("/cancelled")) {
    box.className = "cancelled";
    box.textContent = `Cancelled${params.get("step") ? ` at step: ${params.get("step")}` : ""}`;
  } else if (page.endsWith("/error")) {
    box.className = "error";
    box.textContent = `Could not connect: ${params.get("error_code") || "unknown error"}`;
  } else {
    return;
  }
  box.id = "result";
  box.dataset.page = page.split("/").pop();
  box.hidden = false;
}

function render() {
  const user = currentUser();
  $("signed-out").hidden = Boolean(user);
  $("signed-in").hidden = !user;
  if (user) {
    $("current-user").textContent = user;
    loadConnections().catch((e) => say(`Could not load connections: ${e.message}`));
  } else {
    document.body.dataset.loaded = "true";
  }
}

$("sign-in-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem("demoUser", $("user-id").value.trim());
  render();
});
$("sign-out").addEventListener("click", () => {
  localStorage.removeItem("demoUser");
  render();
});
$("connect").addEventListener("click", () => connect().catch((e) => say(e.message)));

showResult();
render();
