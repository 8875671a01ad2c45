"""Test harness: runs a real colonyd process on 127.0.0.1 with a temporary data directory.

It reads the bound port from --port-file, can SIGKILL and restart the server on the same
directory, and gives pycolonies clients for it. Shared by every Python end-to-end test.
"""
import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

from crypto import Crypto  # pycolonies' signer
from pycolonies import Colonies

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("COLONYD_BIN", os.path.join(REPO, "target", "debug", "colonyd"))

# keys from the Go repository's docker-compose.env (spec §2.3 V1–V3)
SERVER_PRVKEY = "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d"
COLONY_PRVKEY = "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514"


class Colonyd:
    def __init__(self, workdir, extra_args=(), env=None, tls_ca=None, data_dir=None):
        """`tls_ca`: the CA file to trust when the server runs with --tls-cert/--tls-key;
        `data_dir`: where the data lives (default `workdir/data`)."""
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.tls_ca = tls_ca
        self.scheme = "https" if tls_ca else "http"
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        self.port_file = os.path.join(self.workdir, "port")
        self.log_path = os.path.join(self.workdir, "colonyd.log")
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        self.env.setdefault("COLONIES_SERVER_PRVKEY", SERVER_PRVKEY)
        self.env.setdefault("RUST_LOG", "info")
        if env:
            self.env.update(env)
        self.proc = None
        self.port = None

    def start(self, timeout=30):
        if os.path.exists(self.port_file):
            os.remove(self.port_file)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--port-file", self.port_file,
             "--data-dir", self.data_dir] + self.extra_args,
            stdout=log, stderr=log, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("colonyd exited at start:\n" + self.log())
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    if self.health() == 200:
                        return self
            except (FileNotFoundError, ValueError, OSError):
                pass
            time.sleep(0.02)
        raise RuntimeError("colonyd did not start in time:\n" + self.log())

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.tls_ca) if self.tls_ca else None

    def health(self):
        with urllib.request.urlopen(f"{self.scheme}://127.0.0.1:{self.port}/health", timeout=5,
                                    context=self.ssl_context()) as r:
            return r.status

    def kill(self):
        """SIGKILL: no chance to flush anything."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else None

    def restart_after_kill(self):
        self.kill()
        return self.start()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def client(self):
        return Colonies("127.0.0.1", self.port, tls=bool(self.tls_ca))

    def url(self, path="/api"):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def raw(self, body, method="POST", path="/api", headers=None):
        """Sends raw bytes; returns (status, body bytes)."""
        req = urllib.request.Request(self.url(path), data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl_context()) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def rpc(self, msg, prvkey, payloadtype=None):
        """A correctly signed request; returns (status, error flag, decoded payload)."""
        payload = base64.b64encode(json.dumps(msg).encode()).decode()
        env = {"payloadtype": payloadtype or msg.get("msgtype", ""), "payload": payload,
               "signature": Crypto().sign(payload, prvkey)}
        status, body = self.raw(json.dumps(env).encode())
        reply = json.loads(body)
        return status, reply["error"], json.loads(base64.b64decode(reply["payload"]))


def read_channel(c, pid, name, prv):
    """Every entry of a channel, read in pages from index 0 until an empty page."""
    out = []
    while True:
        page = c.channel_read(pid, name, len(out), 0, prv)
        if not page:
            return out
        out.extend(page)


def wait_for(cond, timeout=15, step=0.1):
    """Polls `cond` until it returns something true (returned) or fails after `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not met in time")


def new_key():
    c = Crypto()
    prv = c.prvkey()
    return prv, c.id(prv)


def free_port_socket():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s
