"""moto in server mode for the streaming tests, with one fix to its SigV4
check: moto recomputes the signature over the request path *decoded*
(`org=...` instead of the `org%3D...` the client sent and signed), so any
key with `=` (every hive-style key of the export) fails with
SignatureDoesNotMatch, boto3's own requests included. AWS S3 signs the
path as sent; this launcher makes moto do the same, and changes nothing
else: signatures are still checked against moto's IAM users.

  moto_server.py -H 127.0.0.1 -p PORT      (moto.server's own arguments)
"""
import sys
from urllib.parse import urlparse

import moto.core.authorization as authorization

_check = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action


def _check_path_as_sent(self, iam_request_cls, resource="*"):
    raw = getattr(self, "raw_path", None)
    saved = self.uri
    if raw:
        self.uri = urlparse(saved)._replace(path=raw).geturl()
    try:
        return _check(self, iam_request_cls, resource)
    finally:
        self.uri = saved


authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action = _check_path_as_sent

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
