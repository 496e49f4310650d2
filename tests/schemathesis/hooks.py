"""Schemathesis hooks for rolebook's API (tests/api_schemathesis.rs).

An `Idempotency-Key` names one request: the same key with another body is
refused (422 `idempotency_key_reused`), as documented. Schemathesis draws
keys from a small space and reuses them across requests, so a valid key it
generated is replaced by a fresh one; an invalid one (which must get 400
`invalid_idempotency_key`) is left as it is.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.match(key):
        headers["Idempotency-Key"] = "st-" + uuid.uuid4().hex
        case.headers = headers
