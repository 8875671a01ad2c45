"""Time from a restart with N blueprints until a reconciler has reported every blueprint's
status (issue 15). Starts colonyd (COLONYD_BIN, a release build for figures), adds a definition
whose reconciler is executor type "rec" and N blueprints (each submits its first reconcile),
restarts the server, then runs R reconciler threads (assign, read the blueprint, report status,
close) and reports how long until every blueprint has a status.

    COLONYD_BIN=target/release/colonyd .venv/bin/python bench/blueprint_restart.py [N] [R]
"""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from harness import COLONY_PRVKEY, SERVER_PRVKEY, Colonyd, new_key  # noqa: E402
from crypto import Crypto  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    readers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    work = tempfile.mkdtemp(prefix="bp-restart-")
    s = Colonyd(work, env={"RUST_LOG": "warn"}).start()

    def rpc(msg, prv):
        status, err, payload = s.rpc(msg, prv)
        if status != 200 or err:
            raise RuntimeError(f"{msg['msgtype']}: {status} {payload}")
        return payload

    colony_id = Crypto().id(COLONY_PRVKEY)
    rpc({"msgtype": "addcolonymsg", "colony": {"colonyid": colony_id, "name": "dev"}}, SERVER_PRVKEY)
    rec_prv, rec_id = new_key()
    rpc({"msgtype": "addexecutormsg", "executor": {"executorid": rec_id, "executortype": "rec",
                                                   "executorname": "rec", "colonyname": "dev"}}, COLONY_PRVKEY)
    rpc({"msgtype": "approveexecutormsg", "colonyname": "dev", "executorname": "rec"}, COLONY_PRVKEY)
    rpc({"msgtype": "addblueprintdefinitionmsg", "blueprintdefinition": {
        "kind": "Device", "metadata": {"name": "devices", "colonyname": "dev"},
        "spec": {"names": {"kind": "Device"}, "handler": {"executorType": "rec", "functionName": "apply"}}}},
        COLONY_PRVKEY)
    t = time.time()
    for i in range(n):
        rpc({"msgtype": "addblueprintmsg", "blueprint": {"kind": "Device", "metadata": {
            "name": f"dev{i}", "colonyname": "dev"}, "spec": {"setpoint": i}}}, rec_prv)
    added = time.time() - t
    s.stop()
    t0 = time.time()
    s.start()
    started = time.time() - t0
    left = {f"dev{i}" for i in range(n)}
    lock = threading.Lock()

    def reconciler():
        while True:
            with lock:
                if not left:
                    return
            status, err, p = s.rpc({"msgtype": "assignprocessmsg", "colonyname": "dev", "timeout": 2}, rec_prv)
            if status != 200:
                continue
            name = p["spec"]["kwargs"].get("blueprintName")
            if name:
                b = rpc({"msgtype": "getblueprintmsg", "namespace": "dev", "name": name}, rec_prv)
                rpc({"msgtype": "updateblueprintstatusmsg", "colonyname": "dev", "blueprintname": name,
                     "status": {"applied": b["spec"]["setpoint"]}}, rec_prv)
                with lock:
                    left.discard(name)
            rpc({"msgtype": "closesuccessfulmsg", "processid": p["processid"]}, rec_prv)

    threads = [threading.Thread(target=reconciler) for _ in range(readers)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    done = time.time() - t0
    listed = rpc({"msgtype": "getblueprintsmsg", "namespace": "dev", "kind": "Device", "locationname": ""},
                 rec_prv)
    assert len(listed) == n and all(b.get("status") for b in listed)
    s.stop()
    print(f"{n} blueprints added in {added:.1f} s; restart to listening {started:.2f} s; "
          f"every status reported {done:.2f} s after the restart began ({readers} reconcilers)")


if __name__ == "__main__":
    main()
