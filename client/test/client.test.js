// Unit tests of the client against a fake fetch and a fake embed library (the
// browser test drives it against the real stack, in both flows).
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  createLinkClient, ERROR_KINDS, LinkError, ClosedError, PopupBlockedError, RateLimitedError,
  RefusedError, SessionExpiredError, VerifyingError,
} from "../src/index.js";

const API = "https://api.example.test";
const CODE = `lc_${"ab".repeat(40)}`;
const ATTEMPT = `la_${"1".repeat(40)}`;

/** A fetch that answers from `routes` ("METHOD /path" → answers in turn) and records each call. */
function fakeFetch(routes) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const u = new URL(url);
    const key = `${init.method} ${u.pathname}`;
    calls.push({ url: String(url), key, query: u.search, headers: init.headers, body: init.body && JSON.parse(init.body), signal: init.signal, credentials: init.credentials });
    const queue = routes[key];
    assert.ok(queue && queue.length, `unexpected request ${key}`);
    const answer = queue.length > 1 ? queue.shift() : queue[0];
    if (answer instanceof Error) throw answer;
    const { status = 200, body, headers = {} } = typeof answer === "function" ? answer(calls.at(-1)) : answer;
    return new Response(body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body), {
      status, headers: { "content-type": "application/json", ...headers },
    });
  };
  fn.calls = calls;
  return fn;
}

const session = (n = 1) => ({
  status: 200,
  body: { mode: "hosted", url: `https://link.ofauth.com/cs_${n}`, expiresAt: "2026-11-30T12:00:00Z", attemptId: ATTEMPT },
});

function client(routes, extra = {}) {
  const fetch = fakeFetch(routes);
  return { fetch, link: createLinkClient({ apiBase: `${API}/`, getToken: () => "jwt-1", fetch, ...extra }) };
}

// What the library may touch besides fetch: nothing is logged or stored.
let touched;
const saved = {};
beforeEach(() => {
  touched = [];
  for (const m of ["log", "info", "warn", "error", "debug"]) {
    saved[m] = console[m];
    console[m] = (...a) => touched.push(`console.${m} ${a.join(" ")}`);
  }
  const store = new Proxy({}, { get: (_, k) => (...a) => touched.push(`storage.${String(k)} ${a.join(" ")}`) });
  globalThis.localStorage = store;
  globalThis.sessionStorage = store;
  globalThis.document = { cookie: "" };
});
afterEach(() => {
  for (const m of Object.keys(saved)) console[m] = saved[m];
  delete globalThis.localStorage;
  delete globalThis.sessionStorage;
  delete globalThis.document;
  delete globalThis.location;
  delete globalThis.history;
  delete globalThis.OFAuth;
  assert.deepEqual(touched, [], "the client logged or stored something");
});

test("a session is created with the caller's token, and its mode is checked", async () => {
  const { fetch, link } = client({ "POST /link/session": [session()] });
  const s = await link.createSession({ connectionId: "conn_1" });
  assert.equal(s.url, "https://link.ofauth.com/cs_1");
  assert.equal(fetch.calls[0].url, `${API}/link/session`);
  assert.equal(fetch.calls[0].headers.authorization, "Bearer jwt-1");
  assert.deepEqual(fetch.calls[0].body, { connectionId: "conn_1" });
  // Only the session's call keeps the API's cookie (the start cookie).
  assert.equal(fetch.calls[0].credentials, "include");

  const other = client({ "POST /link/session": [{ body: { mode: "whitelabel", url: "x", expiresAt: "", attemptId: ATTEMPT } }] });
  await assert.rejects(other.link.createSession(), (e) => e instanceof LinkError && e.code === "unsupported_session_mode");
});

test("without a token nothing is sent", async () => {
  const { fetch, link } = client({}, { getToken: async () => null });
  await assert.rejects(link.createSession(), (e) => e.kind === "unauthenticated");
  assert.equal(fetch.calls.length, 0);
});

test("errors are typed by the server's code, which is kept", async () => {
  const answer = (status, error, headers) => ({ "POST /link/session": [{ status, body: { error, message: "m" }, headers }] });
  let r = client(answer(429, "rate_limited", { "retry-after": "30" }));
  await assert.rejects(r.link.createSession(), (e) => e instanceof RateLimitedError && e.retryAfter === 30 && e.code === "rate_limited" && e.status === 429);
  r = client(answer(409, "connection_conflict"));
  await assert.rejects(r.link.createSession(), (e) => e instanceof RefusedError && e.kind === "refused" && e.code === "connection_conflict");
  r = client(answer(410, "session_expired"));
  await assert.rejects(r.link.createSession(), (e) => e instanceof SessionExpiredError && e.status === 410);
  r = client(answer(503, "storage_unavailable"));
  await assert.rejects(r.link.createSession(), (e) => e.kind === "unavailable" && e.code === "storage_unavailable");
  r = client(answer(401, "unauthenticated"));
  await assert.rejects(r.link.createSession(), (e) => e.kind === "unauthenticated");
  r = client({ "POST /link/session": [{ status: 502, body: "<html>Bad gateway</html>" }] });
  await assert.rejects(r.link.createSession(), (e) => e.kind === "unavailable" && e.code === "http_502");
  r = client({ "POST /link/session": [new TypeError("Failed to fetch")] });
  await assert.rejects(r.link.createSession(), (e) => e.kind === "unavailable" && e.code === "network_error");
  // Every documented code has a kind, and keeps its code.
  for (const [code, kind] of Object.entries(ERROR_KINDS)) {
    r = client(answer(code.includes("rate") ? 429 : 400, code));
    await assert.rejects(r.link.createSession(), (e) => e.kind === kind && e.code === code, code);
  }
});

test("a request that outlives its limit fails as a timeout", async () => {
  const never = (call) => new Promise((_, reject) => call.signal.addEventListener("abort", () => reject(call.signal.reason)));
  const fetch = (url, init) => never({ signal: init.signal });
  const link = createLinkClient({ apiBase: API, getToken: () => "t", fetch, timeoutMs: 50 });
  const keepAlive = setTimeout(() => {}, 1_000); // AbortSignal.timeout's timer does not hold the loop
  await assert.rejects(link.list(), (e) => e.kind === "unavailable" && e.code === "timeout");
  clearTimeout(keepAlive);
});

test("the return page: the code leaves the address bar first and goes only into the completion's body", async () => {
  const replaced = [];
  const history = { replaceState: (_s, _t, url) => { replaced.push(url); assert.equal(fetch.calls.length, 0, "stripped before any request"); } };
  const { fetch, link } = client({ "POST /link/complete": [{ status: 200, body: { status: "active", connectionId: "conn_9" } }] });
  const done = await link.completeReturn({ url: `https://app.test/link/success?status=success&code=${CODE}&tab=2#top`, history });
  assert.deepEqual(done, { status: "active", connectionId: "conn_9" });
  assert.deepEqual(replaced, ["/link/success?tab=2#top"]);
  assert.deepEqual(fetch.calls[0].body, { code: CODE });
  assert.equal(fetch.calls[0].key, "POST /link/complete");
  assert.equal(fetch.calls[0].credentials, "omit", "no cookie but the session's");
  for (const c of fetch.calls) {
    assert.ok(!c.url.includes(CODE) && !JSON.stringify(c.headers).includes(CODE));
  }
});

test("the return page: verifying, already completed, cancelled, refused, expired, OFAuth's error, not a return", async () => {
  const history = { replaceState() {} };
  const verifying = { status: "verifying", connectionId: "conn_2", verifyBy: "2026-11-30T12:00:00Z" };
  const events = [];
  let r = client({ "POST /link/complete": [{ status: 202, body: verifying }] }, { onEvent: (e) => events.push(e) });
  assert.deepEqual(await r.link.completeReturn({ url: `https://a.test/s?status=success&code=${CODE}`, history }), verifying);
  assert.deepEqual(events, ["verifying"]);
  r = client({});
  assert.deepEqual(await r.link.completeReturn({ url: "https://a.test/s?status=success", history }), { status: "already_completed" });
  await assert.rejects(r.link.completeReturn({ url: "https://a.test/c?status=cancelled&step=2fa", history }),
    (e) => e instanceof ClosedError && e.step === "2fa" && e.kind === "closed");
  await assert.rejects(r.link.completeReturn({ url: "https://a.test/e?status=error&error_code=connection_conflict", history }),
    (e) => e instanceof RefusedError && e.code === "connection_conflict");
  await assert.rejects(r.link.completeReturn({ url: "https://a.test/e?status=error&error_code=session_expired", history }),
    (e) => e instanceof SessionExpiredError);
  await assert.rejects(r.link.completeReturn({ url: "https://a.test/e?status=error&error_code=account_locked", history }),
    (e) => e.kind === "failed" && e.code === "account_locked");
  let stripped = false;
  assert.equal(await r.link.completeReturn({ url: "https://a.test/", history: { replaceState: () => (stripped = true) } }), null);
  assert.equal(stripped, false);
  assert.equal(r.fetch.calls.length, 0);
  // A completion that the server refuses.
  r = client({ "POST /link/complete": [{ status: 400, body: { error: "invalid_code", message: "m" } }] });
  await assert.rejects(r.link.completeReturn({ url: `https://a.test/s?status=success&code=${CODE}`, history }),
    (e) => e instanceof RefusedError && e.code === "invalid_code" && e.status === 400);
});

test("the return page signed out: the code is removed and never sent", async () => {
  const replaced = [];
  const { fetch, link } = client({}, { getToken: () => undefined });
  await assert.rejects(
    link.completeReturn({ url: `https://a.test/s?status=success&code=${CODE}`, history: { replaceState: (_a, _b, u) => replaced.push(u) } }),
    (e) => e.kind === "unauthenticated");
  assert.deepEqual(replaced, ["/s"]);
  assert.equal(fetch.calls.length, 0);
});

test("the redirect flow sends the browser to OFAuth's page", async () => {
  const assigned = [];
  globalThis.location = { assign: (u) => assigned.push(u) };
  const { fetch, link } = client({ "POST /link/session": [session(7)] });
  assert.equal(await link.reconnect("conn_5", { flow: "redirect" }), null);
  assert.deepEqual(assigned, ["https://link.ofauth.com/cs_7"]);
  assert.deepEqual(fetch.calls[0].body, { connectionId: "conn_5" });
  await assert.rejects(link.connect({ flow: "sideways" }), (e) => e.kind === "invalid_request");
});

/** An embed library that records what the client does and lets the test play OFAuth's page. */
function fakeEmbed() {
  const lib = { handlers: [] };
  lib.create = (config) => {
    const h = { config, opened: [], closed: [], destroyed: false, ready: false };
    h.open = (url) => h.opened.push(url);
    h.close = (o) => h.closed.push(o);
    h.destroy = () => { h.destroyed = true; };
    h.cleanup = () => {};
    h.setUrl = () => {};
    lib.handlers.push(h);
    return h;
  };
  return lib;
}
const tick = () => new Promise((r) => setTimeout(r, 5));

test("the popup flow completes with the attempt and the connection the embed reported", async () => {
  const embed = fakeEmbed();
  const { fetch, link } = client({
    "POST /link/session": [session()],
    "POST /link/complete": [{ status: 200, body: { status: "active", connectionId: "conn_3" } }],
  }, { embed });
  const pending = link.connect({ flow: "popup", theme: "dark" });
  await tick();
  const h = embed.handlers[0];
  assert.deepEqual(h.opened, ["https://link.ofauth.com/cs_1"]);
  assert.equal(h.config.theme, "dark");
  h.config.onLoad();
  await h.config.onSuccess({ successUrl: "https://x", redirect: false, connection: { id: "conn_3" } });
  assert.deepEqual(await pending, { status: "active", connectionId: "conn_3" });
  assert.deepEqual(fetch.calls[1].body, { attemptId: ATTEMPT, connectionId: "conn_3" });
  await tick();
  assert.ok(h.destroyed, "the handler is destroyed after the library's clean-up");
});

test("the popup flow takes the library as the ESM build exports it (a class), or a function that loads it", async () => {
  const created = [];
  class OFAuthLinkEmbed {
    constructor() {
      throw new Error("called as a function");
    }
    static create(config) {
      const h = { open() {}, close() {}, destroy() {}, cleanup() {}, setUrl() {}, ready: false, config };
      created.push(h);
      return h;
    }
  }
  for (const embed of [OFAuthLinkEmbed, async () => OFAuthLinkEmbed]) {
    const { link } = client({ "POST /link/session": [session()] });
    const pending = link.connect({ flow: "popup", embed });
    await tick();
    await created.at(-1).config.onClose({ type: "user_exit", step: "login", error: null });
    await assert.rejects(pending, ClosedError);
  }
  assert.equal(created.length, 2);
});

test("the popup flow: closed at a step, OFAuth's error, and the global library", async () => {
  globalThis.OFAuth = { LinkEmbed: fakeEmbed() };
  const { link } = client({ "POST /link/session": [session()] });
  let pending = link.connect({ flow: "popup" });
  await tick();
  let h = globalThis.OFAuth.LinkEmbed.handlers[0];
  await h.config.onClose({ type: "user_exit", step: "login", error: null });
  await assert.rejects(pending, (e) => e instanceof ClosedError && e.step === "login" && e.code === "user_exit");
  pending = link.connect({ flow: "popup" });
  await tick();
  h = globalThis.OFAuth.LinkEmbed.handlers[1];
  await h.config.onClose({ type: "error", error: { error_type: "account_locked", error_message: "Locked" } });
  await assert.rejects(pending, (e) => e.kind === "closed" && e.code === "account_locked" && e.message === "Locked");
});

test("the popup flow replaces an expired session once, through onInvalidSession", async () => {
  const embed = fakeEmbed();
  const events = [];
  const { fetch, link } = client({
    "POST /link/session": [session(1), session(2)],
    "POST /link/complete": [{ status: 200, body: { status: "active", connectionId: "conn_4" } }],
  }, { embed, onEvent: (e) => events.push(e) });
  const pending = link.connect({ flow: "popup" });
  await tick();
  const h = embed.handlers[0];
  h.config.onLoad();
  await h.config.onInvalidSession();
  assert.deepEqual(h.opened, ["https://link.ofauth.com/cs_1", "https://link.ofauth.com/cs_2"]);
  assert.deepEqual(h.closed, [], "the library's iframe stays up for the new session");
  await h.config.onSuccess({ successUrl: "", redirect: false, connection: { id: "conn_4" } });
  assert.equal((await pending).connectionId, "conn_4");
  assert.equal(fetch.calls.filter((c) => c.key === "POST /link/session").length, 2);
  assert.deepEqual(events, ["loaded", "session_renewed"]);
});

test("the popup flow: a second expiry, or a failed renewal, closes the embed and says why", async () => {
  let embed = fakeEmbed();
  let r = client({ "POST /link/session": [session(1), session(2)] }, { embed });
  let pending = r.link.connect({ flow: "popup" });
  await tick();
  let h = embed.handlers[0];
  await h.config.onInvalidSession();
  await h.config.onInvalidSession();
  await assert.rejects(pending, (e) => e instanceof SessionExpiredError);
  assert.deepEqual(h.closed, [{ force: true }]);

  embed = fakeEmbed();
  r = client({ "POST /link/session": [session(1), { status: 429, body: { error: "rate_limited", message: "m" }, headers: { "retry-after": "5" } }] }, { embed });
  pending = r.link.connect({ flow: "popup" });
  await tick();
  h = embed.handlers[0];
  await h.config.onInvalidSession();
  await assert.rejects(pending, (e) => e instanceof RateLimitedError && e.retryAfter === 5);
  assert.deepEqual(h.closed, [{ force: true }], "no modal left up without a way out");
});

test("the popup flow: no library, or OFAuth's page never loading, is popup_blocked", async () => {
  let r = client({ "POST /link/session": [session()] });
  await assert.rejects(r.link.connect({ flow: "popup" }), (e) => e instanceof PopupBlockedError && e.kind === "popup_blocked");
  assert.equal(r.fetch.calls.length, 0, "no session is created for nothing");
  const embed = fakeEmbed();
  r = client({ "POST /link/session": [session()] }, { embed, embedLoadTimeoutMs: 30 });
  await assert.rejects(r.link.connect({ flow: "popup" }), (e) => e instanceof PopupBlockedError);
  assert.deepEqual(embed.handlers[0].closed, [{ force: true }]);
});

test("waitUntilVerified polls until active, across pages", async () => {
  const page = (status) => ({ body: { connections: [{ id: "conn_0", status: "active", connectedAt: "", updatedAt: "" }], nextCursor: "c2" } });
  const second = (status) => ({ body: { connections: [{ id: "conn_7", status, connectedAt: "", updatedAt: "" }] } });
  const { fetch, link } = client({
    "GET /link/connections": [page(), second("verifying"), page(), second("active")],
  });
  const c = await link.waitUntilVerified("conn_7", { intervalMs: 1 });
  assert.equal(c.status, "active");
  assert.deepEqual(fetch.calls.map((x) => x.query), ["?limit=100", "?limit=100&cursor=c2", "?limit=100", "?limit=100&cursor=c2"]);
});

test("waitUntilVerified: unverified is refused, too long is still verifying, and it can be aborted", async () => {
  const one = (status) => ({ body: { connections: [{ id: "conn_8", status, connectedAt: "", updatedAt: "" }] } });
  let r = client({ "GET /link/connections": [one("verifying"), one("unverified")] });
  await assert.rejects(r.link.waitUntilVerified("conn_8", { intervalMs: 1 }), (e) => e instanceof RefusedError && e.code === "connection_not_verified");
  r = client({ "GET /link/connections": [{ body: { connections: [] } }] });
  await assert.rejects(r.link.waitUntilVerified("conn_8"), (e) => e instanceof RefusedError);
  r = client({ "GET /link/connections": [one("verifying")] });
  await assert.rejects(r.link.waitUntilVerified("conn_8", { intervalMs: 300, timeoutMs: 500 }),
    (e) => e instanceof VerifyingError && e.connectionId === "conn_8" && e.kind === "verifying");
  assert.ok(r.fetch.calls.length >= 1 && r.fetch.calls.length <= 3, "a bounded poll");
  // verifyBy bounds it too.
  r = client({ "GET /link/connections": [one("verifying")] });
  await assert.rejects(r.link.waitUntilVerified("conn_8", { intervalMs: 300, verifyBy: new Date(Date.now() - 10_000).toISOString() }), VerifyingError);
  const controller = new AbortController();
  r = client({ "GET /link/connections": [one("verifying")] });
  const pending = r.link.waitUntilVerified("conn_8", { intervalMs: 10_000, signal: controller.signal });
  await tick();
  controller.abort(new Error("left the page"));
  await assert.rejects(pending, /left the page/);
});

test("list, disconnect", async () => {
  const { fetch, link } = client({
    "GET /link/connections": [{ body: { connections: [], nextCursor: "n" } }],
    "DELETE /link/connections/conn%2F1": [{ status: 204 }],
  }, { getToken: undefined, headers: () => ({ "x-user-id": "alice" }) });
  assert.deepEqual(await link.list({ limit: 5, cursor: "abc" }), { connections: [], nextCursor: "n" });
  assert.equal(fetch.calls[0].query, "?limit=5&cursor=abc");
  assert.equal(fetch.calls[0].headers["x-user-id"], "alice");
  await link.disconnect("conn/1");
  assert.equal(fetch.calls[1].key, "DELETE /link/connections/conn%2F1");
});
