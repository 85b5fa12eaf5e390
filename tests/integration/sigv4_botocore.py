#!/usr/bin/python3
"""Signs one request with botocore's SigV4Auth: the independent check of the mock Bedrock
endpoint in bedrock_test.cpp (Debian's python3-botocore, installed by scripts/install-deps.sh).

stdin: a JSON object
  method, url           "POST", "http://127.0.0.1:PORT/model/...%3A0/converse"
  headers               [[name, value], ...]: the headers the gateway signed, without
                        x-amz-date and x-amz-security-token (botocore adds both itself)
  body                  the request body (UTF-8 text)
  access_key, secret_key, token (may be empty), region, service
  amz_date              "20261126T204428Z": the time the gateway signed at
stdout: the Authorization header value botocore computes.

SigV4Auth.add_auth() reads the clock itself; the clock botocore.auth sees is frozen at
amz_date so that the whole of add_auth() (date and token headers, canonical request, string to
sign, signature, header) runs unchanged at the gateway's signing time.
"""
import datetime
import json
import sys
import types

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(a):
    frozen = datetime.datetime.strptime(a["amz_date"], "%Y%m%dT%H%M%SZ")

    class FrozenDateTime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return frozen

    clock = types.ModuleType("datetime")
    clock.__dict__.update(datetime.__dict__)
    clock.datetime = FrozenDateTime
    botocore.auth.datetime = clock

    request = AWSRequest(method=a["method"], url=a["url"], data=a["body"].encode("utf-8"))
    for name, value in a["headers"]:
        request.headers[name] = value
    credentials = Credentials(a["access_key"], a["secret_key"], a.get("token") or None)
    botocore.auth.SigV4Auth(credentials, a["service"], a["region"]).add_auth(request)
    if request.headers["X-Amz-Date"] != a["amz_date"]:
        raise SystemExit("botocore signed at %s, not at %s" % (request.headers["X-Amz-Date"],
                                                                a["amz_date"]))
    return request.headers["Authorization"]


if __name__ == "__main__":
    print(sign(json.load(sys.stdin)))
