// The demo frontend: how a frontend integrates with this backend, in both of
// OFAuth's integrations, through the browser client (client/, ofauth-link-client).
// Every API call goes through it; this file only renders.
import { createLinkClient } from "/client/index.js";

const $ = (id) => document.getElementById(id);
const currentUser = () => localStorage.getItem("demoUser");

// In production: createLinkClient({ apiBase, getToken: () => yourAuth.getAccessToken() })
// (the API Gateway JWT authorizer identifies the user). Locally, `make dev`
// trusts the x-user-id header instead (DEV_TRUST_USER_HEADER).
const link = createLinkClient({
  apiBase: window.DEMO_CONFIG.apiBase,
  headers: () => (currentUser() ? { "x-user-id": currentUser() } : {}),
  theme: "light",
  onEvent: (event) => {
    if (event === "session_renewed") say("The Link session expired; opened a new one.");
  },
});

function say(text) {
  $("message").textContent = text;
}

// The banner. `connectionId` names the connection a "Connected" banner is
// about: it stays only while the list says that connection is active.
let bannerSeq = 0;
function show(kind, text, connectionId) {
  const box = $("result");
  bannerSeq += 1;
  box.className = kind;
  box.textContent = text;
  box.dataset.kind = kind;
  if (connectionId) box.dataset.connection = connectionId;
  else delete box.dataset.connection;
  delete box.dataset.listed;
  box.hidden = false;
}

// What the list says now wins over a banner shown earlier: a "Connected"
// banner goes once its connection is no longer active: listed as expired (or
// anything but active), or no longer listed after it was (a disconnected
// connection is not listed). Not listed yet is not gone: the list is read from
// an index that can lag a completion by a moment.
function dropStaleBanner(list) {
  const box = $("result");
  const id = box.dataset.connection;
  if (box.hidden || box.dataset.kind !== "success" || !id) return;
  const now = list.find((c) => c.id === id);
  if (now && now.status === "active") {
    box.dataset.listed = "true";
    return;
  }
  if (now || box.dataset.listed === "true") hideBanner();
}

function hideBanner() {
  const box = $("result");
  bannerSeq += 1;
  box.hidden = true;
  box.textContent = "";
  box.className = "";
  box.dataset.kind = "";
  delete box.dataset.connection;
  delete box.dataset.listed;
}

// OFAuth's embed library: the stand-in's global (window.OFAuth.LinkEmbed) by
// default; ?embed=file imports a copy of the real ESM build served as
// /ofauth-link-embed.js (docs/testing.md); ?embed=cdn the real one from
// OFAuth's CDN (not reachable from this project's machines).
function embedLibrary() {
  const which = new URLSearchParams(window.location.search).get("embed");
  const url = { file: "/ofauth-link-embed.js", cdn: "https://cdn.jsdelivr.net/npm/@ofauth/link-embed@5/+esm" }[which];
  if (!url) return window.OFAuth.LinkEmbed;
  return import(url).then((m) => m.OFAuthLinkEmbed || m.default || window.OFAuth.LinkEmbed);
}

// What a finished flow shows: active, verifying (then active or not), or what
// the connection is now (a completion repeated later).
async function showCompletion(done) {
  if (done.status === "verifying") {
    show("verifying", `Verifying ${done.connectionId}…`);
    await loadConnections();
    try {
      await link.waitUntilVerified(done.connectionId, { verifyBy: done.verifyBy });
      show("success", `Connected: ${done.connectionId}`, done.connectionId);
    } catch (e) {
      show("error", `Could not verify ${done.connectionId} with OFAuth (${e.code}); it was not added.`);
    }
  } else if (done.status === "active") {
    show("success", `Connected: ${done.connectionId}`, done.connectionId);
  } else {
    show("error", `This connection is ${done.status}.`);
  }
  await loadConnections();
}

// How each failure reads; `kind` says what to do, `code` is the server's.
function showError(e) {
  if (!e || !e.kind) throw e;
  switch (e.kind) {
    case "closed":
      show("cancelled", `Closed${e.step ? ` at step: ${e.step}` : ""}`);
      break;
    case "rate_limited":
      show("error", `Too many attempts; try again in ${e.retryAfter ?? "a few"} seconds.`);
      break;
    case "popup_blocked":
      show("error", `Could not open OFAuth: ${e.message}`);
      break;
    default:
      show("error", `Could not connect: ${e.code}`);
  }
}

async function connect(flow, connectionId) {
  try {
    const done = await link.connect({ flow, connectionId, embed: flow === "popup" ? await embedLibrary() : undefined });
    if (done) await showCompletion(done);
  } catch (e) {
    showError(e);
  }
}

async function disconnect(id) {
  try {
    await link.disconnect(id);
    say(`Disconnected ${id}.`);
    if ($("result").dataset.connection === id) hideBanner();
  } catch (e) {
    say(`Could not disconnect (${e.code}).`);
  }
  await loadConnections();
}

function connectionRow(c) {
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
    reconnect.addEventListener("click", () => connect("redirect", c.id));
    const remove = document.createElement("button");
    remove.textContent = "Disconnect";
    remove.className = "disconnect";
    remove.addEventListener("click", () => disconnect(c.id));
    actions.append(reconnect, " ", remove);
  }
  tr.append(account, ...cells, actions);
  return tr;
}

// Each load renders only if no later one has rendered already, and checks the
// banner only if the banner has not changed since the load started (a list
// read before a connect finished says nothing about it).
let listSeq = 0;
let listShown = 0;
async function loadConnections() {
  const seq = ++listSeq;
  const banner = bannerSeq;
  let list = [];
  let ok = true;
  try {
    list = (await link.list({ limit: 100 })).connections;
  } catch (e) {
    ok = false;
    say(`Could not load connections: ${e.code}`);
  }
  if (seq < listShown) return list;
  listShown = seq;
  if (ok && banner === bannerSeq) dropStaleBanner(list);
  $("connections").querySelector("tbody").replaceChildren(...list.map(connectionRow));
  $("connections").hidden = list.length === 0;
  $("no-connections").hidden = list.length !== 0;
  document.body.dataset.loaded = "true";
  return list;
}

// The redirect flow's return: the app's success, cancelled and error pages.
// completeReturn reads what the callback added, removes it from the address
// bar, and completes with the one-time code as the signed-in user. A visitor
// who is not signed in is shown nothing about it (a Link URL someone else
// started lands here too).
async function showResult() {
  $("result").dataset.page = window.location.pathname.split("/").pop();
  try {
    const done = await link.completeReturn();
    if (done === null) return;
    if (done.status === "already_completed") show("success", "Already connected: see your connections.");
    else await showCompletion(done);
  } catch (e) {
    if (e.kind === "unauthenticated") show("cancelled", "Sign in, then connect your account from your own session.");
    else if (e.kind === "closed") show("cancelled", `Cancelled${e.step ? ` at step: ${e.step}` : ""}`);
    else showError(e);
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
  // New events after the first load: a connection changed (a webhook, the
  // reconciler, another tab), so the list, and the banner with it, is reread.
  const seen = list.dataset.count !== "";
  list.dataset.count = String(mine.length);
  list.replaceChildren(
    ...mine.reverse().map((e) => {
      const d = e.detail;
      const li = document.createElement("li");
      li.dataset.type = e.detailType;
      li.dataset.connection = d.connectionId || "";
      const what = document.createElement("strong");
      what.className = "label";
      what.textContent = eventLabel(e);
      li.append(what);
      if (d.connectionId) li.append(` ${d.connectionId}`);
      if (Array.isArray(d.connections)) li.append(` (${d.connections.length} connection${d.connections.length === 1 ? "" : "s"})`);
      li.append(" ");
      const id = document.createElement("code");
      id.textContent = d.eventId;
      li.append(id);
      return li;
    }),
  );
  if (seen) await loadConnections();
}

// What an event means (docs/platform.md's table), not the statuses it moved
// between: a bind or a reconnect can go from active to active.
function eventLabel(e) {
  switch (e.detailType) {
    case "Connection Bound":
      return "bound";
    case "Connection Reconnected":
      return "reconnected";
    case "Connection Expired":
      return "expired";
    case "Connection Disconnected":
      return `disconnected (${e.detail.cause})`;
    case "Connection Profile Changed":
      return "profile changed";
    case "User Data Erased":
      return "user data erased";
    default:
      return String(e.detailType).toLowerCase();
  }
}

function render() {
  const user = currentUser();
  $("signed-out").hidden = Boolean(user);
  $("signed-in").hidden = !user;
  if (user) {
    $("current-user").textContent = user;
    $("events").dataset.count = "";
    loadConnections();
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
$("connect").addEventListener("click", () => connect("redirect"));
$("connect-popup").addEventListener("click", () => connect("popup"));

render();
showResult();
setInterval(() => loadPlatformEvents().catch(() => {}), 1500);
// The list is reread now and then too (OFAuth may expire a connection; without
// the platform's events nothing else would tell this page).
setInterval(() => {
  if (currentUser()) loadConnections();
}, 5000);
