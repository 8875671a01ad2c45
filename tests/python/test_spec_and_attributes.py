"""Fidelity with upstream where real clients noticed (issue 12, defects 3 and 4):
`args: null` / `kwargs: null` come back as `[]` / `{}` on every path that returns a spec, and an
attribute's `state` follows its process through every transition."""
import threading
import time

from harness import COLONY_PRVKEY

WAITING, RUNNING, SUCCESS, FAILED, CANCELLED = 0, 1, 2, 3, 4


def go_spec(func="echo", **extra):
    """A spec as upstream's Go client sends it when the spec file has no args/kwargs."""
    s = {"nodename": func, "funcname": func, "args": None, "kwargs": None, "priority": 0,
         "maxwaittime": 0, "maxexectime": 0, "maxretries": 0,
         "conditions": {"colonyname": "dev", "executornames": None, "executortype": "cli",
                        "dependencies": None, "nodes": 0, "cpu": "", "processes": 0,
                        "processespernode": 0, "mem": "", "storage": "",
                        "gpu": {"name": "", "mem": "", "count": 0, "nodecount": 0}, "walltime": 0},
         "label": "", "fs": {"mount": "", "snapshots": None, "dirs": None}, "env": None,
         "channels": None}
    s.update(extra)
    return s


def rpc_ok(colony, msg, prv):
    status, err, payload = colony.server.rpc(msg, prv)
    assert status == 200 and not err, payload
    return payload


def assert_normalized(spec):
    assert spec["args"] == [] and spec["kwargs"] == {}, spec


def test_null_args_and_kwargs_come_back_empty_everywhere(colony):
    c = colony.client
    submitted = rpc_ok(colony, {"msgtype": "submitfuncspecmsg", "spec": go_spec()}, colony.user_prv)
    assert_normalized(submitted["spec"])
    pid = submitted["processid"]
    assert_normalized(rpc_ok(colony, {"msgtype": "getprocessmsg", "processid": pid}, colony.user_prv)["spec"])
    listed = rpc_ok(colony, {"msgtype": "getprocessesmsg", "colonyname": "dev", "count": 10, "state": WAITING},
                    colony.user_prv)
    assert_normalized(listed[0]["spec"])

    # a pycolonies executor takes it (its model refused null args before) and runs it to the end
    a = c.assign("dev", 5, colony.exec_prv)
    assert a.processid == pid and a.spec.args == [] and a.spec.kwargs == {}
    c.close(pid, ["ok"], colony.exec_prv)
    assert c.get_process(pid, colony.user_prv).state == SUCCESS

    # a process-state subscription (pycolonies wait) sees the same
    p2 = rpc_ok(colony, {"msgtype": "submitfuncspecmsg", "spec": go_spec()}, colony.user_prv)

    def run():
        time.sleep(0.3)
        c.close(c.assign("dev", 5, colony.exec_prv).processid, [], colony.exec_prv)

    t = threading.Thread(target=run)
    t.start()
    done = c.wait(c.get_process(p2["processid"], colony.user_prv), 10, colony.user_prv)
    t.join()
    assert done.state == SUCCESS and done.spec.args == [] and done.spec.kwargs == {}

    # workflow members: in the graph's processes and in the assign reply
    wf = {"colonyname": "dev", "functionspecs": [go_spec("a"), dict(go_spec("b"), conditions=dict(
        go_spec()["conditions"], dependencies=["a"]))]}
    g = rpc_ok(colony, {"msgtype": "submitworkflowspecmsg", "spec": wf}, colony.user_prv)
    a = c.assign("dev", 5, colony.exec_prv)
    assert a.spec.args == [] and a.spec.kwargs == {}
    c.close(a.processid, [], colony.exec_prv)
    b = c.assign("dev", 5, colony.exec_prv)
    assert b.spec.nodename == "b" and b.spec.args == []
    c.close(b.processid, [], colony.exec_prv)
    for pid in c.get_processgraph(g["processgraphid"], colony.user_prv).processids:
        assert_normalized(rpc_ok(colony, {"msgtype": "getprocessmsg", "processid": pid}, colony.user_prv)["spec"])

    # args that were sent stay as sent
    p3 = rpc_ok(colony, {"msgtype": "submitfuncspecmsg", "spec": go_spec(args=["x", 2], kwargs={"k": 1})},
                colony.user_prv)
    assert p3["spec"]["args"] == ["x", 2] and p3["spec"]["kwargs"] == {"k": 1}


def attribute_states(colony, pid):
    p = rpc_ok(colony, {"msgtype": "getprocessmsg", "processid": pid}, colony.user_prv)
    return [a["state"] for a in p["attributes"]]


def get_attribute_state(colony, aid):
    return rpc_ok(colony, {"msgtype": "getattributemsg", "attributeid": aid}, colony.user_prv)["state"]


def test_attribute_state_follows_its_process(colony):
    c = colony.client
    # success: 0 while waiting, 1 running, 2 after close
    p = rpc_ok(colony, {"msgtype": "submitfuncspecmsg", "spec": go_spec(env={"A": "1"})}, colony.user_prv)
    assert attribute_states(colony, p["processid"]) == [WAITING]
    a = c.assign("dev", 5, colony.exec_prv)
    assert attribute_states(colony, a.processid) == [RUNNING]
    attr = c.add_attribute(a.processid, "progress", "50%", colony.exec_prv)
    c.close(a.processid, [], colony.exec_prv)
    assert attribute_states(colony, a.processid) == [SUCCESS, SUCCESS]
    assert get_attribute_state(colony, attr["attributeid"]) == SUCCESS

    # failure: 3
    p = rpc_ok(colony, {"msgtype": "submitfuncspecmsg", "spec": go_spec(env={"A": "1"})}, colony.user_prv)
    c.fail(c.assign("dev", 5, colony.exec_prv).processid, ["boom"], colony.exec_prv)
    assert attribute_states(colony, p["processid"]) == [FAILED]

    # cancel: 4
    p = rpc_ok(colony, {"msgtype": "submitfuncspecmsg", "spec": go_spec(env={"A": "1"})}, colony.user_prv)
    rpc_ok(colony, {"msgtype": "cancelprocessmsg", "processid": p["processid"]}, colony.user_prv)
    assert attribute_states(colony, p["processid"]) == [CANCELLED]

    # back to waiting when its executor is removed: 0
    p = rpc_ok(colony, {"msgtype": "submitfuncspecmsg", "spec": go_spec(env={"A": "1"})}, colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    assert attribute_states(colony, p["processid"]) == [RUNNING]
    c.remove_executor("dev", "worker-1", COLONY_PRVKEY)
    assert attribute_states(colony, p["processid"]) == [WAITING]


def test_attribute_state_follows_a_workflow_failure_cascade(colony):
    c = colony.client
    wf = {"colonyname": "dev", "functionspecs": [
        go_spec("a", env={"A": "1"}),
        go_spec("c", env={"C": "1"}),
        dict(go_spec("b", env={"B": "1"}), conditions=dict(go_spec()["conditions"], dependencies=["a"])),
    ]}
    g = rpc_ok(colony, {"msgtype": "submitworkflowspecmsg", "spec": wf}, colony.user_prv)
    first = c.assign("dev", 5, colony.exec_prv)
    second = c.assign("dev", 5, colony.exec_prv)
    failing = first if first.spec.nodename == "a" else second
    other = second if failing is first else first
    assert {failing.spec.nodename, other.spec.nodename} == {"a", "c"}
    c.fail(failing.processid, ["boom"], colony.exec_prv)
    members = {}
    for pid in c.get_processgraph(g["processgraphid"], colony.user_prv).processids:
        p = rpc_ok(colony, {"msgtype": "getprocessmsg", "processid": pid}, colony.user_prv)
        members[p["spec"]["nodename"]] = (p["state"], [a["state"] for a in p["attributes"]])
    # the running sibling and the waiting child were failed by the cascade, attributes too
    assert members == {"a": (FAILED, [FAILED]), "b": (FAILED, [FAILED]), "c": (FAILED, [FAILED])}
