"""Schemathesis hooks for the contract fuzzer (scripts/check-contract.sh).

`make dev` has no API Gateway in front of the functions, so no JWT or IAM
authorizer. This stands in for both, and nothing else: a request that carries
the fuzzer's own token is the fuzz user (`x-user-id`, which only `make dev`
trusts) on the JWT routes, and is signed with SigV4 (the local credentials) on
the IAM routes; a request without it, or with anything else in Authorization,
goes out as is and must be refused, as the authorizers would refuse it.
"""

import os
from urllib.parse import urlencode

import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TOKEN = "local-contract-fuzzer"
BASE = os.environ["FUZZ_BASE_URL"].rstrip("/")
USER = os.environ.get("FUZZ_USER", "contract-fuzzer")
CREDENTIALS = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
REGION = os.environ.get("AWS_REGION", "us-east-1")


@schemathesis.auth()
class LocalAuthorizer:
    def get(self, case, ctx):
        return TOKEN

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def filter_body(ctx, body):
    # `cargo lambda watch` answers 500 itself for a body that is not UTF-8,
    # before any function runs; API Gateway hands such a body to the function
    # base64-encoded, and it is refused with a 400 (tools/lambda-bench/tests/
    # raw_input.rs, json_routes_answer_raw_input_with_400_and_live_on).
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers if case.headers is not None else {}
    if headers.get("Authorization") != f"Bearer {TOKEN}":
        return
    if case.path.startswith("/platform/"):
        del headers["Authorization"]
        query = f"?{urlencode(case.query, doseq=True)}" if case.query else ""
        request = AWSRequest(method=case.method.upper(), url=f"{BASE}{case.formatted_path}{query}")
        SigV4Auth(CREDENTIALS, "execute-api", REGION).add_auth(request)
        headers.update(dict(request.headers))
    else:
        headers["x-user-id"] = USER
    case.headers = headers


@schemathesis.hook
def after_call(ctx, case, response):
    # Put the case back as it was generated: the checks send it again
    # themselves (without the token, to see it refused), and what this hook
    # derived from the token must not go with it.
    headers = case.headers if case.headers is not None else {}
    derived = headers.pop("x-user-id", None) is not None
    for name in ("X-Amz-Date", "X-Amz-Security-Token"):
        derived = headers.pop(name, None) is not None or derived
    if str(headers.get("Authorization", "")).startswith("AWS4-HMAC-SHA256 "):
        headers["Authorization"] = f"Bearer {TOKEN}"
    if derived:
        case.headers = headers
