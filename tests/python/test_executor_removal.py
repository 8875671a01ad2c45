"""Removing an executor, as upstream does it (issue 12, defects 1 and 2): the record is kept as
UNREGISTERED (state 3), its functions go, and every process it was running goes back to WAITING
for another executor, in the same atomic write. Driven with unmodified pycolonies and with the
JSON upstream's Go client sends."""
import threading
import time

import pytest
from pycolonies import func_spec

from conftest import Colony
from harness import COLONY_PRVKEY, Colonyd, read_channel

WAITING, RUNNING, SUCCESS, FAILED = 0, 1, 2, 3
UNREGISTERED = 3
ZERO_TIME = "0001-01-01T00:00:00Z"


def get_raw(colony, pid, prv=None):
    status, err, p = colony.server.rpc({"msgtype": "getprocessmsg", "processid": pid},
                                       prv or colony.user_prv)
    assert status == 200 and not err, p
    return p


def test_running_process_is_requeued_and_another_executor_takes_it(colony):
    c = colony.client
    p = c.submit_func_spec(func_spec("echo", ["hi"], "dev", "cli", maxretries=3), colony.user_prv)
    a = c.assign("dev", 5, colony.exec_prv)
    assert a.processid == p.processid
    prv2, id2 = colony.add_executor("worker-2")

    # worker-2 is already long-polling when worker-1 is removed: the requeue must wake it
    got = {}

    def poll():
        t0 = time.time()
        got["p"] = c.assign("dev", 20, prv2)
        got["after"] = time.time() - t0

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    c.remove_executor("dev", "worker-1", COLONY_PRVKEY)
    t.join(30)
    assert not t.is_alive()
    assert got["p"].processid == p.processid and got["after"] < 15
    assert got["p"].assignedexecutorid == id2

    # what the requeue left: waiting, unassigned, retries unchanged, times cleared (seen through
    # a second removal that requeues it again)
    c.remove_executor("dev", "worker-2", COLONY_PRVKEY)
    q = get_raw(colony, p.processid)
    assert q["state"] == WAITING and not q["isassigned"] and q["assignedexecutorid"] == ""
    assert q["retries"] == 0
    assert q["starttime"] == ZERO_TIME and q["endtime"] == ZERO_TIME
    assert q["execdeadline"] == ZERO_TIME
    assert [x["processid"] for x in c.list_processes("dev", 10, WAITING, colony.user_prv)] == [p.processid]
    assert c.list_processes("dev", 10, RUNNING, colony.user_prv) == []

    # the removed executors can no longer close it; a new one can run it to the end
    with pytest.raises(Exception, match="not a member"):
        c.close(p.processid, ["late"], colony.exec_prv)
    prv3, _ = colony.add_executor("worker-3")
    a3 = c.assign("dev", 5, prv3)
    assert a3.processid == p.processid
    c.close(p.processid, ["done"], prv3)
    assert c.get_process(p.processid, colony.user_prv).state == SUCCESS


def test_removed_executor_is_kept_as_unregistered(colony):
    c = colony.client
    c.add_function("dev", "worker-1", "echo", colony.exec_prv)
    assert len(c.get_functions_by_executor("dev", "worker-1", colony.user_prv)) == 1
    c.remove_executor("dev", "worker-1", COLONY_PRVKEY)

    listed = c.list_executors("dev", colony.user_prv)
    assert [(e["executorname"], e["state"]) for e in listed] == [("worker-1", UNREGISTERED)]
    status, err, e = colony.server.rpc({"msgtype": "getexecutorbyidmsg", "colonyname": "dev",
                                        "executorid": colony.exec_id}, colony.user_prv)
    assert status == 200 and e["executorname"] == "worker-1" and e["state"] == UNREGISTERED
    stats = c.stats("dev", colony.user_prv)
    assert stats["executors"] == 1 and stats["activeexecutors"] == 0
    assert stats["unregisteredexecutors"] == 1
    assert c.get_functions_by_executor("dev", "worker-1", colony.user_prv) in ([], None)

    # mere membership still passes (getexecutors), approval does not (assign, submit, logs)
    assert len(c.list_executors("dev", colony.exec_prv)) == 1
    for call in (lambda: c.assign("dev", 1, colony.exec_prv),
                 lambda: c.submit_func_spec(func_spec("echo", [], "dev", "cli"), colony.exec_prv),
                 lambda: c.get_colony("dev", colony.exec_prv)):
        with pytest.raises(Exception, match="not a member"):
            call()

    # removing it again changes nothing; an unknown name is upstream's 500
    c.remove_executor("dev", "worker-1", COLONY_PRVKEY)
    status, err, body = colony.server.rpc({"msgtype": "removeexecutormsg", "colonyname": "dev",
                                           "executorname": "nobody"}, COLONY_PRVKEY)
    assert (status, err, body["message"]) == (500, True, "Failed to remove executor, executor is nil")


def test_re_adding_a_removed_executor(tmp_path):
    # default: the name stays taken, with upstream's text
    s = Colonyd(tmp_path / "a").start()
    try:
        col = Colony(s)
        col.client.remove_executor("dev", "worker-1", COLONY_PRVKEY)
        status, err, body = s.rpc({"msgtype": "addexecutormsg", "executor": {
            "executorid": col.exec_id, "executortype": "cli", "executorname": "worker-1",
            "colonyname": "dev"}}, COLONY_PRVKEY)
        assert (status, body["message"]) == (400, "Executor with name <worker-1> in Colony <dev> already exists")
        # the kept record does not hold on to its ID: a new name may take it
        status, err, e = s.rpc({"msgtype": "addexecutormsg", "executor": {
            "executorid": col.exec_id, "executortype": "cli", "executorname": "worker-1b",
            "colonyname": "dev"}}, COLONY_PRVKEY)
        assert status == 200 and e["state"] == 0
        col.client.approve_executor("dev", "worker-1b", COLONY_PRVKEY)
        col.client.submit_func_spec(func_spec("echo", [], "dev", "cli"), col.user_prv)
        assert col.client.assign("dev", 5, col.exec_prv).assignedexecutorid == col.exec_id
        names = sorted((e["executorname"], e["state"]) for e in col.client.list_executors("dev", col.user_prv))
        assert names == [("worker-1", UNREGISTERED), ("worker-1b", 1)]
    finally:
        s.kill()

    # COLONIES_ALLOW_EXECUTOR_REREGISTER=true: the kept record is reactivated as PENDING
    s = Colonyd(tmp_path / "b", env={"COLONIES_ALLOW_EXECUTOR_REREGISTER": "true"}).start()
    try:
        col = Colony(s)
        p = col.client.submit_func_spec(func_spec("echo", [], "dev", "cli"), col.user_prv)
        col.client.assign("dev", 5, col.exec_prv)
        col.client.remove_executor("dev", "worker-1", COLONY_PRVKEY)
        for executorid in (col.exec_id, col.exec_id):  # same ID twice: also re-register a live one
            status, err, e = s.rpc({"msgtype": "addexecutormsg", "executor": {
                "executorid": executorid, "executortype": "cli", "executorname": "worker-1",
                "colonyname": "dev"}}, COLONY_PRVKEY)
            assert status == 200 and e["state"] == 0, e
        listed = col.client.list_executors("dev", col.user_prv)
        assert [(e["executorname"], e["state"]) for e in listed] == [("worker-1", 0)]
        col.client.approve_executor("dev", "worker-1", COLONY_PRVKEY)
        a = col.client.assign("dev", 5, col.exec_prv)
        assert a.processid == p.processid
    finally:
        s.kill()


def test_running_workflow_member_is_requeued_and_the_workflow_completes(colony):
    c = colony.client
    wf = {"colonyname": "dev", "functionspecs": [
        {"nodename": "a", "funcname": "fa", "args": [], "maxexectime": -1, "maxretries": 0,
         "conditions": {"colonyname": "dev", "executortype": "cli", "dependencies": []}},
        {"nodename": "b", "funcname": "fb", "args": [], "maxexectime": -1, "maxretries": 0,
         "conditions": {"colonyname": "dev", "executortype": "cli", "dependencies": ["a"]}},
    ]}
    status, err, g = colony.server.rpc({"msgtype": "submitworkflowspecmsg", "spec": wf}, colony.user_prv)
    assert status == 200, g
    a = c.assign("dev", 5, colony.exec_prv)
    assert a.spec.nodename == "a"
    c.remove_executor("dev", "worker-1", COLONY_PRVKEY)
    graph = c.get_processgraph(g["processgraphid"], colony.user_prv)
    assert graph.state == WAITING
    prv2, _ = colony.add_executor("worker-2")
    a2 = c.assign("dev", 5, prv2)
    assert a2.processid == a.processid
    c.close(a2.processid, ["out-a"], prv2)
    b = c.assign("dev", 5, prv2)
    assert b.spec.nodename == "b" and b.input == ["out-a"]
    c.close(b.processid, [], prv2)
    assert c.get_processgraph(g["processgraphid"], colony.user_prv).state == SUCCESS


def test_channels_stay_usable_after_requeue(colony):
    c = colony.client
    s = func_spec("chat", [], "dev", "cli")
    s.channels = ["chat"]
    p = c.submit_func_spec(s, colony.user_prv)
    a = c.assign("dev", 5, colony.exec_prv)
    c.channel_append(a.processid, "chat", 1, "from worker-1", colony.exec_prv)
    c.remove_executor("dev", "worker-1", COLONY_PRVKEY)
    # the submitter keeps its channel while the process waits
    c.channel_append(p.processid, "chat", 1, "from the submitter", colony.user_prv)
    with pytest.raises(Exception, match="not a member|Not authorized"):
        c.channel_append(p.processid, "chat", 2, "late", colony.exec_prv)
    prv2, _ = colony.add_executor("worker-2")
    a2 = c.assign("dev", 5, prv2)
    assert a2.processid == p.processid
    entries = read_channel(c, p.processid, "chat", prv2)
    assert [e["payload"] for e in entries] == [b"from worker-1", b"from the submitter"]
    c.channel_append(p.processid, "chat", 2, "from worker-2", prv2)
    assert len(read_channel(c, p.processid, "chat", colony.user_prv)) == 3
    c.close(p.processid, [], prv2)
