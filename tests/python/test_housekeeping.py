"""Housekeeping (issue 14): retention (`COLONIES_RETENTION` / `COLONIES_RETENTION_POLICY`) and
stale executors (`COLONIES_STALE_EXECUTOR_DURATION`), set through upstream's environment
variables, against a real colonyd with unmodified pycolonies."""
import re
import threading
import time
import urllib.request

import pytest
from pycolonies import func_spec

from conftest import Colony
from harness import Colonyd, wait_for

WAITING, RUNNING, SUCCESS, FAILED = 0, 1, 2, 3
UNREGISTERED = 3


@pytest.fixture
def retaining(tmp_path):
    s = Colonyd(tmp_path, extra_args=["--retention-interval", "1", "--metrics-listen", "127.0.0.1:0"],
                env={"COLONIES_RETENTION": "true", "COLONIES_RETENTION_POLICY": "2"}).start()
    yield s
    s.kill()


def metric(server, name):
    url = re.search(r"metrics on (http://\S+)", server.log()).group(1)
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else None


def exists(colony, pid):
    status, err, _ = colony.server.rpc({"msgtype": "getprocessmsg", "processid": pid}, colony.user_prv)
    return status == 200 and not err


def test_retention_purges_old_successful_work_and_logs_only(retaining):
    colony = Colony(retaining)
    c = colony.client
    ok_p = c.submit_func_spec(func_spec("echo", [], "dev", "cli"), colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    c.add_log(ok_p.processid, "a line", colony.exec_prv)
    c.close(ok_p.processid, ["out"], colony.exec_prv)
    bad_p = c.submit_func_spec(func_spec("echo", [], "dev", "cli"), colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    c.fail(bad_p.processid, ["boom"], colony.exec_prv)
    waiting = c.submit_func_spec(func_spec("echo", [], "dev", "cli"), colony.user_prv)
    assert exists(colony, ok_p.processid)
    assert c.get_executor_log("dev", "worker-1", 10, 0, colony.user_prv)

    # finished more than the policy (2 s) ago: purged within a retention interval (1 s here)
    wait_for(lambda: not exists(colony, ok_p.processid))
    assert exists(colony, bad_p.processid) and exists(colony, waiting.processid)
    assert not c.get_executor_log("dev", "worker-1", 10, 0, colony.user_prv)
    stats = c.stats("dev", colony.user_prv)
    assert stats["successfulprocesses"] == 0 and stats["failedprocesses"] == 1
    assert "retention purged old work" in retaining.log()
    assert metric(retaining, "colonyd_retention_purged_total") >= 2  # the process and its log


def test_retention_is_off_by_default(server):
    colony = Colony(server)
    c = colony.client
    p = c.submit_func_spec(func_spec("echo", [], "dev", "cli"), colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    c.close(p.processid, [], colony.exec_prv)
    time.sleep(2)
    assert exists(colony, p.processid)


@pytest.fixture
def reaping(tmp_path):
    s = Colonyd(tmp_path, extra_args=["--cleanup-interval", "1", "--metrics-listen", "127.0.0.1:0"],
                env={"COLONIES_STALE_EXECUTOR_DURATION": "2"}).start()
    yield s
    s.kill()


def executor_state(colony, name):
    status, err, e = colony.server.rpc({"msgtype": "getexecutormsg", "colonyname": "dev",
                                        "executorname": name}, colony.user_prv)
    assert status == 200, e
    return e["state"]


def test_silent_executor_is_unregistered_and_its_work_requeued(reaping):
    colony = Colony(reaping)
    c = colony.client
    never_prv, _ = colony.add_executor("never-polled")
    p = c.submit_func_spec(func_spec("echo", [], "dev", "cli"), colony.user_prv)
    assert c.assign("dev", 5, colony.exec_prv).processid == p.processid
    # worker-1 falls silent: unregistered once not heard from for 2 s, its process waits again
    wait_for(lambda: executor_state(colony, "worker-1") == UNREGISTERED)
    status, _, got = reaping.rpc({"msgtype": "getprocessmsg", "processid": p.processid}, colony.user_prv)
    assert got["state"] == WAITING and got["assignedexecutorid"] == ""
    # an executor never heard from is left alone (as upstream)
    assert executor_state(colony, "never-polled") == 1
    assert "unregistering stale executor" in reaping.log()
    assert metric(reaping, "colonyd_stale_executors_total") == 1
    # another executor gets the process
    prv2, _ = colony.add_executor("worker-2")
    assert c.assign("dev", 5, prv2).processid == p.processid


def test_executor_waiting_in_a_long_poll_is_not_reaped(reaping):
    colony = Colony(reaping)
    c = colony.client
    result = {}

    def poll():
        try:
            c.assign("dev", 6, colony.exec_prv)
        except Exception as e:  # no work for 6 s: the poll times out
            result["err"] = str(e)

    t = threading.Thread(target=poll)
    t.start()
    # stale after 2 s, swept every second: the executor is mid-wait the whole time
    for _ in range(10):
        time.sleep(0.5)
        assert executor_state(colony, "worker-1") == 1
    t.join(15)
    assert "No process available" in result.get("err", "")
    # the poll's end counted as heard from: still approved right after it
    assert executor_state(colony, "worker-1") == 1
    # and silent from then on, it goes
    wait_for(lambda: executor_state(colony, "worker-1") == UNREGISTERED)
