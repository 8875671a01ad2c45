"""Built-in TLS (--tls-cert/--tls-key) with unmodified pycolonies: tls=True, trusting a test CA
through REQUESTS_CA_BUNDLE (requests) and WEBSOCKET_CLIENT_CA_BUNDLE (websocket-client).

The colonyos crate trusts only built-in public roots (no way to add a CA), so it cannot be
tested offline against a test CA; SECURITY.md says so.
"""
import base64
import json
import socket
import ssl
import subprocess
import threading
import urllib.request

import pytest
from pycolonies import func_spec

from conftest import Colony
from harness import Colonyd


def make_pki(d):
    """A test CA and a server certificate for 127.0.0.1/localhost signed by it (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=colonyd test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        "-out", "ca.pem")
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    run("req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-sha256", "-extfile", "ext.cnf", "-out", "server.pem")
    return d / "ca.pem", d / "server.pem", d / "server.key"


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    pki = tmp_path / "pki"
    pki.mkdir()
    ca, cert, key = make_pki(pki)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", str(ca))
    s = Colonyd(tmp_path / "srv", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)],
                tls_ca=str(ca)).start()
    yield s
    s.kill()


def test_pycolonies_over_https_and_wss(tls_server):
    colony = Colony(tls_server)  # addcolony, addexecutor, approve, adduser over HTTPS
    c = colony.client
    assert c.url.startswith("https://")
    spec = func_spec("chat", [], colony.name, colony.executortype)
    spec.channels = ["chat"]
    p = c.submit_func_spec(spec, colony.user_prv)

    # process-state subscription over WSS, while the executor works
    waited = {}
    t = threading.Thread(target=lambda: waited.update(p=c.wait(p, 30, colony.user_prv)))
    t.start()
    a = c.assign(colony.name, 10, colony.exec_prv)
    assert a.processid == p.processid
    for i in range(1, 4):
        c.channel_append(p.processid, "chat", i, f"m{i}", colony.exec_prv)
    c.channel_append(p.processid, "chat", 4, "", colony.exec_prv, payload_type="end")
    # channel subscription over WSS: the backlog, then the end marker
    got = []
    c.subscribe_channel(p.processid, "chat", colony.user_prv, after_seq=0, timeout=10,
                        callback=lambda es: (got.extend(es), not any(e["type"] == "end" for e in es))[1])
    assert [e["payload"] for e in got if e["type"] == "data"] == [b"m1", b"m2", b"m3"]
    c.close(p.processid, ["done"], colony.exec_prv)
    t.join(30)
    assert not t.is_alive()
    assert waited["p"].state == 2 and waited["p"].output == ["done"]


def test_server_info_reports_tls(tls_server):
    with urllib.request.urlopen(urllib.request.Request(
            tls_server.url(), method="POST",
            data=json.dumps({"payloadtype": "getserverinfomsg", "payload": "", "signature": ""}).encode()),
            context=tls_server.ssl_context(), timeout=10) as r:
        reply = json.loads(r.read())
    info = json.loads(base64.b64decode(reply["payload"]))
    assert info["backends"][0]["tls"] is True


def test_plain_http_and_untrusted_clients_get_nothing(tls_server):
    # plain HTTP to the TLS port: no API answer in the clear
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
    assert b"HTTP/1.1 200" not in data
    # a client that does not trust the test CA refuses the certificate
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(f"https://127.0.0.1:{tls_server.port}/health",
                               context=ssl.create_default_context(), timeout=10)
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value)
    # and the server keeps serving trusted clients afterwards
    assert tls_server.health() == 200


def test_bad_tls_files_refuse_to_start(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("nothing here")
    s = Colonyd(tmp_path / "srv", extra_args=["--tls-cert", str(junk), "--tls-key", str(junk)])
    with pytest.raises(RuntimeError) as e:
        s.start(timeout=10)
    assert "--tls-cert" in str(e.value)
    s2 = Colonyd(tmp_path / "srv2", extra_args=["--tls-cert", str(junk)])
    with pytest.raises(RuntimeError) as e:
        s2.start(timeout=10)
    assert "required arguments were not provided" in str(e.value) and "--tls-key" in str(e.value)


def test_operator_commands_over_https_with_a_private_ca(tls_server):
    """process ls, channel tail and backup against a --tls-cert server: --tls with --ca-file
    (or COLONYD_CA_FILE) works; without the CA the certificate is refused; plain HTTP fails."""
    import os
    import time
    from harness import BIN, SERVER_PRVKEY
    colony = Colony(tls_server)
    c = colony.client
    spec = func_spec("overtls", [], colony.name, colony.executortype)
    spec.channels = ["log"]
    p = c.submit_func_spec(spec, colony.user_prv)
    env = {**os.environ, "COLONIES_PRVKEY": colony.user_prv, "COLONIES_COLONY_NAME": colony.name,
           "COLONIES_SERVER_PRVKEY": SERVER_PRVKEY}
    for v in ("COLONIES_SERVER_TLS", "COLONYD_CA_FILE", "SSL_CERT_FILE"):
        env.pop(v, None)
    server = ["--server", f"127.0.0.1:{tls_server.port}"]

    def run(args, extra=None):
        return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=60,
                              env={**env, **(extra or {})})

    r = run(["process", "ls", *server, "--tls", "--ca-file", tls_server.tls_ca, "--json"])
    assert r.returncode == 0, r.stderr
    assert [x["processid"] for x in json.loads(r.stdout)] == [p.processid]
    # the CA from the environment, TLS from COLONIES_SERVER_TLS as other clients take it
    r = run(["process", "ls", *server], {"COLONYD_CA_FILE": tls_server.tls_ca})
    assert r.returncode == 0 and p.processid in r.stdout, r.stderr
    r = run(["process", "ls", *server, "--tls"], {"SSL_CERT_FILE": tls_server.tls_ca})
    assert r.returncode == 0 and p.processid in r.stdout, r.stderr
    # not trusted: the system roots alone do not know the test CA
    r = run(["process", "ls", *server, "--tls"])
    assert r.returncode == 1 and "TLS handshake" in r.stderr and "certificate" in r.stderr.lower(), r.stderr
    # plain HTTP to a TLS server: an error, not a hang
    r = run(["process", "ls", *server])
    assert r.returncode == 1, r.stderr
    # channel tail over WSS
    c.assign(colony.name, 5, colony.exec_prv)
    c.channel_append(p.processid, "log", 1, "secret", colony.exec_prv)
    tail = subprocess.Popen([BIN, "channel", "tail", p.processid, "log", *server, "--ca-file",
                             tls_server.tls_ca, "--timeout", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    c.channel_append(p.processid, "log", 2, "done", colony.exec_prv, payload_type="end")
    c.close(p.processid, [], colony.exec_prv)
    out, err = tail.communicate(timeout=30)
    assert tail.returncode == 0, err
    assert [l.split("\t")[3] for l in out.strip().splitlines()] == ["secret", "done"]
    # backup over HTTPS, signed by the server owner
    r = run(["backup", "backups/tls", *server, "--ca-file", tls_server.tls_ca])
    assert r.returncode == 0 and "backup written to" in r.stdout, r.stderr
    # the load generator through the same client: requests and a WSS subscription
    bench = os.path.join(os.path.dirname(BIN), "colonyd-bench")
    for scenario in (["--clients", "1", "--count", "5", "append"],
                     ["--subscribers", "2", "--count", "5", "--rate", "50", "latency"]):
        r = subprocess.run([bench, "--addr", f"127.0.0.1:{tls_server.port}", "--ca-file",
                            tls_server.tls_ca, *scenario], capture_output=True, text=True,
                           timeout=120, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
