"""End-to-end tests of the core issue with unmodified pycolonies 1.0.25 against a real colonyd."""
import base64
import json
import socket
import threading
import time

import pytest
from pycolonies import func_spec

from conftest import Colony
from harness import COLONY_PRVKEY, SERVER_PRVKEY, new_key

WAITING, RUNNING, SUCCESS, FAILED, CANCELLED = 0, 1, 2, 3, 4


def spec(colony, func="echo", args=None, **kw):
    return func_spec(func, args or ["hi"], colony.name, colony.executortype, **kw)


def test_bootstrap_and_listings(colony):
    c = colony.client
    colonies = c.list_colonies(SERVER_PRVKEY)
    assert [x["name"] for x in colonies] == ["dev"]
    assert c.get_colony("dev", colony.exec_prv)["colonyid"] == colony.colony_id
    execs = c.list_executors("dev", colony.exec_prv)
    assert [(e["executorname"], e["state"]) for e in execs] == [("worker-1", 1)]
    e = c.get_executor("dev", "worker-1", colony.user_prv)
    assert e["executorid"] == colony.exec_id
    assert e["commissiontime"].endswith("Z")
    users = c.get_users("dev", colony.exec_prv)
    assert [u["name"] for u in users] == ["alice"]
    # empty lists are [], never null
    assert c.list_processes("dev", 10, WAITING, colony.exec_prv) == []


def test_tutorial_flow_submit_assign_close(colony):
    c = colony.client
    p = c.submit_func_spec(spec(colony, "echo", ["hello"]), colony.user_prv)
    assert p.state == WAITING
    assert p.initiatorid == colony.user_id
    assert p.initiatorname == "alice"
    assert p.spec.conditions.colonyname == "dev"
    assert p.spec.conditions.cpu == "0m" and p.spec.conditions.mem == "0Mi"
    assert [x["processid"] for x in c.list_processes("dev", 10, WAITING, colony.user_prv)] == [p.processid]

    a = c.assign("dev", 5, colony.exec_prv)
    assert a.processid == p.processid
    assert a.state == RUNNING and a.isassigned and a.assignedexecutorid == colony.exec_id
    c.add_log(a.processid, "working on it", colony.exec_prv)
    c.set_output(a.processid, ["partial"], colony.exec_prv)
    c.close(a.processid, ["hello world"], colony.exec_prv)

    done = c.get_process(p.processid, colony.user_prv)
    assert done.state == SUCCESS
    assert done.output == ["hello world"]
    assert done.endtime >= done.starttime >= done.submissiontime
    logs = c.get_process_log("dev", p.processid, 100, 0, colony.user_prv)
    assert [(l["message"], l["executorname"]) for l in logs] == [("working on it", "worker-1")]
    stats = c.stats("dev", colony.user_prv)
    assert stats["successfulprocesses"] == 1 and stats["waitingprocesses"] == 0
    assert stats["executors"] == 1 and stats["activeexecutors"] == 1


def test_submit_as_executor_and_fail_with_errors(colony):
    c = colony.client
    p = c.submit_func_spec(spec(colony), colony.exec_prv)
    assert p.initiatorname == "worker-1"
    a = c.assign("dev", 5, colony.exec_prv)
    c.fail(a.processid, ["boom", "second error"], colony.exec_prv)
    f = c.get_process(p.processid, colony.exec_prv)
    assert f.state == FAILED and f.errors == ["boom", "second error"]
    # a failed process cannot be closed as successful
    with pytest.raises(Exception, match="failed"):
        c.close(p.processid, [], colony.exec_prv)
    assert c.stats("dev", colony.exec_prv)["failedprocesses"] == 1


def test_assign_timeout_is_404_no_process(colony):
    t0 = time.time()
    with pytest.raises(Exception, match="No process available for assignment"):
        colony.client.assign("dev", 1, colony.exec_prv)
    assert time.time() - t0 >= 0.9


def test_assign_long_poll_wakes_on_submit(colony):
    c = colony.client
    got = {}

    def worker():
        got["p"] = c.assign("dev", 30, colony.exec_prv)
        got["t"] = time.time()

    th = threading.Thread(target=worker)
    th.start()
    time.sleep(0.5)
    p = c.submit_func_spec(spec(colony), colony.user_prv)
    t_submit = time.time()
    th.join(timeout=30)
    assert not th.is_alive()
    assert got["p"].processid == p.processid
    # woken by the submit, not by the 30 s timeout (generous bound)
    assert got["t"] - t_submit < 10


def test_two_executors_never_get_the_same_process(colony):
    c = colony.client
    prv2, _ = colony.add_executor("worker-2")
    p = c.submit_func_spec(spec(colony), colony.user_prv)
    results = []

    def worker(prv):
        try:
            results.append(c.assign("dev", 2, prv).processid)
        except Exception as e:  # the loser times out
            results.append(str(e))

    ths = [threading.Thread(target=worker, args=(k,)) for k in (colony.exec_prv, prv2)]
    [t.start() for t in ths]
    [t.join(timeout=30) for t in ths]
    assert results.count(p.processid) == 1
    assert any("No process available" in r for r in results)


def test_priority_then_fifo(colony):
    c = colony.client
    low1 = c.submit_func_spec(spec(colony, priority=0), colony.user_prv)
    low2 = c.submit_func_spec(spec(colony, priority=0), colony.user_prv)
    high = c.submit_func_spec(spec(colony, priority=5), colony.user_prv)
    order = [c.assign("dev", 2, colony.exec_prv).processid for _ in range(3)]
    assert order == [high.processid, low1.processid, low2.processid]


def test_executor_names_and_type_matching(colony):
    c = colony.client
    prv2, _ = colony.add_executor("worker-2")
    s = spec(colony, executorname="worker-2")
    p = c.submit_func_spec(s, colony.user_prv)
    with pytest.raises(Exception, match="No process available"):
        c.assign("dev", -1, colony.exec_prv)
    assert c.assign("dev", 2, prv2).processid == p.processid
    other = func_spec("x", [], "dev", "gpu-type")
    c.submit_func_spec(other, colony.user_prv)
    with pytest.raises(Exception, match="No process available"):
        c.assign("dev", -1, colony.exec_prv)


def test_maxwaittime_expiry(colony):
    c = colony.client
    s = func_spec("nobody", [], "dev", "no-such-executor-type", maxwaittime=1)
    p = c.submit_func_spec(s, colony.user_prv)
    deadline = time.time() + 20
    while time.time() < deadline:
        q = c.get_process(p.processid, colony.user_prv)
        if q.state == FAILED:
            break
        time.sleep(0.2)
    assert q.state == FAILED
    assert q.errors == ["Maximum waiting time limit exceeded"]


def test_maxexectime_expiry_retries_then_fails(colony):
    c = colony.client
    s = spec(colony, maxexectime=1, maxretries=1)
    p = c.submit_func_spec(s, colony.user_prv)
    a = c.assign("dev", 5, colony.exec_prv)
    # first expiry: back to waiting with retries 1, the old executor may no longer close it
    a2 = c.assign("dev", 20, colony.exec_prv)
    assert a2.processid == a.processid
    assert a2.retries == 1
    deadline = time.time() + 20
    while time.time() < deadline:
        q = c.get_process(p.processid, colony.user_prv)
        if q.state == FAILED:
            break
        time.sleep(0.2)
    assert q.state == FAILED
    assert q.errors == ["Maximum execution time limit exceeded"]


def test_maxexectime_zero_means_no_deadline(colony):
    """decisions.md: maxexectime 0 is no deadline (upstream expires it after ~1 s)."""
    c = colony.client
    s = spec(colony, maxexectime=0)
    p = c.submit_func_spec(s, colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    time.sleep(2.5)
    assert c.get_process(p.processid, colony.user_prv).state == RUNNING


def test_authorization_refusals(colony):
    c = colony.client
    stranger_prv, _ = new_key()
    with pytest.raises(Exception, match="not server owner"):
        c.add_colony({"colonyid": "a" * 64, "name": "x"}, COLONY_PRVKEY)
    with pytest.raises(Exception, match="not colony owner"):
        c.add_executor({"executorid": "b" * 64, "executortype": "cli", "executorname": "evil",
                        "colonyname": "dev"}, stranger_prv)
    p = c.submit_func_spec(spec(colony), colony.user_prv)
    with pytest.raises(Exception, match="not a member"):
        c.get_process(p.processid, stranger_prv)
    with pytest.raises(Exception, match="not a member"):
        c.submit_func_spec(spec(colony), stranger_prv)
    # a pending executor is not an approved member
    pending_prv, _ = colony.add_executor("pending", approve=False)
    with pytest.raises(Exception):
        c.assign("dev", -1, pending_prv)
    # the colony owner is not a member (spec §3)
    with pytest.raises(Exception, match="not a member"):
        c.submit_func_spec(spec(colony), COLONY_PRVKEY)
    # only the assigned executor may close
    prv2, _ = colony.add_executor("worker-2")
    a = c.assign("dev", 5, colony.exec_prv)
    with pytest.raises(Exception, match="not assigned"):
        c.close(a.processid, [], prv2)
    with pytest.raises(Exception, match="not assigned"):
        c.add_log(a.processid, "x", prv2)
    # stats of a colony you are not in: 403 (decisions.md)
    status, err, payload = colony.server.rpc({"msgtype": "getcolonystatsmsg", "colonyname": "dev"}, stranger_prv)
    assert (status, err, payload["status"]) == (403, True, 403)
    # another colony's member cannot read this colony
    other = Colony(colony.server, name="other")
    with pytest.raises(Exception, match="not a member"):
        c.get_process(p.processid, other.exec_prv)
    with pytest.raises(Exception, match="not a member"):
        c.list_processes("dev", 10, WAITING, other.user_prv)


def test_restart_after_kill9_keeps_acknowledged_state(colony):
    c = colony.client
    done = c.submit_func_spec(spec(colony, "first"), colony.user_prv)
    a = c.assign("dev", 5, colony.exec_prv)
    c.add_log(a.processid, "log line", colony.exec_prv)
    c.close(a.processid, ["out-1"], colony.exec_prv)
    running = c.submit_func_spec(spec(colony, "second"), colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    waiting = c.submit_func_spec(spec(colony, "third", priority=3), colony.user_prv)

    colony.server.restart_after_kill()
    c = colony.server.client()
    assert [x["name"] for x in c.list_colonies(SERVER_PRVKEY)] == ["dev"]
    d = c.get_process(done.processid, colony.user_prv)
    assert d.state == SUCCESS and d.output == ["out-1"]
    assert [l["message"] for l in c.get_process_log("dev", done.processid, 10, 0, colony.user_prv)] == ["log line"]
    assert c.get_process(running.processid, colony.user_prv).state == RUNNING
    assert c.get_process(waiting.processid, colony.user_prv).state == WAITING
    # indexes survived too: the waiting one is assignable, the running one can be closed
    assert c.assign("dev", 5, colony.exec_prv).processid == waiting.processid
    c.close(running.processid, [], colony.exec_prv)
    stats = c.stats("dev", colony.user_prv)
    assert (stats["successfulprocesses"], stats["runningprocesses"]) == (2, 1)


def test_timeouts_fire_after_restart(colony):
    c = colony.client
    s = func_spec("late", [], "dev", "nobody-type", maxwaittime=2)
    p = c.submit_func_spec(s, colony.user_prv)
    colony.server.restart_after_kill()
    c = colony.server.client()
    deadline = time.time() + 20
    while time.time() < deadline and c.get_process(p.processid, colony.user_prv).state != FAILED:
        time.sleep(0.2)
    assert c.get_process(p.processid, colony.user_prv).state == FAILED


def test_logs_count_since_latest_and_executor_logs(colony):
    c = colony.client
    c.submit_func_spec(spec(colony), colony.user_prv)
    a = c.assign("dev", 5, colony.exec_prv)
    for i in range(5):
        c.add_log(a.processid, f"line {i}", colony.exec_prv)
    logs = c.get_process_log("dev", a.processid, 100, 0, colony.user_prv)
    assert [l["message"] for l in logs] == [f"line {i}" for i in range(5)]
    since = c.get_process_log("dev", a.processid, 100, logs[1]["timestamp"], colony.user_prv)
    assert [l["message"] for l in since] == ["line 2", "line 3", "line 4"]
    assert [l["message"] for l in c.get_process_log("dev", a.processid, 2, 0, colony.user_prv)] == ["line 0", "line 1"]
    status, err, latest = colony.server.rpc({"msgtype": "getlogsmsg", "colonyname": "dev", "processid": a.processid,
                                             "executorname": "", "count": 2, "since": 0, "latest": True}, colony.user_prv)
    assert status == 200 and [l["message"] for l in latest] == ["line 3", "line 4"]
    ex = c.get_executor_log("dev", "worker-1", 100, 0, colony.user_prv)
    assert len(ex) == 5
    status, err, payload = colony.server.rpc({"msgtype": "getlogsmsg", "colonyname": "dev", "processid": a.processid,
                                              "count": 501, "since": 0}, colony.user_prv)
    assert status == 403 and err
    status, err, found = colony.server.rpc({"msgtype": "searchlogsmsg", "colonyname": "dev", "text": "line 3",
                                            "days": 1, "count": 10}, colony.user_prv)
    assert status == 200 and [l["message"] for l in found] == ["line 3"]


def test_remove_process_and_executor_and_colony(colony):
    c = colony.client
    p = c.submit_func_spec(spec(colony), colony.user_prv)
    c.remove_process(p.processid, colony.user_prv)
    with pytest.raises(Exception, match="not found"):
        c.get_process(p.processid, colony.user_prv)
    for _ in range(3):
        c.submit_func_spec(spec(colony), colony.user_prv)
    c.remove_all_processes("dev", COLONY_PRVKEY)
    assert c.list_processes("dev", 100, WAITING, colony.user_prv) == []
    c.remove_executor("dev", "worker-1", COLONY_PRVKEY)
    assert [(e["executorname"], e["state"]) for e in c.list_executors("dev", colony.user_prv)] == [("worker-1", 3)]
    c.remove_user("dev", "alice", COLONY_PRVKEY)
    c.del_colony("dev", SERVER_PRVKEY)
    assert c.list_colonies(SERVER_PRVKEY) == []


def test_attributes_and_functions(colony):
    c = colony.client
    p = c.submit_func_spec(func_spec("echo", [], "dev", "cli", kwargs=None), colony.user_prv)
    a = c.assign("dev", 5, colony.exec_prv)
    attr = c.add_attribute(a.processid, "progress", "50%", colony.exec_prv)
    got = c.get_attribute(attr["attributeid"], colony.user_prv)
    assert (got["key"], got["value"]) == ("progress", "50%")
    f = c.add_function("dev", "worker-1", "echo", colony.exec_prv)
    assert f["funcname"] == "echo"
    c.close(a.processid, [], colony.exec_prv)
    funcs = c.get_functions_by_executor("dev", "worker-1", colony.user_prv)
    assert [x["funcname"] for x in funcs] == ["echo"] and funcs[0]["counter"] == 1
    assert c.get_process(p.processid, colony.user_prv).state == SUCCESS


def test_cancel_and_pause(colony):
    server = colony.server
    c = colony.client
    p = c.submit_func_spec(spec(colony), colony.user_prv)
    status, err, _ = server.rpc({"msgtype": "cancelprocessmsg", "processid": p.processid}, colony.user_prv)
    assert status == 200
    assert c.get_process(p.processid, colony.user_prv).state == CANCELLED
    status, err, _ = server.rpc({"msgtype": "pauseassignmentsmsg", "colonyname": "dev"}, COLONY_PRVKEY)
    assert status == 200
    c.submit_func_spec(spec(colony), colony.user_prv)
    status, err, payload = server.rpc({"msgtype": "assignprocessmsg", "colonyname": "dev", "timeout": 1}, colony.exec_prv)
    assert status == 408 and err
    status, _, payload = server.rpc({"msgtype": "getpausestatusmsg", "colonyname": "dev"}, colony.exec_prv)
    assert payload["ispaused"] is True
    server.rpc({"msgtype": "resumeassignmentsmsg", "colonyname": "dev"}, COLONY_PRVKEY)
    assert c.assign("dev", 5, colony.exec_prv).state == RUNNING


def test_version_and_server_info_unsigned(server):
    status, body = server.raw(json.dumps({"payloadtype": "versionmsg", "signature": "",
                                          "payload": base64.b64encode(b'{"msgtype":"versionmsg"}').decode()}).encode())
    assert status == 200
    reply = json.loads(body)
    assert json.loads(base64.b64decode(reply["payload"]))["msgtype"] == "versionmsg"
    status, body = server.raw(json.dumps({"payloadtype": "getserverinfomsg", "signature": "", "payload": ""}).encode())
    info = json.loads(base64.b64decode(json.loads(body)["payload"]))
    assert status == 200 and info["backends"][0]["port"] == server.port


def test_long_poll_client_that_leaves_does_not_swallow_a_process(colony):
    """decisions.md: an assign whose reply cannot be delivered is rolled back."""
    server = colony.server
    payload = base64.b64encode(json.dumps({"msgtype": "assignprocessmsg", "colonyname": "dev", "timeout": 20}).encode()).decode()
    from crypto import Crypto
    env = json.dumps({"payloadtype": "assignprocessmsg", "payload": payload,
                      "signature": Crypto().sign(payload, colony.exec_prv)}).encode()
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(env) + env)
    time.sleep(0.5)
    s.close()  # the executor gives up while long-polling
    time.sleep(0.5)
    p = colony.client.submit_func_spec(spec(colony), colony.user_prv)
    time.sleep(0.5)
    q = colony.client.get_process(p.processid, colony.user_prv)
    assert q.state == WAITING, "the departed client must not have been assigned the process"
    assert colony.client.assign("dev", 5, colony.exec_prv).processid == p.processid


def test_graceful_stop_exits_zero(server):
    assert server.stop() == 0


def test_executor_updates_its_own_capabilities_only(colony):
    server = colony.server
    caps = {"hardware": [{"model": "pi5", "cores": 4}], "software": None}
    status, err, _ = server.rpc({"msgtype": "updateexecutormsg", "colonyname": "dev", "executorname": "worker-1",
                                 "capabilities": caps}, colony.exec_prv)
    assert status == 200
    e = colony.client.get_executor("dev", "worker-1", colony.user_prv)
    assert e["capabilities"]["hardware"][0]["model"] == "pi5"
    prv2, _ = colony.add_executor("worker-2")
    status, err, payload = server.rpc({"msgtype": "updateexecutormsg", "colonyname": "dev",
                                       "executorname": "worker-1", "capabilities": {}}, prv2)
    assert status == 403 and "not executor worker-1" in payload["message"]
