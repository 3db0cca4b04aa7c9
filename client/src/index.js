// ofauth-link-client: the browser side of this backend, for both of OFAuth
// Link's integrations (the redirect flow and the popup flow, OFAuth's embed).
//
//   const link = createLinkClient({ apiBase, getToken });
//   await link.connect({ flow: "redirect" });          // leaves for OFAuth
//   const done = await link.completeReturn();          // on the app's success page
//   const done = await link.connect({ flow: "popup" }); // OFAuth's embed, in the page
//   if (done.status === "verifying") await link.waitUntilVerified(done.connectionId);
//
// Every failure is a LinkError whose `kind` says what the app should do and
// whose `code` is the server's (or OFAuth's) code, unchanged. The one-time code
// of the return page is read, removed from the address bar, and sent in the
// completion request's body, nowhere else: this file never logs or stores it.
// JavaScript with JSDoc types, checked by tsc against src/api.d.ts (generated
// from openapi.yaml); no runtime dependencies.

/**
 * @typedef {import("./api").components["schemas"]} Schemas
 * @typedef {Schemas["Session"]} Session
 * @typedef {Schemas["SessionRequest"]} SessionRequest
 * @typedef {Schemas["CompleteRequest"]} CompleteRequest
 * @typedef {Schemas["Completed"]} Completed
 * @typedef {Schemas["Verifying"]} Verifying
 * @typedef {Completed | Verifying} Completion
 * @typedef {Schemas["Connection"]} Connection
 * @typedef {Schemas["ConnectionPage"]} ConnectionPage
 * @typedef {Schemas["Error"]["error"]} ErrorCode
 * @typedef {"invalid_request" | "unauthenticated" | "forbidden" | "rate_limited" | "not_found"
 *   | "session_expired" | "refused" | "unavailable" | "popup_blocked" | "closed" | "verifying"
 *   | "failed"} ErrorKind
 */

/**
 * What OFAuth's embed library (`@ofauth/link-embed`, `window.OFAuth.LinkEmbed`
 * or its `OFAuthLinkEmbed` export) offers; the project's stand-in offers the same.
 * @typedef {{ create(config: EmbedConfig): EmbedHandler }} LinkEmbed
 * @typedef {{
 *   url?: string, theme?: "light" | "dark" | "auto",
 *   onLoad?: () => void | Promise<void>,
 *   onSuccess?: (metadata: EmbedSuccess) => void | Promise<void>,
 *   onClose?: (metadata: EmbedClose) => void | Promise<void>,
 *   onInvalidSession?: () => void | Promise<void>,
 * }} EmbedConfig
 * @typedef {{
 *   open(url?: string): void, close(options?: { force?: boolean }): void,
 *   destroy(): void, cleanup(): void, setUrl(url: string): void, readonly ready: boolean,
 * }} EmbedHandler
 * @typedef {{ successUrl: string, redirect: boolean, connection: { id: string } }} EmbedSuccess
 * @typedef {{ type: "user_exit" | "error" | "forced_exit", step?: string,
 *   error: { error_type: string, error_message: string } | null }} EmbedClose
 */

/**
 * What each of the server's documented codes means for the app. Typed as a
 * record over the contract's codes: a code added to openapi.yaml without a kind
 * here fails the type check.
 * @type {Record<ErrorCode, ErrorKind>}
 */
export const ERROR_KINDS = {
  invalid_request: "invalid_request",
  invalid_json: "invalid_request",
  invalid_body: "invalid_request",
  invalid_geolocation: "invalid_request",
  invalid_connection_id: "invalid_request",
  invalid_cursor: "invalid_request",
  invalid_limit: "invalid_request",
  invalid_event: "invalid_request",
  body_too_large: "invalid_request",
  method_not_allowed: "invalid_request",
  invalid_user_id: "invalid_request",
  code_required: "invalid_request",
  unauthenticated: "unauthenticated",
  invalid_signature: "unauthenticated",
  forbidden: "forbidden",
  origin_not_allowed: "forbidden",
  rate_limited: "rate_limited",
  ofauth_rate_limited: "rate_limited",
  connection_not_found: "not_found",
  attempt_not_found: "not_found",
  not_found: "not_found",
  session_expired: "session_expired",
  invalid_state: "refused",
  connection_not_verified: "refused",
  connection_conflict: "refused",
  connection_mismatch: "refused",
  account_mismatch: "refused",
  invalid_code: "refused",
  completion_refused: "refused",
  browser_mismatch: "refused",
  too_many_verifications: "refused",
  reconnect_unavailable: "refused",
  temporarily_unavailable: "unavailable",
  internal_error: "unavailable",
  storage_unavailable: "unavailable",
  timeout: "unavailable",
  ofauth_rejected: "unavailable",
  ofauth_unavailable: "unavailable",
  ofauth_timeout: "unavailable",
  ofauth_bad_response: "unavailable",
  unsupported_session_mode: "unavailable",
};

/** Every failure of this client. `code` is the server's or OFAuth's code, unchanged. */
export class LinkError extends Error {
  /**
   * @param {ErrorKind} kind
   * @param {string} code
   * @param {string} message
   * @param {{ status?: number, step?: string, retryAfter?: number, connectionId?: string, cause?: unknown }} [extra]
   */
  constructor(kind, code, message, extra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "LinkError";
    /** @type {ErrorKind} */
    this.kind = kind;
    /** @type {string} */
    this.code = code;
    /** HTTP status, when the server answered. @type {number | undefined} */
    this.status = extra.status;
    /** The Link step the user closed it at (`closed`). @type {string | undefined} */
    this.step = extra.step;
    /** Seconds to wait before trying again (`rate_limited`). @type {number | undefined} */
    this.retryAfter = extra.retryAfter;
    /** The connection still waiting for OFAuth (`verifying`). @type {string | undefined} */
    this.connectionId = extra.connectionId;
  }
}

/** The embed could not be shown: no library, or OFAuth's page never loaded in it (most often: the app's origin is not in the client app's Allowed Origins). */
export class PopupBlockedError extends LinkError {
  /** @param {string} message */
  constructor(message) {
    super("popup_blocked", "popup_blocked", message);
    this.name = "PopupBlockedError";
  }
}

/** The user closed Link (`step` says where), or OFAuth ended it with an error (`code` is OFAuth's). */
export class ClosedError extends LinkError {
  /** @param {string} code @param {string | undefined} step @param {string} message */
  constructor(code, step, message) {
    super("closed", code, message, { step });
    this.name = "ClosedError";
  }
}

/** The Link session expired (already renewed once in the popup flow): start again. */
export class SessionExpiredError extends LinkError {
  /** @param {string} message @param {number} [status] */
  constructor(message, status) {
    super("session_expired", "session_expired", message, { status });
    this.name = "SessionExpiredError";
  }
}

/** Too many requests: wait `retryAfter` seconds. */
export class RateLimitedError extends LinkError {
  /** @param {string} code @param {string} message @param {number | undefined} retryAfter @param {number} [status] */
  constructor(code, message, retryAfter, status) {
    super("rate_limited", code, message, { retryAfter, status });
    this.name = "RateLimitedError";
  }
}

/** This service refused the attempt (`code`: invalid_code, connection_conflict, …); start again. */
export class RefusedError extends LinkError {
  /** @param {string} code @param {string} message @param {number} [status] */
  constructor(code, message, status) {
    super("refused", code, message, { status });
    this.name = "RefusedError";
  }
}

/** OFAuth has not attested the connection yet; `waitUntilVerified` gave up waiting (it may still become active). */
export class VerifyingError extends LinkError {
  /** @param {string} connectionId @param {string} message */
  constructor(connectionId, message) {
    super("verifying", "verifying", message, { connectionId });
    this.name = "VerifyingError";
  }
}

/**
 * The error for an answer that is not a success.
 * @param {number} status @param {unknown} body @param {Headers} headers
 * @returns {LinkError}
 */
export function errorFromResponse(status, body, headers) {
  const b = /** @type {{ error?: unknown, message?: unknown }} */ (body && typeof body === "object" ? body : {});
  const code = typeof b.error === "string" ? b.error : `http_${status}`;
  const message = typeof b.message === "string" ? b.message : `HTTP ${status}`;
  if (status === 429 || code === "rate_limited" || code === "ofauth_rate_limited") {
    const seconds = Number.parseInt(headers.get("retry-after") ?? "", 10);
    return new RateLimitedError(code, message, Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined, status);
  }
  return errorFromCode(code, message, status);
}

/**
 * The error for a code: the server's documented ones by ERROR_KINDS, any other
 * (OFAuth's own, on the return page: invalid_credentials, account_locked, …)
 * is `failed`.
 * @param {string} code @param {string} message @param {number} [status]
 * @returns {LinkError}
 */
export function errorFromCode(code, message, status) {
  const kind = Object.prototype.hasOwnProperty.call(ERROR_KINDS, code)
    ? ERROR_KINDS[/** @type {ErrorCode} */ (code)]
    : status !== undefined && status >= 500 ? "unavailable" : "failed";
  switch (kind) {
    case "session_expired":
      return new SessionExpiredError(message, status);
    case "refused":
      return new RefusedError(code, message, status);
    case "rate_limited":
      return new RateLimitedError(code, message, undefined, status);
    default:
      return new LinkError(kind, code, message, { status });
  }
}

/** The query parameters the callback adds to the app's pages. */
const RETURN_PARAMS = ["status", "code", "step", "error_code"];

/**
 * @typedef {object} LinkClientOptions
 * @property {string} apiBase The stack's ApiUrl (no trailing slash needed).
 * @property {() => string | null | undefined | Promise<string | null | undefined>} [getToken]
 *   The signed-in user's token for `Authorization: Bearer` (any identity provider).
 * @property {() => Record<string, string> | Promise<Record<string, string>>} [headers]
 *   Other request headers (local development's `x-user-id`).
 * @property {LinkEmbed | (() => LinkEmbed | Promise<LinkEmbed>)} [embed]
 *   OFAuth's embed library (default `window.OFAuth.LinkEmbed`).
 * @property {typeof fetch} [fetch]
 * @property {number} [timeoutMs] Each request's limit (default 15 s).
 * @property {number} [embedLoadTimeoutMs] How long the popup may take to load OFAuth's page (default 20 s).
 * @property {"light" | "dark" | "auto"} [theme]
 * @property {(event: "loaded" | "session_renewed" | "verifying", detail?: unknown) => void} [onEvent]
 *   Progress, for the app's own display.
 */

/** @param {LinkClientOptions} options */
export function createLinkClient(options) {
  const base = String(options.apiBase).replace(/\/+$/, "");
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const notify = options.onEvent ?? (() => {});

  /** @returns {Promise<Record<string, string>>} */
  async function credentials() {
    /** @type {Record<string, string>} */
    const h = { ...(options.headers ? await options.headers() : {}) };
    const token = options.getToken ? await options.getToken() : undefined;
    if (token) h.authorization = `Bearer ${token}`;
    return h;
  }

  /**
   * One request to the backend; the answer's JSON, or a LinkError. Only the
   * session's call sends and keeps the API's cookies (`withCookies`): its answer
   * sets the start cookie, which the callback asks of the browser that comes
   * back (the API and the app on one site, docs/deploy.md).
   * @param {string} method @param {string} path @param {unknown} [body] @param {AbortSignal} [signal]
   * @param {boolean} [withCookies]
   * @returns {Promise<{ status: number, body: any }>}
   */
  async function request(method, path, body, signal, withCookies = false) {
    const auth = await credentials();
    if (Object.keys(auth).length === 0) {
      throw new LinkError("unauthenticated", "unauthenticated", "Not signed in: getToken gave no token");
    }
    /** @type {Record<string, string>} */
    const headers = { ...auth, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const limit = AbortSignal.timeout(timeoutMs);
    /** @type {Response} */
    let response;
    try {
      response = await doFetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, limit]) : limit,
        credentials: withCookies ? "include" : "omit",
        cache: "no-store",
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const timedOut = limit.aborted;
      throw new LinkError("unavailable", timedOut ? "timeout" : "network_error",
        timedOut ? `No answer within ${timeoutMs} ms` : "The backend could not be reached", { cause: e });
    }
    const text = await response.text();
    /** @type {unknown} */
    let json = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) throw errorFromResponse(response.status, json, response.headers);
    return { status: response.status, body: json };
  }

  /**
   * A Link session for the signed-in user (a new connection, or `connectionId` to reconnect).
   * @param {SessionRequest} [params]
   * @returns {Promise<Session>}
   */
  async function createSession(params = {}) {
    const { body } = await request("POST", "/link/session", params, undefined, true);
    if (!body || body.mode !== "hosted" || typeof body.url !== "string") {
      throw new LinkError("unavailable", "unsupported_session_mode",
        `Expected a hosted Link session, received ${body && body.mode}`);
    }
    return /** @type {Session} */ (body);
  }

  /**
   * The last step of both flows, as the signed-in user. `active` (or, repeated
   * later, what the connection is now), or `verifying` until OFAuth attests it.
   * @param {CompleteRequest} params
   * @returns {Promise<Completion>}
   */
  async function complete(params) {
    const { status, body } = await request("POST", "/link/complete", params);
    if (status === 202) notify("verifying", body);
    return /** @type {Completion} */ (body);
  }

  /** @returns {Promise<LinkEmbed>} */
  async function embedLibrary(/** @type {LinkClientOptions["embed"]} */ given) {
    const source = given ?? options.embed ?? /** @type {any} */ (globalThis).OFAuth?.LinkEmbed;
    // The library itself (the ESM export is a class, with a static create), or
    // a function that loads it.
    const lib = source && typeof source.create !== "function" && typeof source === "function"
      ? await /** @type {() => LinkEmbed | Promise<LinkEmbed>} */ (source)()
      : source;
    if (!lib || typeof lib.create !== "function") {
      throw new PopupBlockedError("OFAuth's embed library is not loaded (window.OFAuth.LinkEmbed)");
    }
    return lib;
  }

  /**
   * The popup flow: OFAuth's page in the embed library's modal iframe; the
   * completion runs when it reports success, before the library removes it.
   * An expired session is replaced once (`onInvalidSession`).
   * @param {{ connectionId?: string, embed?: LinkClientOptions["embed"], theme?: "light" | "dark" | "auto" }} params
   * @returns {Promise<Completion>}
   */
  async function connectPopup(params) {
    const Embed = await embedLibrary(params.embed);
    const sessionParams = params.connectionId ? { connectionId: params.connectionId } : {};
    let session = await createSession(sessionParams);
    return new Promise((resolve, reject) => {
      let settled = false;
      let renewed = false;
      /** @type {EmbedHandler | undefined} */
      let handler;
      /** @param {() => void} settle @param {boolean} [forceClose] */
      const finish = (settle, forceClose = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(loadTimer);
        if (forceClose) handler?.close({ force: true });
        settle();
        // After the library's own clean-up (it awaits our callbacks first).
        setTimeout(() => handler?.destroy(), 0);
      };
      const loadTimer = setTimeout(() => {
        finish(() => reject(new PopupBlockedError(
          "OFAuth's page did not load in the embed: is this origin in the client app's Allowed Origins?")), true);
      }, options.embedLoadTimeoutMs ?? 20_000);
      handler = Embed.create({
        theme: params.theme ?? options.theme,
        onLoad: () => {
          clearTimeout(loadTimer);
          notify("loaded");
        },
        onSuccess: async (metadata) => {
          try {
            const done = await complete({ attemptId: session.attemptId, connectionId: metadata.connection.id });
            finish(() => resolve(done));
          } catch (e) {
            finish(() => reject(e));
          }
        },
        onClose: (metadata) => {
          const code = metadata.error?.error_type ?? metadata.type ?? "user_exit";
          const step = metadata.step;
          finish(() => reject(new ClosedError(code, step,
            metadata.error?.error_message ?? `Closed${step ? ` at step ${step}` : ""}`)));
        },
        onInvalidSession: async () => {
          // The library keeps its iframe up: replace the session once, or close it.
          if (renewed || settled) {
            finish(() => reject(new SessionExpiredError("The Link session expired again")), true);
            return;
          }
          renewed = true;
          try {
            session = await createSession(sessionParams);
          } catch (e) {
            finish(() => reject(e), true);
            return;
          }
          notify("session_renewed", { expiresAt: session.expiresAt });
          handler?.open(session.url);
        },
      });
      handler.open(session.url);
    });
  }

  /**
   * Starts the flow. Redirect: sends the browser to OFAuth and resolves `null`
   * (the result arrives on the app's success page: `completeReturn`). Popup:
   * resolves with the completion.
   * @param {{ flow: "redirect" | "popup", connectionId?: string, embed?: LinkClientOptions["embed"], theme?: "light" | "dark" | "auto" }} params
   * @returns {Promise<Completion | null>}
   */
  async function connect(params) {
    if (params.flow === "popup") return connectPopup(params);
    if (params.flow !== "redirect") throw new LinkError("invalid_request", "invalid_request", `Unknown flow ${params.flow}`);
    const session = await createSession(params.connectionId ? { connectionId: params.connectionId } : {});
    globalThis.location.assign(session.url);
    return null;
  }

  /**
   * On the app's success, cancelled and error pages: reads what the callback
   * added, removes it from the address bar, and completes with the one-time
   * code. `null` when the page is not a return (no `status`); `already_completed`
   * when the callback sent no code (the flow was completed before).
   * @param {{ url?: string, history?: Pick<History, "replaceState"> }} [params]
   * @returns {Promise<Completion | { status: "already_completed" } | null>}
   */
  async function completeReturn(params = {}) {
    const url = new URL(params.url ?? globalThis.location.href);
    const status = url.searchParams.get("status");
    if (!status) return null;
    const code = url.searchParams.get("code");
    const step = url.searchParams.get("step") ?? undefined;
    const errorCode = url.searchParams.get("error_code");
    for (const p of RETURN_PARAMS) url.searchParams.delete(p);
    // The code is for this page only: out of the history and of referrers first.
    (params.history ?? globalThis.history).replaceState(globalThis.history?.state ?? null, "", url.pathname + url.search + url.hash);
    if (status === "cancelled") throw new ClosedError("user_exit", step, `Cancelled${step ? ` at step ${step}` : ""}`);
    if (status === "error") throw errorFromCode(errorCode || "unknown", `Could not connect: ${errorCode || "unknown error"}`);
    if (status !== "success") throw new LinkError("invalid_request", "invalid_request", "Not a Link return page");
    if (!code) return { status: "already_completed" };
    return complete({ code });
  }

  /**
   * One page of the signed-in user's connections, newest first.
   * @param {{ limit?: number, cursor?: string, signal?: AbortSignal }} [params]
   * @returns {Promise<ConnectionPage>}
   */
  async function list(params = {}) {
    const q = new URLSearchParams();
    if (params.limit !== undefined) q.set("limit", String(params.limit));
    if (params.cursor) q.set("cursor", params.cursor);
    const query = q.toString();
    const { body } = await request("GET", `/link/connections${query ? `?${query}` : ""}`, undefined, params.signal);
    return /** @type {ConnectionPage} */ (body);
  }

  /**
   * Waits for a `verifying` connection to become `active` (OFAuth's
   * attestation), polling the list. Throws RefusedError when it was not
   * verified, VerifyingError when `timeoutMs` (or `verifyBy`) passes first, and
   * the signal's reason when aborted.
   * @param {string} connectionId
   * @param {{ signal?: AbortSignal, timeoutMs?: number, intervalMs?: number, verifyBy?: string, maxPages?: number }} [params]
   * @returns {Promise<Connection>}
   */
  async function waitUntilVerified(connectionId, params = {}) {
    const interval = Math.max(250, params.intervalMs ?? 1_500);
    let deadline = Date.now() + (params.timeoutMs ?? 120_000);
    const verifyBy = params.verifyBy ? Date.parse(params.verifyBy) : Number.NaN;
    if (Number.isFinite(verifyBy)) deadline = Math.min(deadline, verifyBy + 5_000);
    const signal = params.signal;
    for (;;) {
      signal?.throwIfAborted();
      const found = await find(connectionId, params.maxPages ?? 5, signal);
      if (found && found.status === "active") return found;
      if (!found || found.status === "unverified") {
        throw new RefusedError("connection_not_verified", "OFAuth did not attest this connection; it was not added");
      }
      if (Date.now() + interval > deadline) {
        throw new VerifyingError(connectionId, "Still waiting for OFAuth to attest the connection");
      }
      await sleep(interval, signal);
    }
  }

  /** @param {string} id @param {number} maxPages @param {AbortSignal} [signal] */
  async function find(id, maxPages, signal) {
    /** @type {string | undefined} */
    let cursor;
    for (let i = 0; i < maxPages; i++) {
      const page = await list({ limit: 100, cursor, signal });
      const hit = page.connections.find((c) => c.id === id);
      if (hit || !page.nextCursor) return hit;
      cursor = page.nextCursor;
    }
    return undefined;
  }

  /**
   * Disconnects one of the user's connections (at OFAuth first).
   * @param {string} connectionId
   * @returns {Promise<void>}
   */
  async function disconnect(connectionId) {
    await request("DELETE", `/link/connections/${encodeURIComponent(connectionId)}`);
  }

  /**
   * Reconnects one of the user's connections (the same connection id comes back).
   * @param {string} connectionId
   * @param {{ flow: "redirect" | "popup", embed?: LinkClientOptions["embed"], theme?: "light" | "dark" | "auto" }} params
   */
  function reconnect(connectionId, params) {
    return connect({ ...params, connectionId });
  }

  return { createSession, connect, completeReturn, complete, waitUntilVerified, list, disconnect, reconnect };
}

/** @param {number} ms @param {AbortSignal} [signal] @returns {Promise<void>} */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", aborted, { once: true });
  });
}
