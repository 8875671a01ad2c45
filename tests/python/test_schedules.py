"""Crons, generators, locations and cluster info (issue 14), end to end against a real colonyd:
through unmodified pycolonies where it has a call (add_cron, get_cron(s), run_cron, del_cron,
add_generator, get_generator(s), remove_generator), and otherwise with exactly the JSON
upstream's Go client sends (generator pack and resolve, locations, cluster info, crons with an
interval or waiting for the previous run)."""
import json
import time

import pytest
from model import Workflow
from pycolonies import func_spec

from harness import COLONY_PRVKEY, SERVER_PRVKEY, new_key, wait_for

WAITING, RUNNING, SUCCESS, FAILED = 0, 1, 2, 3
ZERO_TIME = "0001-01-01T00:00:00Z"


def ok(colony, msg, prv=None):
    status, err, payload = colony.server.rpc(msg, prv or colony.user_prv)
    assert status == 200 and not err, (status, payload)
    return payload


def refused(colony, msg, prv=None):
    status, err, payload = colony.server.rpc(msg, prv or colony.user_prv)
    assert err and status != 200, (status, payload)
    return status, payload["message"]


def spec_json(colony, nodename="task", deps=(), args=("x",)):
    return {"nodename": nodename, "funcname": "echo", "args": list(args), "kwargs": {},
            "priority": 0, "maxwaittime": -1, "maxexectime": -1, "maxretries": -1,
            "conditions": {"colonyname": colony.name, "executortype": "cli",
                           "dependencies": list(deps)},
            "label": "", "fs": None, "env": {}}


def go_cron(colony, name, spec_list, interval=-1, expr="", wait=False, random=False):
    """The cron upstream's Go CLI (`colonies cron add`) sends."""
    return {"cron": {"cronid": "", "initiatorid": "", "initiatorname": "",
                     "colonyname": colony.name, "name": name, "cronexpression": expr,
                     "interval": interval, "random": random, "nextrun": ZERO_TIME,
                     "lastrun": ZERO_TIME,
                     "workflowspec": json.dumps({"colonyname": colony.name, "functionspecs": spec_list}),
                     "prevprocessgraphid": "", "waitforprevprocessgraph": wait, "checkerperiod": 0},
            "msgtype": "addcronmsg"}


def go_generator(colony, name, spec_list, trigger, timeout=-1):
    """The generator upstream's Go CLI (`colonies generator add`) sends."""
    return {"generator": {"generatorid": "", "initiatorid": "", "initiatorname": "",
                          "colonyname": colony.name, "name": name,
                          "workflowspec": json.dumps({"colonyname": colony.name, "functionspecs": spec_list}),
                          "trigger": trigger, "timeout": timeout, "firstpack": ZERO_TIME,
                          "lastrun": ZERO_TIME, "queuesize": 0, "checkerperiod": 0},
            "msgtype": "addgeneratormsg"}


def graphs(colony, prv=None):
    """Every process graph of the colony, whatever its state."""
    out = []
    for state in range(5):
        out += ok(colony, {"msgtype": "getprocessgraphsmsg", "colonyname": colony.name,
                           "count": 100, "state": state}, prv) or []
    return out


def root_process(colony, graph):
    g = ok(colony, {"msgtype": "getprocessgraphmsg", "processgraphid": graph["processgraphid"]})
    return ok(colony, {"msgtype": "getprocessmsg", "processid": g["rootprocessids"][0]})


# --- crons ---------------------------------------------------------------------------------

def test_cron_through_pycolonies_fires_every_second_and_an_executor_runs_it(colony):
    c = colony.client
    f = func_spec("echo", ["tick"], colony.name, "cli")
    f.nodename = "echo"
    wf = Workflow(colonyname=colony.name, functionspecs=[f])
    cron = c.add_cron("every-second", "0/1 * * * * *", False, wf, colony.name, colony.user_prv)
    assert len(cron["cronid"]) == 64 and cron["name"] == "every-second"
    assert cron["initiatorid"] == colony.user_id and cron["initiatorname"] == "alice"
    assert cron["interval"] == -1 and cron["nextrun"] != ZERO_TIME and cron["lastrun"] == ZERO_TIME
    assert isinstance(cron["workflowspec"], str)

    got = c.get_cron(cron["cronid"], colony.exec_prv)
    assert got["cronid"] == cron["cronid"] and got["checkerperiod"] == 1000
    assert [x["name"] for x in c.get_crons(colony.name, 10, colony.user_prv)] == ["every-second"]

    # the cron's workflow reaches an executor within a few seconds, and runs
    p = c.assign(colony.name, 10, colony.exec_prv)
    assert p.spec.funcname == "echo" and p.processgraphid
    assert p.initiatorid == colony.user_id
    c.close(p.processid, ["done"], colony.exec_prv)
    after = c.get_cron(cron["cronid"], colony.user_prv)
    assert after["lastrun"] != ZERO_TIME and after["prevprocessgraphid"]

    # run now: the answer is the cron as it was before the run (as upstream)
    before = c.run_cron(cron["cronid"], colony.user_prv)
    assert before["cronid"] == cron["cronid"]
    c.del_cron(cron["cronid"], colony.user_prv)
    assert c.get_crons(colony.name, 10, colony.user_prv) == []
    with pytest.raises(Exception, match="cron is nil"):
        c.get_cron(cron["cronid"], colony.user_prv)

    # a five-field expression (pycolonies' own docs use one) is refused, naming the field
    with pytest.raises(Exception, match="cronexpression"):
        c.add_cron("five", "0 * * * *", False, wf, colony.name, colony.user_prv)


def test_cron_refusals(colony):
    s = [spec_json(colony)]
    st, msg = refused(colony, go_cron(colony, "zero", s, interval=0))
    assert st == 400 and "interval" in msg
    st, msg = refused(colony, go_cron(colony, "rnd", s, expr="0 * * * * *", random=True))
    assert st == 400 and "Random" in msg
    st, msg = refused(colony, go_cron(colony, "bad", s, expr="61 * * * * *"))
    assert st == 400 and "cronexpression" in msg
    bad = go_cron(colony, "badspec", s, interval=5)
    bad["cron"]["workflowspec"] = "error"
    st, msg = refused(colony, bad)
    assert st == 400 and "workflowspec" in msg
    other = go_cron(colony, "other", s, interval=5)
    other["cron"]["workflowspec"] = json.dumps({"colonyname": "elsewhere", "functionspecs": s})
    st, msg = refused(colony, other)
    assert st == 400 and "colony" in msg
    ok(colony, go_cron(colony, "dup", s, interval=100))
    st, msg = refused(colony, go_cron(colony, "dup", s, interval=100))
    assert st == 400 and "already exists" in msg
    # the colony owner is not a member (as upstream); a stranger neither
    assert refused(colony, go_cron(colony, "x", s, interval=5), COLONY_PRVKEY)[0] == 403
    assert refused(colony, go_cron(colony, "x", s, interval=5), new_key()[0])[0] == 403
    st, msg = refused(colony, {"msgtype": "runcronmsg", "cronid": "0" * 64})
    assert st == 400 and msg == "cron not found"


def test_cron_waits_for_previous_workflow_and_passes_its_output(colony):
    c = colony.client
    cron = ok(colony, go_cron(colony, "chain", [spec_json(colony)], interval=1, wait=True))
    p = c.assign(colony.name, 10, colony.exec_prv)
    # while that run is unfinished, the cron does not run again
    time.sleep(2.5)
    assert len(graphs(colony)) == 1
    c.close(p.processid, ["result_cron1"], colony.exec_prv)
    # the next run starts within about a second and gets the previous run's output as input
    p2 = c.assign(colony.name, 10, colony.exec_prv)
    assert p2.processgraphid != p.processgraphid
    assert p2.input == ["result_cron1"]
    got = ok(colony, {"msgtype": "getcronmsg", "cronid": cron["cronid"]})
    assert got["prevprocessgraphid"] == p2.processgraphid


def test_cron_on_interval_runs_a_multi_member_workflow(colony):
    c = colony.client
    specs = [spec_json(colony, "a"), spec_json(colony, "b", deps=["a"])]
    ok(colony, go_cron(colony, "pair", specs, interval=1))
    a = c.assign(colony.name, 10, colony.exec_prv)
    assert a.spec.nodename == "a"
    c.close(a.processid, ["out-a"], colony.exec_prv)
    # member b of the same graph follows a, with a's output
    deadline = time.time() + 10
    while True:
        b = c.assign(colony.name, 10, colony.exec_prv)
        if b.processgraphid == a.processgraphid:
            break
        c.close(b.processid, [], colony.exec_prv)
        assert time.time() < deadline
    assert b.spec.nodename == "b" and b.input == ["out-a"]


# --- generators ----------------------------------------------------------------------------

def test_generator_through_pycolonies_add_get_list_remove(colony):
    c = colony.client
    assert c.get_generators(colony.name, colony.user_prv) is None  # upstream's empty answer
    g = c.add_generator({"colonyname": colony.name, "name": "batcher", "trigger": 5, "timeout": -1,
                         "workflowspec": json.dumps({"colonyname": colony.name,
                                                     "functionspecs": [spec_json(colony)]})},
                        colony.exec_prv)
    assert len(g["generatorid"]) == 64 and g["initiatorname"] == "worker-1"
    assert g["firstpack"] == ZERO_TIME and g["lastrun"] == ZERO_TIME
    got = c.get_generator(g["generatorid"], colony.user_prv)
    assert got["queuesize"] == 0 and got["checkerperiod"] == 1000 and got["trigger"] == 5
    assert [x["name"] for x in c.get_generators(colony.name, colony.user_prv)] == ["batcher"]
    c.remove_generator(g["generatorid"], colony.user_prv)
    assert c.get_generators(colony.name, colony.user_prv) is None
    with pytest.raises(Exception, match="generator is nil"):
        c.get_generator(g["generatorid"], colony.user_prv)


def test_generator_fires_at_the_trigger_count_with_the_packed_arguments(colony):
    specs = [spec_json(colony, "first"), spec_json(colony, "second", deps=["first"], args=["own"])]
    g = ok(colony, go_generator(colony, "counter", specs, trigger=3))
    resolved = ok(colony, {"colonyname": colony.name, "generatorname": "counter",
                           "msgtype": "resolvegeneratormsg"})
    assert resolved["generatorid"] == g["generatorid"]
    for i in range(7):
        assert ok(colony, {"generatorid": g["generatorid"], "arg": f"a{i}",
                           "msgtype": "packgeneratormsg"}) == {}
    gs = wait_for(lambda: (lambda x: x if len(x) == 2 else None)(graphs(colony)))
    args = sorted(root_process(colony, x)["spec"]["args"] for x in gs)
    assert args == [["a0", "a1", "a2"], ["a3", "a4", "a5"]]
    # members with dependencies keep their own arguments; kwargs of roots are emptied
    first = root_process(colony, gs[0])
    assert first["spec"]["kwargs"] == {}
    left = ok(colony, {"msgtype": "getgeneratormsg", "generatorid": g["generatorid"]})
    assert left["queuesize"] == 1 and left["lastrun"] != ZERO_TIME
    time.sleep(2)
    assert len(graphs(colony)) == 2  # no timeout: the last argument waits for two more


def test_generator_fires_on_timeout_with_fewer_arguments(colony):
    g = ok(colony, go_generator(colony, "slow", [spec_json(colony)], trigger=10, timeout=1))
    for i in range(12):
        ok(colony, {"generatorid": g["generatorid"], "arg": f"b{i}", "msgtype": "packgeneratormsg"})
    # ten at once, then the remaining two once the timeout passes
    gs = wait_for(lambda: (lambda x: x if len(x) == 2 else None)(graphs(colony)), timeout=10)
    sizes = sorted(len(root_process(colony, x)["spec"]["args"]) for x in gs)
    assert sizes == [2, 10]


def test_generator_refusals(colony):
    st, msg = refused(colony, go_generator(colony, "zero", [spec_json(colony)], trigger=0))
    assert st == 400 and "trigger" in msg
    g = ok(colony, go_generator(colony, "g", [spec_json(colony)], trigger=2))
    st, msg = refused(colony, go_generator(colony, "g", [spec_json(colony)], trigger=2))
    assert st == 400 and "already exists" in msg
    assert refused(colony, {"generatorid": g["generatorid"], "arg": "x",
                            "msgtype": "packgeneratormsg"}, COLONY_PRVKEY)[0] == 403
    st, msg = refused(colony, {"generatorid": "f" * 64, "arg": "x", "msgtype": "packgeneratormsg"})
    assert st == 500 and "generator is nil" in msg
    st, _ = refused(colony, {"colonyname": colony.name, "generatorname": "nope",
                             "msgtype": "resolvegeneratormsg"})
    assert st == 500


# --- locations and cluster -----------------------------------------------------------------

def test_locations_as_the_go_cli_sends_them(colony):
    assert ok(colony, {"msgtype": "getlocationsmsg", "colonyname": colony.name}) is None
    loc = {"locationid": "ab" * 32, "name": "lab", "colonyname": colony.name,
           "description": "the lab", "long": 18.07, "lat": 59.33}
    got = ok(colony, {"location": loc, "msgtype": "addlocationmsg"}, COLONY_PRVKEY)
    assert got == loc
    st, msg = refused(colony, {"location": loc, "msgtype": "addlocationmsg"}, COLONY_PRVKEY)
    assert st == 400 and "already exists" in msg
    # members read (an executor in any state too); only the owner writes
    assert ok(colony, {"msgtype": "getlocationmsg", "colonyname": colony.name, "name": "lab"},
              colony.exec_prv) == loc
    assert ok(colony, {"msgtype": "getlocationsmsg", "colonyname": colony.name}) == [loc]
    assert refused(colony, {"location": dict(loc, name="x"), "msgtype": "addlocationmsg"})[0] == 403
    st, _ = refused(colony, {"msgtype": "getlocationmsg", "colonyname": colony.name, "name": "nope"})
    assert st == 404
    st, msg = refused(colony, {"msgtype": "removelocationmsg", "colonyname": colony.name,
                               "name": "nope"}, COLONY_PRVKEY)
    assert st == 400 and "not found" in msg
    assert ok(colony, {"msgtype": "removelocationmsg", "colonyname": colony.name, "name": "lab"},
              COLONY_PRVKEY) == {}
    assert ok(colony, {"msgtype": "getlocationsmsg", "colonyname": colony.name}) is None


def test_cluster_info_names_this_server_as_the_leader(colony):
    cl = ok(colony, {"msgtype": "getclustermsg"}, SERVER_PRVKEY)
    assert len(cl["nodes"]) == 1 and cl["leader"]["name"] == cl["nodes"][0]["name"]
    assert cl["nodes"][0]["apiport"] == colony.server.port
    assert refused(colony, {"msgtype": "getclustermsg"}, COLONY_PRVKEY)[0] == 403
    # defined upstream but never answered there either
    for t in ("getnodemsg", "getnodesmsg", "getnodesbylocationmsg"):
        st, msg = refused(colony, {"msgtype": t, "colonyname": colony.name}, SERVER_PRVKEY)
        assert st == 403 and "invalid rpcMsg.PayloadType" in msg


def test_removing_a_colony_removes_its_crons_generators_and_locations(colony):
    ok(colony, go_cron(colony, "c", [spec_json(colony)], interval=1000))
    g = ok(colony, go_generator(colony, "g", [spec_json(colony)], trigger=100))
    ok(colony, {"generatorid": g["generatorid"], "arg": "kept?", "msgtype": "packgeneratormsg"})
    ok(colony, {"location": {"name": "l", "colonyname": colony.name}, "msgtype": "addlocationmsg"},
       COLONY_PRVKEY)
    c = colony.client
    c.del_colony(colony.name, SERVER_PRVKEY)
    # the same colony again, with the same user: nothing of the old one is there
    c.add_colony({"colonyid": colony.colony_id, "name": colony.name}, SERVER_PRVKEY)
    c.add_user({"colonyname": colony.name, "userid": colony.user_id, "name": "alice",
                "email": "", "phone": ""}, COLONY_PRVKEY)
    assert ok(colony, {"msgtype": "getcronsmsg", "colonyname": colony.name, "count": 10}) == []
    assert ok(colony, {"msgtype": "getgeneratorsmsg", "colonyname": colony.name, "count": 10}) is None
    assert ok(colony, {"msgtype": "getlocationsmsg", "colonyname": colony.name}) is None
    st, _ = refused(colony, {"msgtype": "getgeneratormsg", "generatorid": g["generatorid"]})
    assert st == 500


def test_schedules_of_a_removed_user_stop_with_it(colony):
    """Upstream resolves a cron's creator at every run and fails the run once it is gone."""
    cron = ok(colony, go_cron(colony, "users-cron", [spec_json(colony)], interval=1))
    wait_for(lambda: len(graphs(colony)) >= 1)
    colony.client.remove_user(colony.name, "alice", COLONY_PRVKEY)
    time.sleep(1.2)
    n = len(graphs(colony, colony.exec_prv))
    time.sleep(2.5)
    assert len(graphs(colony, colony.exec_prv)) == n, "a removed user's cron kept running"
    st, msg = refused(colony, {"msgtype": "runcronmsg", "cronid": cron["cronid"]}, colony.exec_prv)
    assert st == 400 and "no longer" in msg
    assert "cron run failed" in colony.server.log()
