"""Abuse and load, all at once on loopback, every loop bounded: thousands of idle sockets,
slow-header clients, huge and deeply nested bodies, a flood of long-polling assigns, a flood of
WebSocket subscriptions and a subscriber that never reads. Each is bounded by a configurable
limit, and a well-behaved client running meanwhile (a new connection per request, as pycolonies
does) still gets every answer promptly: its latencies are printed and checked against a generous
bound that only catches a lock-out or a hang (figures belong in benchmarks, not in tests).
"""
import base64
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

from crypto import Crypto
from pycolonies import func_spec

from conftest import Colony
from harness import Colonyd, SERVER_PRVKEY, new_key

LIMITS = ["--max-connections", "400", "--header-timeout", "2", "--max-long-polls", "40",
          "--max-websockets", "60", "--ws-write-timeout", "3", "--max-payload", "1MiB",
          "--metrics-listen", "127.0.0.1:0", "--channel-retention", "1h"]
IDLE_SOCKETS = 1500
SLOW_HEADERS = 50
LONG_POLLS = 100
SUBSCRIPTIONS = 100
APPENDS = 300


def signed(msg, prv):
    payload = base64.b64encode(json.dumps(msg).encode()).decode()
    return json.dumps({"payloadtype": msg["msgtype"], "payload": payload,
                       "signature": Crypto().sign(payload, prv)}).encode()


def post_head(port, length, extra=""):
    return (f"POST /api HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def status_of(sock, timeout=30):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    m = re.match(rb"HTTP/1.1 (\d+)", data)
    return int(m.group(1)) if m else 0


def ws_frame(text):
    data = text if isinstance(text, bytes) else text.encode()
    mask = b"\x11\x22\x33\x44"
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                            bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                            bytes([0x80 | 127]) + struct.pack(">Q", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def ws_open(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /pubsub HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return s, status_of(s)


def metric(url, name):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def test_abuse_is_bounded_and_a_good_client_is_served(tmp_path):
    server = Colonyd(tmp_path, extra_args=LIMITS).start()
    port = server.port
    metrics = re.search(r"metrics on (http://\S+)", server.log()).group(1)
    colony = Colony(server)
    c = colony.client
    # a second colony for the flood, so that its long-polls never take the good client's work
    flood_prv, flood_id = new_key()
    c.add_colony({"colonyid": flood_id, "name": "flood"}, SERVER_PRVKEY)
    flooders = []
    for i in range(10):  # 10 executors x 10 long-polls: the per-executor cap (8) and the global one
        fexec_prv, fexec_id = new_key()
        c.add_executor({"executorid": fexec_id, "executortype": "cli", "executorname": f"f{i}",
                        "colonyname": "flood"}, flood_prv)
        c.approve_executor("flood", f"f{i}", flood_prv)
        flooders.append(fexec_prv)
    # a running process with a channel for the subscribers
    s = func_spec("stream", [], "dev", "cli")
    s.channels = ["out"]
    streaming = c.submit_func_spec(s, colony.user_prv)
    assert c.assign("dev", 5, colony.exec_prv).processid == streaming.processid
    bulk = c.submit_func_spec(s, colony.user_prv)  # for the subscriber that never reads
    assert c.assign("dev", 5, colony.exec_prv).processid == bulk.processid

    held, results, stop = [], {}, threading.Event()

    def idle_sockets():
        time.sleep(1)  # after the other abusers have their connections
        for _ in range(IDLE_SOCKETS):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                results["idle_connect_errors"] = results.get("idle_connect_errors", 0) + 1

    def slow_headers():
        socks = []
        for _ in range(SLOW_HEADERS):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /api HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        closed_by_server = 0
        for _ in range(12):  # 6 s of dribbling: past the 2 s header timeout
            for s in socks:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            time.sleep(0.5)
        for s in socks:
            s.setblocking(False)
            try:
                closed_by_server += s.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed_by_server += 1
            s.close()
        results["slow_headers_closed"] = closed_by_server

    def bodies():
        statuses = []
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(post_head(port, 10 << 30))  # 10 GiB announced
            s.sendall(b"{" * 65536)
            statuses.append(("huge", status_of(s)))
            s.close()
        nest = "[" * 100_000 + "]" * 100_000
        # 100 000 levels where any JSON is accepted (function args), and as the envelope's own
        # payload type: refused as invalid, no stack overflow
        deep = json.dumps({"msgtype": "submitfuncspecmsg", "spec": {
            "funcname": "f", "args": ["X"], "conditions": {"colonyname": "dev", "executortype": "cli"}}}
        ).replace('"X"', nest)
        body = ('{"payloadtype":' + nest + ',"payload":"","signature":""}').encode()
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(post_head(port, len(body)) + body)
            statuses.append(("deep-envelope", status_of(s)))
            s.close()
        payload = base64.b64encode(deep.encode()).decode()
        body = json.dumps({"payloadtype": "submitfuncspecmsg", "payload": payload,
                           "signature": Crypto().sign(payload, colony.user_prv)}).encode()
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(post_head(port, len(body)) + body)
            statuses.append(("deep-payload", status_of(s)))
            s.close()
        results["bodies"] = statuses

    def long_polls():
        bodies = [signed({"msgtype": "assignprocessmsg", "colonyname": "flood", "timeout": 20}, prv)
                  for prv in flooders]
        socks = []
        for i in range(LONG_POLLS):
            body = bodies[i % len(bodies)]
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(post_head(port, len(body)) + body)
            socks.append(s)
        refused = 0
        deadline = time.time() + 5
        pending = list(socks)
        while pending and time.time() < deadline:
            ready, _, _ = select.select(pending, [], [], 0.2)
            for s in ready:
                refused += status_of(s, 1) == 503
                pending.remove(s)
        results["long_polls_refused"] = refused
        results["long_polls_waiting"] = len(pending)
        stop.wait(30)
        for s in socks:
            s.close()

    def subscriptions():
        msg = {"msgtype": "subscribechannelmsg", "processid": streaming.processid, "name": "out",
               "afterseq": 0, "timeout": 60}
        frame = ws_frame(signed(msg, colony.user_prv))
        socks, refused = [], 0
        for _ in range(SUBSCRIPTIONS):
            s, st = ws_open(port)
            if st == 101:
                s.sendall(frame)
                socks.append(s)
            else:
                refused += st == 503
                s.close()
        results["subscriptions_open"] = len(socks)
        results["subscriptions_refused"] = refused
        stop.wait(30)
        for s in socks:
            s.close()

    def produce():
        # feeds the subscribers: APPENDS x 1 KiB to each, and 8 MiB to the one that never reads
        pc = server.client()
        big = base64.b64encode(b"y" * (512 << 10)).decode()
        for i in range(1, APPENDS + 1):
            pc.channel_append(streaming.processid, "out", i, b"x" * 1024, colony.exec_prv)
            if i % 20 == 0:  # as the Go client sends payloads: base64, cheap for both sides
                st, err, _ = server.rpc({"msgtype": "channelappendmsg", "processid": bulk.processid,
                                         "name": "out", "sequence": i // 20, "payload": big},
                                        colony.exec_prv)
                assert (st, err) == (200, False)
        results["appended"] = APPENDS

    def never_reader():
        s, st = ws_open(port, rcvbuf=4096)
        assert st == 101
        msg = {"msgtype": "subscribechannelmsg", "processid": bulk.processid, "name": "out",
               "afterseq": 0, "timeout": 600}
        s.sendall(ws_frame(signed(msg, colony.exec_prv)))
        results["never_reader"] = s  # never read from

    abusers = [threading.Thread(target=f) for f in (idle_sockets, slow_headers, bodies, long_polls,
                                                   subscriptions, never_reader)]
    [t.start() for t in abusers]
    time.sleep(2)
    producer = threading.Thread(target=produce)
    producer.start()

    # the well-behaved client, in its own process: submit, assign, close, read
    good = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "good_client.py"),
                           str(port), colony.user_prv, colony.exec_prv, "60"],
                          capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    by_op = json.loads(good.stdout)
    latencies = sorted(x for v in by_op.values() for x in v)
    producer.join(timeout=120)
    assert results.get("appended") == APPENDS, "the producer's appends were not all acknowledged"
    latencies.sort()
    for op, ls in sorted(by_op.items()):
        ls.sort()
        print(f"  {op}: n={len(ls)} p50 {ls[len(ls) // 2] * 1000:.1f} ms p99 {ls[int(len(ls) * 0.99)] * 1000:.1f} ms")
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    stop.set()
    [t.join(timeout=90) for t in abusers]
    assert not any(t.is_alive() for t in abusers)

    # the never-reading subscriber was cut off by --ws-write-timeout, not buffered forever
    deadline = time.time() + 30
    while metric(metrics, "colonyd_websockets") not in (0, None) and time.time() < deadline:
        time.sleep(0.5)
    websockets_left = metric(metrics, "colonyd_websockets")
    rss = rss_mib(server.proc.pid)
    evicted = metric(metrics, "colonyd_connections_evicted_total")
    refused = metric(metrics, "colonyd_connections_refused_total")
    print(f"\nabuse: {IDLE_SOCKETS} idle sockets (evicted {evicted}, refused {refused}), "
          f"{SLOW_HEADERS} slow-header clients (closed {results.get('slow_headers_closed')}), "
          f"{LONG_POLLS} long-polls (waiting {results.get('long_polls_waiting')}, refused "
          f"{results.get('long_polls_refused')}), {SUBSCRIPTIONS} subscriptions (open "
          f"{results.get('subscriptions_open')}, refused {results.get('subscriptions_refused')}), "
          f"{APPENDS} x 1 KiB appends to them, 8 MiB to a subscriber that never reads; good client "
          f"{len(latencies)} requests p50 {p50:.1f} ms p99 {p99:.1f} ms max {latencies[-1] * 1000:.1f} ms; "
          f"server RSS {rss:.0f} MiB")
    for s in held:
        s.close()
    results["never_reader"].close()

    assert p99 < 2000, f"the well-behaved client waited {p99:.0f} ms (p99)"
    assert results["slow_headers_closed"] == SLOW_HEADERS
    assert all(st == 413 for kind, st in results["bodies"] if kind == "huge"), results["bodies"]
    assert all(st == 400 for kind, st in results["bodies"] if kind != "huge"), \
        [b for b in results["bodies"] if b[0] != "huge"]
    assert results["long_polls_waiting"] <= 40 and results["long_polls_refused"] >= LONG_POLLS - 40
    assert results["subscriptions_open"] <= 60 and results["subscriptions_refused"] >= SUBSCRIPTIONS - 60
    assert websockets_left == 0, f"{websockets_left} WebSockets still open"
    assert evicted > 0
    assert rss < 300, f"server RSS {rss:.0f} MiB"
    assert server.health() == 200
    server.kill()
