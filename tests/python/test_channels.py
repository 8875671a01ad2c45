"""Channels end to end with pycolonies: tutorial flows, payload forms, limits, lifecycle."""
import base64
import os
import threading
import time

import pytest
from pycolonies import func_spec

from conftest import Colony
from harness import Colonyd, new_key, read_channel

WAITING, RUNNING, SUCCESS, FAILED = 0, 1, 2, 3


def chan_spec(colony, channels=("chat",), **kw):
    s = func_spec("chat", [], colony.name, colony.executortype, **kw)
    s.channels = list(channels)
    return s


def running(colony, channels=("chat",)):
    c = colony.client
    p = c.submit_func_spec(chan_spec(colony, channels), colony.user_prv)
    a = c.assign(colony.name, 5, colony.exec_prv)
    assert a.processid == p.processid
    return p


def test_progress_stream_with_end_marker(colony):
    """Seed 003: the executor streams progress, ends with type "end"; the client reads by index."""
    c = colony.client
    p = running(colony, ("progress",))
    for i in range(1, 6):
        c.channel_append(p.processid, "progress", i, f"{i * 20}%", colony.exec_prv)
    c.channel_append(p.processid, "progress", 6, "", colony.exec_prv, payload_type="end")
    seen, index = [], 0
    while True:
        entries = c.channel_read(p.processid, "progress", index, 0, colony.user_prv)
        if not entries:
            break
        index += len(entries)
        seen.extend(entries)
    assert [e["payload"] for e in seen[:5]] == [b"20%", b"40%", b"60%", b"80%", b"100%"]
    assert [e["type"] for e in seen] == ["data"] * 5 + ["end"]
    assert seen[5]["payload"] == ""  # empty payload is ""
    assert all(e["senderid"] == colony.exec_id for e in seen)
    assert all("inreplyto" not in e for e in seen)


def test_chat_with_inreplyto_both_directions(colony):
    c = colony.client
    p = running(colony)
    c.channel_append(p.processid, "chat", 1, "hello", colony.user_prv)
    c.channel_append(p.processid, "chat", 1, "hi there", colony.exec_prv, in_reply_to=1)
    c.channel_append(p.processid, "chat", 2, "how are you?", colony.user_prv)
    c.channel_append(p.processid, "chat", 2, "fine", colony.exec_prv, in_reply_to=2)
    log = c.channel_read(p.processid, "chat", 0, 0, colony.exec_prv)
    assert [(e["sequence"], e.get("inreplyto", 0), e["payload"]) for e in log] == [
        (1, 0, b"hello"), (1, 1, b"hi there"), (2, 0, b"how are you?"), (2, 2, b"fine")]
    assert [e["senderid"] for e in log] == [colony.user_id, colony.exec_id] * 2


def test_sync_channel_ack_pattern(colony):
    """Seeds 001/002: the executor waits for the client's "ack" before closing."""
    c = colony.client
    p = running(colony)
    result = {}

    def executor():
        c.channel_append(p.processid, "chat", 1, "result ready", colony.exec_prv)
        deadline = time.time() + 20
        while time.time() < deadline:
            entries = c.channel_read(p.processid, "chat", 0, 0, colony.exec_prv)
            if any(e["payload"] == b"ack" for e in entries):
                c.close(p.processid, ["done"], colony.exec_prv)
                result["closed"] = True
                return
            time.sleep(0.05)

    th = threading.Thread(target=executor)
    th.start()
    deadline = time.time() + 20
    while time.time() < deadline:
        entries = c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)
        if entries:
            break
        time.sleep(0.05)
    assert entries[0]["payload"] == b"result ready"
    c.channel_append(p.processid, "chat", 1, "ack", colony.user_prv, in_reply_to=1)
    th.join(timeout=30)
    assert result.get("closed")
    assert c.get_process(p.processid, colony.user_prv).state == SUCCESS


def test_afterseq_is_an_index_and_limit(colony):
    c = colony.client
    p = running(colony)
    for i in range(10):
        c.channel_append(p.processid, "chat", 100 + i, f"m{i}", colony.exec_prv)
    page = c.channel_read(p.processid, "chat", 3, 4, colony.user_prv)
    assert [e["payload"] for e in page] == [b"m3", b"m4", b"m5", b"m6"]
    assert [e["sequence"] for e in page] == [103, 104, 105, 106]
    assert c.channel_read(p.processid, "chat", 10, 0, colony.user_prv) == []
    assert c.channel_read(p.processid, "chat", 1000, 0, colony.user_prv) == []


def test_every_byte_value_and_a_10mib_payload(colony):
    c = colony.client
    p = running(colony)
    every = bytes(range(256))
    c.channel_append(p.processid, "chat", 1, every, colony.exec_prv)
    big = os.urandom(10 * 1024 * 1024)
    c.channel_append(p.processid, "chat", 2, big, colony.user_prv)
    got = read_channel(c, p.processid, "chat", colony.user_prv)
    assert got[0]["payload"] == every
    assert got[1]["payload"] == big
    # base64 payloads (the Go client's form) are accepted too
    status, err, _ = colony.server.rpc({"msgtype": "channelappendmsg", "processid": p.processid, "name": "chat",
                                        "sequence": 3, "payload": base64.b64encode(b"go-client").decode()},
                                       colony.exec_prv)
    assert status == 200
    assert c.channel_read(p.processid, "chat", 2, 0, colony.user_prv)[0]["payload"] == b"go-client"
    # one byte over the limit is refused with 413, nothing written
    with pytest.raises(Exception, match="exceeds maximum size"):
        c.channel_append(p.processid, "chat", 4, b"x" * (10 * 1024 * 1024 + 1), colony.exec_prv)
    assert len(read_channel(c, p.processid, "chat", colony.user_prv)) == 3


def test_refusals(colony):
    c = colony.client
    p = c.submit_func_spec(chan_spec(colony), colony.user_prv)
    # the submitter may use the channel while the process waits; the executor not yet
    c.channel_append(p.processid, "chat", 1, "early", colony.user_prv)
    with pytest.raises(Exception, match="Not authorized to write to channel"):
        c.channel_append(p.processid, "chat", 1, "x", colony.exec_prv)
    with pytest.raises(Exception, match="Not authorized to read from channel"):
        c.channel_read(p.processid, "chat", 0, 0, colony.exec_prv)
    with pytest.raises(Exception, match="Channel not found"):
        c.channel_append(p.processid, "undeclared", 1, "x", colony.user_prv)
    with pytest.raises(Exception, match="Process not found"):
        c.channel_append("0" * 64, "chat", 1, "x", colony.user_prv)
    stranger_prv, _ = new_key()
    with pytest.raises(Exception, match="not a member"):
        c.channel_read(p.processid, "chat", 0, 0, stranger_prv)
    # another member of the colony is not a party to the channel
    other_prv, _ = colony.add_executor("worker-2")
    with pytest.raises(Exception, match="Not authorized"):
        c.channel_read(p.processid, "chat", 0, 0, other_prv)
    status, err, payload = colony.server.rpc({"msgtype": "channelappendmsg", "processid": p.processid,
                                              "name": "chat", "sequence": 1, "payload": [1, 2, 300]},
                                             colony.user_prv)
    assert (status, err) == (400, True) and "outside 0-255" in payload["message"]
    a = c.assign("dev", 5, colony.exec_prv)
    assert [e["payload"] for e in c.channel_read(a.processid, "chat", 0, 0, colony.exec_prv)] == [b"early"]


def test_close_removes_history_by_default(colony):
    c = colony.client
    p = running(colony)
    c.channel_append(p.processid, "chat", 1, "bye", colony.exec_prv)
    c.close(p.processid, [], colony.exec_prv)
    with pytest.raises(Exception, match="Channel not found"):
        c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)
    with pytest.raises(Exception, match="Channel not found"):
        c.channel_append(p.processid, "chat", 2, "late", colony.user_prv)


def test_fail_and_cancel_close_channels(colony):
    c = colony.client
    p = running(colony)
    c.fail(p.processid, ["x"], colony.exec_prv)
    with pytest.raises(Exception, match="Channel not found"):
        c.channel_append(p.processid, "chat", 1, "late", colony.user_prv)
    q = c.submit_func_spec(chan_spec(colony), colony.user_prv)
    colony.server.rpc({"msgtype": "cancelprocessmsg", "processid": q.processid}, colony.user_prv)
    with pytest.raises(Exception, match="Channel not found"):
        c.channel_append(q.processid, "chat", 1, "late", colony.user_prv)


def test_retention_keeps_history_readable_then_expires(tmp_path):
    s = Colonyd(tmp_path, extra_args=["--channel-retention", "3s"]).start()
    try:
        colony = Colony(s)
        c = colony.client
        p = running(colony)
        c.channel_append(p.processid, "chat", 1, "kept", colony.exec_prv)
        c.close(p.processid, [], colony.exec_prv)
        assert [e["payload"] for e in c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)] == [b"kept"]
        assert [e["payload"] for e in c.channel_read(p.processid, "chat", 0, 0, colony.exec_prv)] == [b"kept"]
        with pytest.raises(Exception, match="Channel not found"):
            c.channel_append(p.processid, "chat", 2, "late", colony.user_prv)
        # retention survives a restart
        s.restart_after_kill()
        c = s.client()
        assert [e["payload"] for e in c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)] == [b"kept"]
        deadline = time.time() + 20
        gone = False
        while time.time() < deadline and not gone:
            try:
                c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)
                time.sleep(0.2)
            except Exception as e:
                gone = "Channel not found" in str(e)
        assert gone
    finally:
        s.kill()


def test_limits_entry_cap_rate_and_too_many_channels(tmp_path):
    s = Colonyd(tmp_path, extra_args=["--channel-max-entries", "3", "--channel-rate", "1",
                                      "--max-channels", "2"]).start()
    try:
        colony = Colony(s)
        c = colony.client
        with pytest.raises(Exception, match="too many channels"):
            c.submit_func_spec(chan_spec(colony, ("a", "b", "c")), colony.user_prv)
        p = running(colony, ("a", "b"))
        for i in range(3):
            c.channel_append(p.processid, "a", i, "x", colony.exec_prv)
        with pytest.raises(Exception, match="full"):
            c.channel_append(p.processid, "a", 9, "x", colony.exec_prv)
        # burst of 5 per process, then 429
        status = None
        for i in range(10):
            status, err, payload = s.rpc({"msgtype": "channelappendmsg", "processid": p.processid, "name": "b",
                                          "sequence": i, "payload": [1]}, colony.exec_prv)
            if status != 200:
                break
        assert status == 429 and "rate limit" in payload["message"]
        assert len(c.channel_read(p.processid, "a", 0, 0, colony.user_prv)) == 3
    finally:
        s.kill()


def test_entries_survive_kill9(colony):
    c = colony.client
    p = running(colony)
    for i in range(50):
        c.channel_append(p.processid, "chat", i, f"e{i}", colony.exec_prv if i % 2 else colony.user_prv)
    colony.server.restart_after_kill()
    c = colony.server.client()
    got = c.channel_read(p.processid, "chat", 0, 0, colony.user_prv)
    assert [e["payload"] for e in got] == [f"e{i}".encode() for i in range(50)]
    c.channel_append(p.processid, "chat", 50, "after", colony.exec_prv)
    assert c.channel_read(p.processid, "chat", 50, 0, colony.user_prv)[0]["payload"] == b"after"
