// The demo frontend: how a real frontend integrates with this backend, in both
// of OFAuth's integrations (redirect and popup).
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

function show(kind, text) {
  const box = $("result");
  box.className = kind;
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
}

// Step 1: the backend calls /v2/link/init and answers OFAuth's session
// ({ mode, url, expiresAt }) plus this backend's attemptId.
async function createSession(connectionId) {
  const response = await fetch(`${api}/link/session`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(connectionId ? { connectionId } : {}),
  });
  const session = await response.json();
  if (!response.ok) throw new Error(`Could not start: ${session.error} (${session.message})`);
  if (session.mode !== "hosted") {
    throw new Error(`Expected hosted Link session, received ${session.mode}`);
  }
  return session;
}

// Redirect flow, step 2: send the browser to OFAuth's hosted page.
async function connect(connectionId) {
  const session = await createSession(connectionId);
  window.location.href = session.url;
}

// The last step of both flows: the signed-in user completes, with what only this
// browser received (the code on the return page, or the connection id the popup
// reported). 200: active; 202: verifying until OFAuth attests the connection.
async function complete(body) {
  const response = await fetch(`${api}/link/complete`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (response.status === 200 && answer.status !== "active") {
    // A completion repeated later says what is true now.
    show("error", `This connection is ${answer.status}.`);
  } else if (response.status === 200) {
    show("success", `Connected: ${answer.connectionId}`);
  } else if (response.status === 202) {
    show("verifying", `Verifying ${answer.connectionId}…`);
    waitForAttestation(answer.connectionId, Date.parse(answer.verifyBy));
  } else {
    show("error", `Could not connect: ${answer.error}`);
  }
  await loadConnections();
}

// A verifying connection becomes active when OFAuth's attestation lands; poll
// the list until then (or until the attempt's deadline passes).
async function waitForAttestation(id, deadline) {
  while (Date.now() < deadline + 5000) {
    await new Promise((r) => setTimeout(r, 1500));
    const list = await loadConnections();
    const c = list.find((x) => x.id === id);
    if (c && c.status === "active") {
      show("success", `Connected: ${id}`);
      return;
    }
    if (!c || c.status === "unverified") break;
  }
  show("error", `Could not verify ${id} with OFAuth; it was not added.`);
}

// Popup flow: OFAuth's embed library opens the session in a modal iframe; the
// page that started the attempt completes it when the iframe reports success.
function embedLibrary() {
  if (new URLSearchParams(window.location.search).get("embed") !== "cdn") {
    return Promise.resolve(window.OFAuthLinkEmbed);
  }
  // The real library from OFAuth's CDN (not reachable from this project's
  // machines, so unverified here).
  return import("https://cdn.jsdelivr.net/npm/@ofauth/link-embed@5/+esm").then(
    (m) => m.OFAuthLinkEmbed || m.default,
  );
}

async function connectPopup() {
  const OFAuthLinkEmbed = await embedLibrary();
  let session = await createSession();
  const handler = OFAuthLinkEmbed.create({
    theme: "light",
    onSuccess: async (metadata) => {
      await complete({ attemptId: session.attemptId, connectionId: metadata.connection.id });
    },
    onClose: (metadata) => {
      show("cancelled", `Closed${metadata.step ? ` at step: ${metadata.step}` : ""}`);
    },
    onInvalidSession: async () => {
      say("The Link session expired; opened a new one.");
      session = await createSession();
      handler.open(session.url);
    },
  });
  handler.open(session.url);
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
    if (c.status === "active" || c.status === "expired") {
      const reconnect = document.createElement("button");
      reconnect.textContent = "Reconnect";
      reconnect.className = "reconnect";
      reconnect.addEventListener("click", () => connect(c.id).catch((e) => say(e.message)));
      const remove = document.createElement("button");
      remove.textContent = "Disconnect";
      remove.className = "disconnect";
      remove.addEventListener("click", () => disconnect(c.id));
      actions.append(reconnect, " ", remove);
    }
    tr.append(account, ...cells, actions);
    rows.append(tr);
  }
  document.body.dataset.loaded = "true";
  return list;
}

// Redirect flow, step 3: the app's success, cancelled and error pages read what
// the callback adds. The success page completes with the one-time code, as the
// signed-in user; the completion's answer names the connection. A visitor who
// is not signed in is shown nothing about it (a Link URL someone else started
// lands here too).
async function showResult() {
  const params = new URLSearchParams(window.location.search);
  const page = window.location.pathname;
  $("result").dataset.page = page.split("/").pop();
  if (page.endsWith("/success") && params.get("status") === "success") {
    const code = params.get("code");
    // The code is for this page only: keep it out of the history and referrers.
    if (code) window.history.replaceState(null, "", page);
    if (!currentUser()) {
      show("cancelled", "Sign in, then connect your account from your own session.");
    } else if (code) {
      await complete({ code });
    } else {
      show("success", "Already connected: see your connections.");
    }
  } else if (page.endsWith("/cancelled")) {
    show("cancelled", `Cancelled${params.get("step") ? ` at step: ${params.get("step")}` : ""}`);
  } else if (page.endsWith("/error")) {
    show("error", `Could not connect: ${params.get("error_code") || "unknown error"}`);
  }
}

// The platform's side: the events a rule on the bus would deliver about this
// user (make dev's EventBridge stand-in, relayed by the demo server).
async function loadPlatformEvents() {
  const user = currentUser();
  if (!window.DEMO_CONFIG.platformEvents || !user) return;
  const response = await fetch("/platform-events", { cache: "no-store" });
  if (!response.ok) return;
  const mine = (await response.json()).filter((e) => e.detail.userId === user);
  $("platform-events").hidden = false;
  $("no-events").hidden = mine.length !== 0;
  const list = $("events");
  if (Number(list.dataset.count || 0) === mine.length) return;
  list.dataset.count = String(mine.length);
  list.replaceChildren(
    ...mine.reverse().map((e) => {
      const d = e.detail;
      const li = document.createElement("li");
      li.dataset.type = e.detailType;
      li.dataset.connection = d.connectionId || "";
      const change = d.newStatus ? ` ${d.oldStatus || "(new)"} → ${d.newStatus}` : "";
      const what = document.createElement("strong");
      what.textContent = e.detailType;
      li.append(what, ` ${d.connectionId || ""}${change}, cause ${d.cause} `);
      const id = document.createElement("code");
      id.textContent = d.eventId;
      li.append(id);
      return li;
    }),
  );
}

function render() {
  const user = currentUser();
  $("signed-out").hidden = Boolean(user);
  $("signed-in").hidden = !user;
  if (user) {
    $("current-user").textContent = user;
    $("events").dataset.count = "";
    loadConnections().catch((e) => say(`Could not load connections: ${e.message}`));
    loadPlatformEvents().catch(() => {});
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
$("connect-popup").addEventListener("click", () => connectPopup().catch((e) => say(e.message)));

render();
showResult().catch((e) => say(e.message));
setInterval(() => loadPlatformEvents().catch(() => {}), 1500);
