"""/pubsub WebSocket subscriptions end to end with pycolonies (and raw frames)."""
import base64
import json
import threading
import time

import pytest
from crypto import Crypto
from pycolonies import func_spec
from websocket import create_connection

from harness import new_key

WAITING, RUNNING, SUCCESS, FAILED = 0, 1, 2, 3


def chan_spec(colony, channels=("chat",)):
    s = func_spec("chat", [], colony.name, colony.executortype)
    s.channels = list(channels)
    return s


def running(colony, channels=("chat",)):
    c = colony.client
    p = c.submit_func_spec(chan_spec(colony, channels), colony.user_prv)
    assert c.assign(colony.name, 5, colony.exec_prv).processid == p.processid
    return p


def signed(msg, prv):
    payload = base64.b64encode(json.dumps(msg).encode()).decode()
    return json.dumps({"payloadtype": msg["msgtype"], "payload": payload,
                       "signature": Crypto().sign(payload, prv)})


def ws(server):
    return create_connection(f"ws://127.0.0.1:{server.port}/pubsub", timeout=30)


def decode(frame):
    reply = json.loads(frame)
    return reply, json.loads(base64.b64decode(reply["payload"]))


def test_history_then_live_then_end_marker(colony):
    c = colony.client
    p = running(colony)
    for i in range(3):
        c.channel_append(p.processid, "chat", i + 1, f"old {i}", colony.exec_prv)
    got = []
    done = threading.Event()

    def cb(entries):
        got.extend(entries)
        if any(e.get("type") == "end" for e in entries):
            done.set()
            return False
        return True

    th = threading.Thread(target=lambda: c.subscribe_channel(p.processid, "chat", colony.user_prv,
                                                             after_seq=0, timeout=20, callback=cb))
    th.start()
    deadline = time.time() + 20
    while len(got) < 3 and time.time() < deadline:
        time.sleep(0.02)
    for i in range(3):
        c.channel_append(p.processid, "chat", 10 + i, f"live {i}", colony.exec_prv)
    c.channel_append(p.processid, "chat", 20, "", colony.exec_prv, payload_type="end")
    th.join(timeout=30)
    assert done.is_set()
    assert [e["payload"] for e in got] == [b"old 0", b"old 1", b"old 2", b"live 0", b"live 1", b"live 2", ""]
    assert [e["sequence"] for e in got] == [1, 2, 3, 10, 11, 12, 20]


def test_afterseq_skips_and_two_subscribers_and_timeout_ends_with_empty(colony):
    c = colony.client
    p = running(colony)
    for i in range(5):
        c.channel_append(p.processid, "chat", i, f"m{i}", colony.exec_prv)
    results = {}

    def sub(name, after):
        results[name] = c.subscribe_channel(p.processid, "chat", colony.user_prv, after_seq=after, timeout=2)

    ths = [threading.Thread(target=sub, args=("a", 3)), threading.Thread(target=sub, args=("b", 0))]
    [t.start() for t in ths]
    time.sleep(0.5)
    c.channel_append(p.processid, "chat", 5, "m5", colony.exec_prv)
    t0 = time.time()
    [t.join(timeout=30) for t in ths]
    # both ended by the timeout's [] frame (pycolonies returns what it collected)
    assert [e["payload"] for e in results["a"]] == [b"m3", b"m4", b"m5"]
    assert [e["payload"] for e in results["b"]] == [f"m{i}".encode() for i in range(6)]
    assert time.time() - t0 < 10


def test_close_while_subscribed_delivers_everything_then_empty(colony):
    c = colony.client
    p = running(colony)
    s = ws(colony.server)
    s.send(signed({"msgtype": "subscribechannelmsg", "processid": p.processid, "name": "chat",
                   "afterseq": 0, "timeout": 30}, colony.user_prv))
    time.sleep(0.3)
    for i in range(20):
        c.channel_append(p.processid, "chat", i, f"e{i}", colony.exec_prv)
    c.close(p.processid, [], colony.exec_prv)
    seen = []
    while True:
        reply, entries = decode(s.recv())
        assert reply["error"] is False
        if entries == []:
            break
        seen.extend(entries)
    assert [base64.b64decode(e["payload"]) for e in seen] == [f"e{i}".encode() for i in range(20)]
    # then the server closes the socket
    with pytest.raises(Exception):
        while True:
            if s.recv() in (b"", ""):
                raise ConnectionError
    # and, with no retention, the history is gone once the last subscriber has drained
    deadline = time.time() + 40
    while time.time() < deadline:
        try:
            c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)
            time.sleep(0.5)
        except Exception as e:
            assert "Channel not found" in str(e)
            break
    else:
        pytest.fail("history still readable after the grace period")


def test_refusals_are_error_frames_and_the_socket_keeps_serving(colony):
    c = colony.client
    p = running(colony)
    s = ws(colony.server)
    stranger, _ = new_key()
    s.send("garbage")
    reply, body = decode(s.recv())
    assert reply["error"] and body["status"] == 400
    s.send(signed({"msgtype": "subscribechannelmsg", "processid": p.processid, "name": "chat",
                   "afterseq": 0, "timeout": 5}, stranger))
    reply, body = decode(s.recv())
    assert reply["error"] and body["status"] == 403
    s.send(signed({"msgtype": "subscribechannelmsg", "processid": p.processid, "name": "nope",
                   "afterseq": 0, "timeout": 5}, colony.user_prv))
    reply, body = decode(s.recv())
    assert reply["error"] and body["status"] == 404 and "Channel not found" in body["message"]
    other, _ = colony.add_executor("worker-2")
    s.send(signed({"msgtype": "subscribechannelmsg", "processid": p.processid, "name": "chat",
                   "afterseq": 0, "timeout": 5}, other))
    reply, body = decode(s.recv())
    assert reply["error"] and body["status"] == 403 and "Not authorized to subscribe" in body["message"]
    # still serving: a valid subscription on the same socket works
    c.channel_append(p.processid, "chat", 1, "ok", colony.exec_prv)
    s.send(signed({"msgtype": "subscribechannelmsg", "processid": p.processid, "name": "chat",
                   "afterseq": 0, "timeout": 1}, colony.user_prv))
    reply, entries = decode(s.recv())
    assert not reply["error"] and base64.b64decode(entries[0]["payload"]) == b"ok"
    reply, entries = decode(s.recv())
    assert entries == []


def test_wait_for_process(colony):
    c = colony.client
    p = c.submit_func_spec(func_spec("job", [], "dev", colony.executortype), colony.user_prv)

    def executor():
        time.sleep(0.5)
        a = c.assign("dev", 10, colony.exec_prv)
        c.close(a.processid, ["out"], colony.exec_prv)

    th = threading.Thread(target=executor)
    th.start()
    done = c.wait(p, 20, colony.user_prv)
    th.join()
    assert done.state == SUCCESS and done.output == ["out"]
    # already in the state: answered at once
    t0 = time.time()
    assert c.wait(p, 20, colony.user_prv).state == SUCCESS
    assert time.time() - t0 < 5


def test_process_subscription_timeout_is_an_error_frame(colony):
    c = colony.client
    p = c.submit_func_spec(func_spec("job", [], "dev", colony.executortype), colony.user_prv)
    s = ws(colony.server)
    s.send(signed({"msgtype": "subscribeprocessmsg", "processid": p.processid, "executortype": "cli",
                   "state": SUCCESS, "timeout": 1}, colony.user_prv))
    reply, body = decode(s.recv())
    assert reply["error"] and body["status"] == 408
    stranger, _ = new_key()
    s2 = ws(colony.server)
    s2.send(signed({"msgtype": "subscribeprocessmsg", "processid": p.processid, "executortype": "cli",
                    "state": SUCCESS, "timeout": 1}, stranger))
    reply, body = decode(s2.recv())
    assert reply["error"] and body["status"] == 403


def test_subscribe_processes_offers_each_process_once(colony):
    c = colony.client
    prv2, _ = colony.add_executor("worker-2")
    socks = [ws(colony.server) for _ in range(2)]
    for s, prv in zip(socks, (colony.exec_prv, prv2)):
        s.send(signed({"msgtype": "subscribeprocessesmsg", "colonyname": "dev", "executortype": "cli",
                       "state": WAITING, "timeout": 2}, prv))
    time.sleep(0.3)
    p = c.submit_func_spec(func_spec("job", [], "dev", "cli"), colony.user_prv)
    frames = []
    for s in socks:
        while True:
            reply, body = decode(s.recv())
            if reply["error"]:
                assert body["status"] == 408
                break
            frames.append(body["processid"])
    assert frames == [p.processid]


def test_tutorial_003_chat_over_subscriptions(colony):
    """Seed 003: the executor subscribes and answers each client message with inreplyto;
    the client subscribes to the replies and ends the chat."""
    c = colony.client
    p = running(colony)
    questions = ["hi", "what is 2+2?", "bye"]

    def executor():
        seq = 0

        def on_entries(entries):
            nonlocal seq
            for e in entries:
                if e["senderid"] == colony.user_id:
                    seq += 1
                    c.channel_append(p.processid, "chat", seq, b"re: " + e["payload"], colony.exec_prv,
                                     in_reply_to=e["sequence"])
                    if e["payload"] == b"bye":
                        c.channel_append(p.processid, "chat", seq + 1, "", colony.exec_prv, payload_type="end")
                        return False
            return True

        c.subscribe_channel(p.processid, "chat", colony.exec_prv, timeout=20, callback=on_entries)

    th = threading.Thread(target=executor)
    th.start()
    time.sleep(0.3)
    replies = []

    def on_replies(entries):
        for e in entries:
            if e["senderid"] == colony.exec_id:
                if e.get("type") == "end":
                    return False
                replies.append((e["inreplyto"], e["payload"]))
        return True

    for i, q in enumerate(questions, start=1):
        c.channel_append(p.processid, "chat", i, q, colony.user_prv)
    c.subscribe_channel(p.processid, "chat", colony.user_prv, timeout=20, callback=on_replies)
    th.join(timeout=30)
    assert replies == [(1, b"re: hi"), (2, b"re: what is 2+2?"), (3, b"re: bye")]
