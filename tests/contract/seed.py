"""Gives the contract fuzzer's user real connections before it runs, so that
the stateful phase's links (list -> disconnect, reconnect, the read API) reach
data that exists: each one a whole redirect flow through make dev and the
simulator, as a browser makes it (session, OFAuth's page, approve, callback,
completion with the code). The browser's start cookie (HttpOnly, `Secure`,
which a cookie jar would not send over make dev's http://localhost) is carried
by hand from the session's answer to the callback.

Usage: python seed.py <the functions' base URL> <user> <count>
"""

import sys
from urllib.parse import parse_qs, urlparse

import requests

base, user, count = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3])
headers = {"x-user-id": user}
http = requests.Session()
for _ in range(count):
    session = http.post(f"{base}/link/session", json={}, headers=headers, timeout=20)
    session.raise_for_status()
    url = session.json()["url"]
    start = session.headers["set-cookie"].split(";")[0]
    approved = http.post(f"{url}/approve", allow_redirects=False, timeout=20)
    assert approved.status_code == 303, approved.text
    back = http.get(approved.headers["location"], allow_redirects=False, timeout=20,
                    headers={"cookie": start})
    assert back.status_code == 302, back.text
    code = parse_qs(urlparse(back.headers["location"]).query)["code"][0]
    done = http.post(f"{base}/link/complete", json={"code": code}, headers=headers, timeout=20)
    assert done.status_code == 200 and done.json()["status"] == "active", done.text
    print(f"    {user}: {done.json()['connectionId']} active")
