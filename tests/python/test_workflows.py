"""Workflows end to end with pycolonies: tutorial 004's sequential graph, a diamond with
inputs from both parents, failure in the middle, add child (append and insert), cancel,
remove, and a restart in the middle of a graph."""
import time

import pytest
from model import Conditions, FuncSpec, Workflow

from harness import COLONY_PRVKEY

WAITING, RUNNING, SUCCESS, FAILED, CANCELLED = 0, 1, 2, 3, 4


def node(name, deps=(), executortype="cli", **kw):
    return FuncSpec(nodename=name, funcname=name, args=[], maxexectime=60,
                    conditions=Conditions(colonyname="dev", executortype=executortype,
                                          dependencies=list(deps)), **kw)


def submit(colony, *nodes):
    return colony.client.submit_workflow(Workflow(colonyname="dev", functionspecs=list(nodes)), colony.user_prv)


def run_next(colony, output=None, timeout=5):
    """Executor: assign the next process and close it with output (its nodename by default)."""
    c = colony.client
    p = c.assign("dev", timeout, colony.exec_prv)
    c.close(p.processid, output if output is not None else [p.spec.nodename], colony.exec_prv)
    return p


def test_tutorial_004_sequential_workflow(colony):
    c = colony.client
    g = submit(colony, node("task1"), node("task2", ["task1"]))
    assert len(g.processids) == 2 and len(g.rootprocessids) == 1
    assert g.state == WAITING
    first = run_next(colony)
    assert first.spec.nodename == "task1"
    second = run_next(colony)
    assert second.spec.nodename == "task2"
    assert second.input == ["task1"]  # parents' output becomes the child's input
    g = c.get_processgraph(g.processgraphid, colony.user_prv)
    assert g.state == SUCCESS
    assert {n.data["label"] for n in g.nodes} == {"task1", "task2"}
    assert [(e.source, e.target) for e in g.edges] == [(first.processid, second.processid)]
    stats = c.stats("dev", colony.user_prv)
    assert stats["successfulworkflows"] == 1


def test_diamond_child_gets_both_parents_outputs(colony):
    c = colony.client
    g = submit(colony, node("A"), node("B", ["A"]), node("C", ["A"]), node("D", ["B", "C"]))
    a = run_next(colony, ["a"])
    assert a.spec.nodename == "A"
    # B and C are released together when A succeeds; D still waits
    got = {}
    for _ in range(2):
        p = c.assign("dev", 5, colony.exec_prv)
        got[p.spec.nodename] = p
    assert set(got) == {"B", "C"}
    with pytest.raises(Exception, match="No process available"):
        c.assign("dev", -1, colony.exec_prv)
    c.close(got["C"].processid, ["from C"], colony.exec_prv)
    with pytest.raises(Exception, match="No process available"):
        c.assign("dev", -1, colony.exec_prv)
    c.close(got["B"].processid, ["from B"], colony.exec_prv)
    d = c.assign("dev", 5, colony.exec_prv)
    assert d.spec.nodename == "D"
    parents_order = [c.get_process(pid, colony.user_prv).spec.nodename for pid in d.parents]
    expected = [{"B": "from B", "C": "from C"}[n] for n in parents_order]
    assert d.input == expected
    c.close(d.processid, [], colony.exec_prv)
    assert c.get_processgraph(g.processgraphid, colony.user_prv).state == SUCCESS


def test_release_wakes_a_waiting_executor_at_once(colony):
    import threading
    c = colony.client
    submit(colony, node("first"), node("second", ["first"]))
    got = {}
    run_next(colony)

    def wait_for_second():
        got["p"] = c.assign("dev", 30, colony.exec_prv)

    # the second is released by the close above; an assign started later gets it at once
    t0 = time.time()
    th = threading.Thread(target=wait_for_second)
    th.start()
    th.join(timeout=30)
    assert got["p"].spec.nodename == "second" and time.time() - t0 < 10


def test_failure_in_the_middle_fails_unfinished_members_only(colony):
    c = colony.client
    g = submit(colony, node("A", priority=1), node("B", ["A"]), node("C", ["B"]), node("side"))
    a = run_next(colony)
    b_or_side = [c.assign("dev", 5, colony.exec_prv) for _ in range(2)]
    b = next(p for p in b_or_side if p.spec.nodename == "B")
    side = next(p for p in b_or_side if p.spec.nodename == "side")
    c.fail(b.processid, ["B broke"], colony.exec_prv)
    g = c.get_processgraph(g.processgraphid, colony.user_prv)
    assert g.state == FAILED
    states = {c.get_process(pid, colony.user_prv).spec.nodename: c.get_process(pid, colony.user_prv)
              for pid in g.processids}
    assert states["A"].state == SUCCESS  # finished members keep their state
    assert states["B"].state == FAILED and states["B"].errors == ["B broke"]
    assert states["C"].state == FAILED and "B" in states["C"].errors[0]
    assert states["side"].state == FAILED  # was running: failed with the graph
    with pytest.raises(Exception):
        c.close(side.processid, [], colony.exec_prv)
    assert a.spec.nodename == "A"


def test_add_child_append_and_insert(colony):
    c = colony.client
    g = submit(colony, node("root"), node("leaf", ["root"]))
    root = c.assign("dev", 5, colony.exec_prv)
    # insert between root and leaf: root → mid → leaf
    mid = c.add_child(g.processgraphid, root.processid, "", node("mid"), "mid", True, colony.exec_prv)
    # append another child of root
    extra = c.add_child(g.processgraphid, root.processid, "", node("extra"), "extra", False, colony.exec_prv)
    assert mid["waitforparents"] is True and mid["parents"] == [root.processid]
    c.close(root.processid, ["r"], colony.exec_prv)
    ran = [run_next(colony) for _ in range(3)]
    names = [p.spec.nodename for p in ran]
    assert sorted(names) == ["extra", "leaf", "mid"]
    assert names.index("mid") < names.index("leaf"), "leaf now waits for the inserted child"
    leaf = ran[names.index("leaf")]
    assert leaf.input == ["mid"] and [c.get_process(p, colony.user_prv).spec.nodename for p in leaf.parents] == ["mid"]
    g = c.get_processgraph(g.processgraphid, colony.user_prv)
    assert g.state == SUCCESS and len(g.processids) == 4
    assert extra["processid"] in g.processids
    # only the executor running a member may add children
    g2 = submit(colony, node("solo"))
    solo = c.assign("dev", 5, colony.exec_prv)
    prv2, _ = colony.add_executor("worker-2")
    with pytest.raises(Exception, match="not assigned"):
        c.add_child(g2.processgraphid, solo.processid, "", node("x"), "x", False, prv2)


def test_cancel_and_remove(colony):
    c = colony.client
    g = submit(colony, node("A"), node("B", ["A"]))
    a = c.assign("dev", 5, colony.exec_prv)
    status, err, _ = colony.server.rpc({"msgtype": "cancelprocessgraphmsg", "processgraphid": g.processgraphid},
                                       colony.user_prv)
    assert status == 200
    g2 = c.get_processgraph(g.processgraphid, colony.user_prv)
    assert g2.state == CANCELLED
    assert all(c.get_process(pid, colony.user_prv).state == CANCELLED for pid in g2.processids)
    with pytest.raises(Exception):
        c.close(a.processid, [], colony.exec_prv)
    c.remove_processgraph(g.processgraphid, colony.user_prv)
    with pytest.raises(Exception, match="graph is nil"):
        c.get_processgraph(g.processgraphid, colony.user_prv)
    with pytest.raises(Exception, match="not found"):
        c.get_process(a.processid, colony.user_prv)
    # listings
    submit(colony, node("X"))
    assert len(c.get_processgraphs("dev", 10, colony.user_prv, state=WAITING)) == 1
    c.remove_all_processgraphs("dev", COLONY_PRVKEY, state=-1)
    assert c.get_processgraphs("dev", 10, colony.user_prv, state=WAITING) == []


def test_invalid_graphs_are_refused_and_nothing_is_stored(colony):
    c = colony.client
    cases = [
        ([node("a"), node("a")], "Duplicate nodename: a"),
        ([node("a", ["ghost"])], "invalid dependencies"),
        ([node("a", ["b"]), node("b", ["a"])], "cycle"),
        ([node("")], "Nodename is missing"),
    ]
    for nodes, fragment in cases:
        with pytest.raises(Exception, match=fragment):
            submit(colony, *nodes)
    assert c.list_processes("dev", 100, WAITING, colony.user_prv) == []
    assert c.get_processgraphs("dev", 10, colony.user_prv, state=WAITING) == []


def test_restart_in_the_middle_of_a_graph(colony):
    c = colony.client
    g = submit(colony, node("A"), node("B", ["A"]), node("C", ["B"]))
    run_next(colony, ["a"])
    b = c.assign("dev", 5, colony.exec_prv)
    colony.server.restart_after_kill()
    c = colony.server.client()
    c.close(b.processid, ["b"], colony.exec_prv)
    cp = c.assign("dev", 5, colony.exec_prv)
    assert cp.spec.nodename == "C" and cp.input == ["b"]
    c.close(cp.processid, ["c"], colony.exec_prv)
    assert c.get_processgraph(g.processgraphid, colony.user_prv).state == SUCCESS
    members = c.get_processes_for_workflow(g.processgraphid, "dev", colony.user_prv)
    assert sorted(p["spec"]["nodename"] for p in members) == ["A", "B", "C"]
