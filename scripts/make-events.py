#!/usr/bin/env python3
"""Writes events/*.json: API Gateway HTTP API (payload 2.0) events for every path
the tests cover, and events/expected.json, which says what each must answer and
what must exist first (the attempts and connections `link-dev seed-events` adds).

Run it after changing an event; the tests read the files it writes."""
import base64, hashlib, hmac, json, pathlib

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "events"
out.mkdir(exist_ok=True)
USER = "user-demo-1"
OTHER = "user-demo-2"
DOMAIN = "localhost:9000"
APP = "http://localhost:8080"

def ctx(method, path, claims):
    c = {
        "accountId": "123456789012", "apiId": "local", "domainName": DOMAIN, "domainPrefix": "localhost",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "cargo-lambda-invoke"},
        "requestId": "event-" + path.strip("/").replace("/", "-"), "routeKey": f"{method} {path}", "stage": "$default",
        "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1795428000000,
    }
    if claims:
        c["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return c

def session(body=None, user=USER, headers=None, method="POST"):
    h = {"content-type": "application/json", "host": DOMAIN, "origin": APP}
    h.update(headers or {})
    ev = {"version": "2.0", "routeKey": "POST /link/session", "rawPath": "/link/session", "rawQueryString": "",
          "headers": h, "requestContext": ctx(method, "/link/session", {"sub": user, "iss": "https://issuer.example.com/"} if user else None),
          "isBase64Encoded": False}
    if body is not None:
        ev["body"] = body
    return ev

def callback(query):
    return {"version": "2.0", "routeKey": "GET /link/callback", "rawPath": "/link/callback", "rawQueryString": query,
            "headers": {"host": DOMAIN, "user-agent": "Mozilla/5.0"}, "requestContext": ctx("GET", "/link/callback", None),
            "isBase64Encoded": False}

def env_example():
    out = {}
    for line in (root / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out

SECRET = env_example()["OFAUTH_WEBHOOK_SECRET"]

def api(method, path, user, body=None, path_params=None, route=None):
    ev = {"version": "2.0", "routeKey": f"{method} {route or path}", "rawPath": path, "rawQueryString": "",
          "headers": {"host": DOMAIN, "origin": APP, "content-type": "application/json"},
          "requestContext": ctx(method, path, {"sub": user, "iss": "https://issuer.example.com/"} if user else None),
          "isBase64Encoded": False}
    ev["requestContext"]["routeKey"] = f"{method} {route or path}"
    if path_params:
        ev["pathParameters"] = path_params
    if body is not None:
        ev["body"] = body
    return ev

def webhook(body, headers=None):
    ev = api("POST", "/link/webhook", None, body)
    ev["headers"].pop("origin")
    ev["headers"].update(headers or {})
    return ev

def ofauth_sig(t, body, secret=SECRET):
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"ofauth-signature": f"t={t},v1={mac}"}

def connection_event(kind, conn, ref_id=None, event_id=None, status="active"):
    return json.dumps({"id": event_id or f"evt_{kind.replace('.', '_')}_{conn}", "type": kind,
                       "timestamp": "2026-11-23T10:00:00.000Z",
                       "data": {"clientReferenceId": ref_id, "connection": {"id": conn, "status": status, "permissions": [],
                                "userData": {"id": "300001", "name": "Webhook Creator", "username": "webhookcreator", "avatar": "https://avatars.example/w.png"}}}})

def ref(n):
    return "la_" + f"{n:040x}"

events, expected = {}, {}
def add(name, function, event, status, location=None, error=None, seed=None, sign=None):
    events[name] = event
    e = {"function": function, "status": status}
    if sign: e["sign"] = sign
    if location: e["location"] = location
    if error: e["error"] = error
    if seed: e["seed"] = seed
    expected[name] = e

# init-session
add("session-new", "init-session", session(), 200)
add("session-reconnect", "init-session", session(json.dumps({"connectionId": "conn_eventexisting"})), 200,
    seed={"connections": [{"id": "conn_eventexisting", "user": USER}]})
add("session-geolocation", "init-session", session(json.dumps({"geolocation": {"country": "US", "state": "CA"}})), 200)
add("session-reconnect-other-user", "init-session", session(json.dumps({"connectionId": "conn_eventexisting"}), user=OTHER), 404,
    error="connection_not_found", seed={"connections": [{"id": "conn_eventexisting", "user": USER}]})
add("session-unauthenticated", "init-session", session(user=None), 401, error="unauthenticated")
add("session-malformed-body", "init-session", session('{"connectionId":'), 400, error="invalid_json")
add("session-wrong-type", "init-session", session('{"connectionId": 42}'), 400, error="invalid_body")
add("session-oversized-body", "init-session", session(json.dumps({"connectionId": "x" * 5000})), 400, error="body_too_large")
add("session-preflight", "init-session",
    session(user=None, headers={"access-control-request-method": "POST"}, method="OPTIONS") | {"routeKey": "OPTIONS /link/session"}, 204)

# callback: success, each cancel step, each error code
add("callback-success", "callback",
    callback(f"status=success&connection_id=conn_eventsuccess&client_reference_id={ref(1)}"), 302,
    location=f"{APP}/link/success?status=success&connection_id=conn_eventsuccess",
    seed={"attempts": [{"id": ref(1), "user": USER}], "sim_connections": ["conn_eventsuccess"]})
for i, step in enumerate(["pre-login", "authorization", "login", "2fa"]):
    add(f"callback-cancelled-{step}", "callback",
        callback(f"status=cancelled&step={step}&client_reference_id={ref(10 + i)}"), 302,
        location=f"{APP}/link/cancelled?status=cancelled&step={step}",
        seed={"attempts": [{"id": ref(10 + i), "user": USER}]})
for i, code in enumerate(["session_expired", "invalid_credentials", "account_locked", "2fa_failed", "unknown_new_code"]):
    add(f"callback-error-{code.replace('_', '-')}", "callback",
        callback(f"status=error&error_code={code}&client_reference_id={ref(20 + i)}"), 302,
        location=f"{APP}/link/error?status=error&error_code={code}",
        seed={"attempts": [{"id": ref(20 + i), "user": USER}]})

# callback: bad inputs
add("callback-forged-reference", "callback",
    callback(f"status=success&connection_id=conn_eventsuccess&client_reference_id={ref(999)}"), 302,
    location=f"{APP}/link/error?status=error&error_code=invalid_state")
add("callback-unverified-connection", "callback",
    callback(f"status=success&connection_id=conn_notatofauth&client_reference_id={ref(30)}"), 302,
    location=f"{APP}/link/error?status=error&error_code=connection_not_verified",
    seed={"attempts": [{"id": ref(30), "user": USER}]})
add("callback-other-users-connection", "callback",
    callback(f"status=success&connection_id=conn_eventexisting&client_reference_id={ref(31)}"), 302,
    location=f"{APP}/link/error?status=error&error_code=connection_conflict",
    seed={"attempts": [{"id": ref(31), "user": OTHER}], "connections": [{"id": "conn_eventexisting", "user": USER}],
          "sim_connections": ["conn_eventexisting"]})
add("callback-open-redirect", "callback",
    callback(f"status=cancelled&step=%2F%2Fevil.example&client_reference_id={ref(32)}&redirect_uri=https%3A%2F%2Fevil.example"), 302,
    location=f"{APP}/link/error?status=error&error_code=invalid_request",
    seed={"attempts": [{"id": ref(32), "user": USER}]})
add("callback-malformed", "callback", callback("status=maybe&connection_id=conn%00x"), 302,
    location=f"{APP}/link/error?status=error&error_code=invalid_request")

# webhook: signed at invoke time ("sign"), or deliberately bad
add("webhook-connection-created", "webhook", webhook(connection_event("connection.created", "conn_eventwebhook", ref(40))), 200,
    sign="ofauth", seed={"attempts": [{"id": ref(40), "user": USER}]})
add("webhook-connection-created-svix", "webhook", webhook(connection_event("connection.created", "conn_eventwebhooksvix", ref(41))), 200,
    sign="svix", seed={"attempts": [{"id": ref(41), "user": USER}]})
add("webhook-connection-updated", "webhook", webhook(connection_event("connection.updated", "conn_eventexisting")), 200,
    sign="ofauth", seed={"connections": [{"id": "conn_eventexisting", "user": USER}]})
add("webhook-connection-expired", "webhook", webhook(connection_event("connection.expired", "conn_eventexisting", status="expired")), 200,
    sign="svix", seed={"connections": [{"id": "conn_eventexisting", "user": USER}]})
add("webhook-connection-disconnected", "webhook", webhook(connection_event("connection.disconnected", "conn_eventexisting", status="disconnected")), 200,
    sign="ofauth", seed={"connections": [{"id": "conn_eventexisting", "user": USER}]})
add("webhook-rules-updated", "webhook", webhook(json.dumps({"type": "rules.updated", "timestamp": "2026-11-23T10:00:00Z", "data": {}})), 200,
    sign="ofauth")
add("webhook-malformed-json", "webhook", webhook('{"type": "connection.created", '), 400, error="invalid_json", sign="svix")
body = connection_event("connection.created", "conn_eventwebhook", ref(40), event_id="evt_forged")
add("webhook-wrong-signature", "webhook", webhook(body, ofauth_sig(1795428000, body, "whsec_d3Jvbmc=")), 401, error="invalid_signature")
add("webhook-stale-signature", "webhook", webhook(body, ofauth_sig(1700000000, body)), 401, error="invalid_signature")
add("webhook-missing-signature", "webhook", webhook(body), 401, error="invalid_signature")

# connections
add("connections-list", "connections", api("GET", "/link/connections", USER), 200,
    seed={"connections": [{"id": "conn_eventexisting", "user": USER}]})
add("connections-disconnect", "connections",
    api("DELETE", "/link/connections/conn_eventdisconnect", USER, path_params={"id": "conn_eventdisconnect"}, route="/link/connections/{id}"), 204,
    seed={"connections": [{"id": "conn_eventdisconnect", "user": USER}], "sim_connections": ["conn_eventdisconnect"]})
add("connections-disconnect-other-user", "connections",
    api("DELETE", "/link/connections/conn_eventexisting", OTHER, path_params={"id": "conn_eventexisting"}, route="/link/connections/{id}"), 404,
    error="connection_not_found", seed={"connections": [{"id": "conn_eventexisting", "user": USER}]})
add("connections-unauthenticated", "connections", api("GET", "/link/connections", None), 401, error="unauthenticated")

for name, ev in events.items():
    (out / f"{name}.json").write_text(json.dumps(ev, indent=2) + "\n")
(out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
print(f"wrote {len(events)} events")
