"""Every error text protocol.md quotes from upstream, exactly, with nothing appended (issue 12,
defect 5): clients and scripts match on these strings. The angle brackets are literal, as
upstream sends them. Each case is (status, message) of the reply to a real request."""
import base64
import json

from pycolonies import func_spec

from harness import COLONY_PRVKEY, SERVER_PRVKEY, Colonyd, new_key
from conftest import Colony


def expect(colony, msg, prv, status, text):
    got_status, err, body = colony.server.rpc(msg, prv)
    assert err, body
    assert (got_status, body) == (status, {"status": status, "message": text})


def node(name, deps=(), nodename=None):
    return {"nodename": name if nodename is None else nodename, "funcname": "f", "args": [],
            "maxexectime": -1, "conditions": {"colonyname": "dev", "executortype": "cli",
                                              "dependencies": list(deps)}}


def test_registry_texts(colony):
    stranger, _ = new_key()
    expect(colony, {"msgtype": "getcoloniesmsg"}, colony.user_prv, 403, "Access denied, not server owner")
    expect(colony, {"msgtype": "addcolonymsg", "colony": {"colonyid": new_key()[1], "name": "dev"}},
           SERVER_PRVKEY, 400, "A Colony with name <dev> already exists")
    expect(colony, {"msgtype": "removecolonymsg", "colonyname": "nope"}, SERVER_PRVKEY, 400,
           "Colony with name <nope> not found")
    new_exec = {"executorid": new_key()[1], "executortype": "cli", "executorname": "x"}
    expect(colony, {"msgtype": "addexecutormsg", "executor": dict(new_exec, colonyname="nope")},
           COLONY_PRVKEY, 403, "Colony with name <nope> does not exists")
    expect(colony, {"msgtype": "addexecutormsg", "executor": dict(new_exec, colonyname="")},
           COLONY_PRVKEY, 403, "Empty Colony name")
    expect(colony, {"msgtype": "addexecutormsg", "executor": dict(new_exec, colonyname="dev")},
           colony.user_prv, 403, "Access denied, not colony owner")
    expect(colony, {"msgtype": "getcolonymsg", "colonyname": "dev"}, stranger, 403,
           "Access denied, not a member of Colony with name <dev>")
    expect(colony, {"msgtype": "getcolonymsg", "colonyname": "nope"}, stranger, 403,
           "Colony with name <nope> does not exists")
    expect(colony, {"msgtype": "addexecutormsg", "executor": dict(
        new_exec, executorname="worker-1", colonyname="dev")}, COLONY_PRVKEY, 400,
        "Executor with name <worker-1> in Colony <dev> already exists")
    expect(colony, {"msgtype": "approveexecutormsg", "colonyname": "dev", "executorname": "nobody"},
           COLONY_PRVKEY, 500, "Failed to approve executor, executor is nil")
    expect(colony, {"msgtype": "getexecutormsg", "colonyname": "dev", "executorname": "nobody"},
           colony.user_prv, 500, "Failed to get executor, executor is nil")
    expect(colony, {"msgtype": "removeusermsg", "colonyname": "dev", "name": "nobody"},
           COLONY_PRVKEY, 400, "User with name <nobody> not found")


def test_process_texts(colony):
    c = colony.client
    expect(colony, {"msgtype": "getprocessmsg", "processid": "0" * 64}, colony.user_prv, 404,
           "Failed to get process, process not found")
    expect(colony, {"msgtype": "getprocessesmsg", "colonyname": "dev", "count": 10, "state": 7},
           colony.user_prv, 400, "Failed to get processes, invalid msg.State")
    expect(colony, {"msgtype": "getprocessesmsg", "colonyname": "dev", "count": 10, "state": 0,
                    "initiator": "nobody"}, colony.user_prv, 400, "User <nobody> does not exist")
    expect(colony, {"msgtype": "removeallprocessesmsg", "colonyname": "dev", "state": 1},
           COLONY_PRVKEY, 400, "Not possible to remove running processes")
    expect(colony, {"msgtype": "assignprocessmsg", "colonyname": "dev", "timeout": 0},
           colony.exec_prv, 400, "Invalid timeout value, timeout cannot be zero")
    expect(colony, {"msgtype": "assignprocessmsg", "colonyname": "dev", "timeout": -1},
           colony.exec_prv, 404, "No process available for assignment")

    # closing in the wrong state
    c.submit_func_spec(func_spec("f", [], "dev", "cli"), colony.user_prv)
    failed = c.assign("dev", 5, colony.exec_prv)
    c.fail(failed.processid, ["x"], colony.exec_prv)
    expect(colony, {"msgtype": "closesuccessfulmsg", "processid": failed.processid, "out": []},
           colony.exec_prv, 400, "Tried to set failed process as successful")
    expect(colony, {"msgtype": "closefailedmsg", "processid": failed.processid, "errors": []},
           colony.exec_prv, 400, "Tried to set failed process as failed")
    c.submit_func_spec(func_spec("f", [], "dev", "cli"), colony.user_prv)
    ok = c.assign("dev", 5, colony.exec_prv)
    c.close(ok.processid, [], colony.exec_prv)
    expect(colony, {"msgtype": "closefailedmsg", "processid": ok.processid, "errors": []},
           colony.exec_prv, 400, "Tried to set successful process as failed")

    # workflows (upstream answers these with 500)
    def wf(*nodes):
        return {"msgtype": "submitworkflowspecmsg", "spec": {"colonyname": "dev", "functionspecs": list(nodes)}}
    expect(colony, wf(node("a", nodename="")), colony.user_prv, 500,
           "Nodename is missing, check function spec for errors")
    expect(colony, wf(node("a"), node("a")), colony.user_prv, 500, "Duplicate nodename: a")
    expect(colony, wf(node("a", deps=["ghost"])), colony.user_prv, 500,
           "Failed to submit workflow, invalid dependencies, are you depending on a nodename that does not exits?")
    expect(colony, {"msgtype": "getprocessgraphmsg", "processgraphid": "0" * 64}, colony.user_prv, 500,
           "Failed to get processgraph, graph is nil")


def test_channel_texts(tmp_path):
    s = Colonyd(tmp_path, extra_args=["--max-payload", "16", "--max-channels", "2",
                                      "--channel-max-entries", "2", "--channel-rate", "1"]).start()
    try:
        colony = Colony(s)
        c = colony.client

        def append(pid, name, payload, prv, seq=1):
            return {"msgtype": "channelappendmsg", "processid": pid, "name": name, "sequence": seq,
                    "payload": base64.b64encode(payload).decode(), "payloadtype": ""}

        three = dict(node("f"), channels=["a", "b", "c"])
        expect(colony, {"msgtype": "submitfuncspecmsg", "spec": three}, colony.user_prv, 400,
               "process has too many channels")
        p = s.rpc({"msgtype": "submitfuncspecmsg", "spec": dict(node("f"), channels=["chat"])},
                  colony.user_prv)[2]
        c.assign("dev", 5, colony.exec_prv)
        pid = p["processid"]
        expect(colony, append("0" * 64, "chat", b"x", colony.user_prv), colony.user_prv, 404, "Process not found")
        expect(colony, append(pid, "nope", b"x", colony.user_prv), colony.user_prv, 404, "Channel not found")
        expect(colony, append(pid, "chat", b"x" * 17, colony.user_prv), colony.user_prv, 413,
               "message payload exceeds maximum size")
        other_prv, _ = colony.add_executor("worker-2")
        expect(colony, append(pid, "chat", b"x", other_prv), other_prv, 403, "Not authorized to write to channel")
        expect(colony, {"msgtype": "channelreadmsg", "processid": pid, "name": "chat", "afterseq": 0,
                        "limit": 10}, other_prv, 403, "Not authorized to read from channel")
        # two entries fit; then "full" until the burst of 5 appends is spent, then "rate limit"
        seen = []
        for seq in range(1, 21):
            status, err, body = s.rpc(append(pid, "chat", b"x", colony.user_prv, seq=seq), colony.user_prv)
            seen.append((status, body.get("message")))
            if status == 429:
                break
        assert seen[:2] == [(200, None), (200, None)]
        assert (507, "channel log is full") in seen
        assert seen[-1] == (429, "rate limit exceeded")
        assert set(seen[2:-1]) == {(507, "channel log is full")}
    finally:
        s.kill()


def test_signature_length_text(colony):
    payload = base64.b64encode(json.dumps({"msgtype": "getcoloniesmsg"}).encode()).decode()
    status, body = colony.server.raw(json.dumps({"payloadtype": "getcoloniesmsg", "payload": payload,
                                                 "signature": "abcd"}).encode())
    reply = json.loads(body)
    assert status == 403 and reply["error"]
    assert json.loads(base64.b64decode(reply["payload"])) == {"status": 403, "message": "Invalid signature length"}
