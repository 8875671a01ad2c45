"""Running colonyd for real: the systemd notify protocol, graceful shutdown, metrics, logs."""
import base64
import json
import re
import socket
import threading
import time
import urllib.request

import pytest
from pycolonies import func_spec
from websocket import create_connection

from conftest import metrics_workload
from harness import Colonyd


def test_notify_ready_watchdog_stopping(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    s = Colonyd(tmp_path, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}).start()
    try:
        msgs = []
        deadline = time.time() + 20
        while time.time() < deadline and sum("WATCHDOG=1" in m for m in msgs) < 2:
            msgs.append(sock.recv(4096).decode())
        assert any(m.startswith("READY=1") for m in msgs), msgs
        assert sum("WATCHDOG=1" in m for m in msgs) >= 2, msgs
        assert s.stop() == 0
        rest = []
        sock.settimeout(5)
        try:
            while True:
                rest.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
        assert any("STOPPING=1" in m for m in rest), rest
    finally:
        s.kill()
        sock.close()


def test_metrics_are_scraped_from_a_separate_listener(tmp_path):
    s = Colonyd(tmp_path, extra_args=["--metrics-listen", "127.0.0.1:0"]).start()
    try:
        m = re.search(r"metrics on (http://\S+)", s.log())
        deadline = time.time() + 10
        while not m and time.time() < deadline:
            time.sleep(0.05)
            m = re.search(r"metrics on (http://\S+)", s.log())
        assert m, s.log()
        url = m.group(1)
        metrics_workload(s)
        text = urllib.request.urlopen(url).read().decode()
        assert 'colonyd_requests_total{payloadtype="addcolonymsg",status="200"} 1' in text
        assert 'colonyd_requests_total{payloadtype="getprocessmsg",status="404"} 1' in text
        assert "colonyd_channel_appends_total 1" in text
        assert "colonyd_channel_append_bytes_total 5" in text
        assert 'colonyd_processes{colony="dev",state="running"} 1' in text
        assert re.search(r"colonyd_syncs_total [1-9]", text)
        assert re.search(r"colonyd_sync_duration_seconds_count [1-9]", text)
        assert re.search(r"colonyd_request_duration_seconds_bucket\{le=\"\+Inf\"\} [1-9]", text)
        assert re.search(r"colonyd_resident_memory_bytes [1-9]", text)
        assert re.search(r"colonyd_store_bytes [1-9]", text)
        # the API port does not serve metrics
        status, _ = s.raw(None, method="GET", path="/metrics")
        assert status == 404
    finally:
        s.kill()


def test_graceful_shutdown_answers_waiters_and_ends_subscriptions(colony):
    server = colony.server
    c = colony.client
    spec = func_spec("job", [], "dev", "cli")
    spec.channels = ["chat"]
    p = c.submit_func_spec(spec, colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    c.channel_append(p.processid, "chat", 1, "before", colony.exec_prv)
    # a long-polling assigner
    results = {}

    def assigner():
        status, err, payload = server.rpc({"msgtype": "assignprocessmsg", "colonyname": "dev", "timeout": 60},
                                          colony.exec_prv)
        results["assign"] = (status, payload)

    th = threading.Thread(target=assigner)
    th.start()
    # a channel subscriber
    from crypto import Crypto
    payload = base64.b64encode(json.dumps({"msgtype": "subscribechannelmsg", "processid": p.processid,
                                           "name": "chat", "afterseq": 0, "timeout": 60}).encode()).decode()
    ws = create_connection(f"ws://127.0.0.1:{server.port}/pubsub", timeout=30)
    ws.send(json.dumps({"payloadtype": "subscribechannelmsg", "payload": payload,
                        "signature": Crypto().sign(payload, colony.user_prv)}))
    first = json.loads(base64.b64decode(json.loads(ws.recv())["payload"]))
    assert base64.b64decode(first[0]["payload"]) == b"before"
    time.sleep(0.3)
    t0 = time.time()
    code = server.stop()
    assert code == 0
    assert time.time() - t0 < 15
    th.join(timeout=30)
    assert results["assign"][0] == 503 and "shutting down" in results["assign"][1]["message"]
    last = json.loads(base64.b64decode(json.loads(ws.recv())["payload"]))
    assert last == []
    log = server.log()
    assert "stopped" in log
    # everything acknowledged is there after a restart
    server.start()
    c = server.client()
    assert [e["payload"] for e in c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)] == [b"before"]


def test_startup_facts_are_logged_and_appends_are_not(colony):
    c = colony.client
    spec = func_spec("job", [], "dev", "cli")
    spec.channels = ["chat"]
    p = c.submit_func_spec(spec, colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    for i in range(20):
        c.channel_append(p.processid, "chat", i, "x", colony.exec_prv)
    log = colony.server.log()
    for fact in ["colonyd starting", "version=", "listening", "data_dir=", "sync=", "server owner", "cache="]:
        assert fact in log, fact
    assert "\x1b[" not in log, "no ANSI colours when stderr is not a terminal"
    assert len([l for l in log.splitlines() if "INFO" in l]) < 15
