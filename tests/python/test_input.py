"""Hostile and malformed input: every case gets its status and a readable message, both
signals (error:true + HTTP status), and the server keeps serving."""
import base64
import json

import pytest
from crypto import Crypto

from harness import SERVER_PRVKEY


def envelope(payload_bytes, payloadtype, prv=SERVER_PRVKEY, signature=None):
    b64 = base64.b64encode(payload_bytes).decode()
    return json.dumps({"payloadtype": payloadtype, "payload": b64,
                       "signature": signature if signature is not None else Crypto().sign(b64, prv)}).encode()


def check(server, body, status, fragment):
    got, raw = server.raw(body)
    reply = json.loads(raw)
    assert got == status, raw
    assert reply["error"] is True and reply["payloadtype"] == "error"
    failure = json.loads(base64.b64decode(reply["payload"]))
    assert failure["status"] == status
    assert fragment.lower() in failure["message"].lower(), failure["message"]


@pytest.mark.parametrize("body,status,fragment", [
    (b"", 400, "empty request body"),
    (b"{not json", 400, "invalid request envelope"),
    (b"[1,2,3]", 400, "JSON object"),
    (b'{"payloadtype": 5, "payload": "", "signature": ""}', 400, "invalid request envelope"),
    (b'{"payloadtype": "getcoloniesmsg", "payload": "e30=", "signature": "zz"}', 403, "not hex"),
    (b'{"payloadtype": "getcoloniesmsg", "payload": "e30=", "signature": "00"}', 403, "signature length"),
])
def test_bad_envelopes(server, body, status, fragment):
    check(server, body, status, fragment)
    assert server.health() == 200


def test_bad_payloads(server):
    check(server, envelope(b"null", "getcoloniesmsg"), 400, "invalid JSON")
    check(server, envelope(b"{", "getcoloniesmsg"), 400, "invalid JSON")
    check(server, envelope(b'{"msgtype":"getcolonymsg"}', "getcoloniesmsg"), 400, "does not match")
    check(server, envelope(b'{"msgtype":"nosuchmsg"}', "nosuchmsg"), 403, "invalid rpcMsg.PayloadType")
    check(server, envelope(b'{"msgtype":"getprocessesmsg","colonyname":"dev","count":"ten"}', "getprocessesmsg"),
          400, "invalid JSON")
    check(server, envelope(b'{"msgtype":"getprocessesmsg","count":1e400}', "getprocessesmsg"), 400, "invalid JSON")
    check(server, envelope(b'{"msgtype":"getprocessesmsg","count":99999999999999999999999}', "getprocessesmsg"),
          400, "invalid JSON")
    deep = b'{"msgtype":"addcolonymsg","colony":' + b"[" * 100000 + b"]" * 100000 + b"}"
    check(server, envelope(deep, "addcolonymsg"), 400, "invalid JSON")
    check(server, envelope(b'{"msgtype":"addcolonymsg","colony":null}', "addcolonymsg"), 400, "colony is null")
    check(server, envelope(b'{"msgtype":"submitfuncspecmsg","spec":null}', "submitfuncspecmsg"), 400, "spec is null")
    # bad base64 after a valid signature over that text
    b64 = "!!!not-base64"
    body = json.dumps({"payloadtype": "getcoloniesmsg", "payload": b64,
                       "signature": Crypto().sign(b64, SERVER_PRVKEY)}).encode()
    check(server, body, 400, "base64")
    # high-s twin of spec vector V3
    high = ("7c844a85504dc3c3f29b0de240aa6fe0c68a3e949cf611b4a2309e3a3fc7cb47bcc7753713e86984e498751e0e1d4187"
            "da5f9ee5fce0745bec73804f80f06f7101")
    body = json.dumps({"payloadtype": "assignprocessmsg", "signature": high,
                       "payload": "eyJtc2d0eXBlIjogImFzc2lnbnByb2Nlc3Ntc2ciLCAidGltZW91dCI6IDEwLCAiY29sb255bmFtZSI6ICJkZXYifQ=="}).encode()
    check(server, body, 403, "invalid signature")
    assert server.health() == 200


def test_body_too_large_is_413(tmp_path):
    from harness import Colonyd
    s = Colonyd(tmp_path, extra_args=["--max-body", "1KiB"]).start()
    try:
        check(s, b"{" + b" " * 4096 + b"}", 413, "exceeds the limit")
        assert s.health() == 200
    finally:
        s.kill()


def test_cors_and_unknown_paths(server):
    status, body = server.raw(None, method="OPTIONS")
    assert status == 204
    import urllib.request
    req = urllib.request.Request(server.url("/api"), method="OPTIONS",
                                 headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["access-control-allow-origin"] == "*"
        assert "POST" in r.headers["access-control-allow-methods"]
        assert r.headers["access-control-max-age"] == "43200"
    status, body = server.raw(None, method="GET", path="/api")
    assert (status, body) == (404, b"404 page not found")
    status, body = server.raw(None, method="GET", path="/nope")
    assert status == 404
