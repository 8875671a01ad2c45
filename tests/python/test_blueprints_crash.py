"""Blueprints and snapshots across crashes (issue 15): SIGKILL at random moments while clients
update blueprint specs and create snapshots; after every restart each acknowledged change is
there exactly once, and every spec change that landed (acknowledged or not) submitted exactly
one reconcile, in the same write: a blueprint's generation always equals the reconciles
submitted for it minus the first."""
import random
import threading
import time

from harness import COLONY_PRVKEY

ROUNDS = 5
NAMES = [f"bp{i}" for i in range(4)]


def rpc(server, msg, prv):
    status, err, payload = server.rpc(msg, prv)
    assert status == 200 and not err, (msg["msgtype"], status, payload)
    return payload


def test_blueprint_updates_and_snapshots_survive_sigkill(colony):
    server = colony.server
    prv = colony.user_prv
    rec_prv, _ = colony.add_executor("reconciler", executortype="rec")
    rpc(server, {"msgtype": "addblueprintdefinitionmsg", "blueprintdefinition": {
        "kind": "Knob", "metadata": {"name": "knobs", "colonyname": "dev"},
        "spec": {"names": {"kind": "Knob"}, "handler": {"executorType": "rec", "functionName": "turn"},
                 "schema": {"required": ["v"], "properties": {"v": {"type": "number"}}}}}}, COLONY_PRVKEY)
    for n in NAMES:
        rpc(server, {"msgtype": "addblueprintmsg", "blueprint": {
            "kind": "Knob", "metadata": {"name": n, "colonyname": "dev"}, "spec": {"v": 0}}}, prv)
    acked_v = {n: 0 for n in NAMES}         # last acknowledged spec value
    reconciles = {n: 0 for n in NAMES}      # reconcile processes seen per blueprint
    snapshots = {}                          # acknowledged snapshot name -> id
    files = set()                           # acknowledged file ids
    rng = random.Random(15)
    counter = iter(range(1, 10**9))
    verified = set()  # snapshots whose files were looked up
    lock = threading.Lock()

    def drain_reconciles():
        while True:
            status, err, p = server.rpc({"msgtype": "assignprocessmsg", "colonyname": "dev",
                                         "timeout": -1}, rec_prv)
            if status == 404:
                return
            assert status == 200 and not err, p
            if p["spec"]["funcname"] == "turn" and "blueprintName" in p["spec"]["kwargs"]:
                reconciles[p["spec"]["kwargs"]["blueprintName"]] += 1
            rpc(server, {"msgtype": "closesuccessfulmsg", "processid": p["processid"]}, rec_prv)

    drain_reconciles()
    for rnd in range(ROUNDS):
        stop = threading.Event()

        def updater(name):
            while not stop.is_set():
                v = next(counter)
                try:
                    status, err, _ = server.rpc({"msgtype": "updateblueprintmsg", "forcegeneration": False,
                                                 "blueprint": {"kind": "Knob", "spec": {"v": v},
                                                               "metadata": {"name": name, "colonyname": "dev"}}},
                                                prv)
                except Exception:
                    return
                if status != 200 or err:
                    return
                with lock:
                    acked_v[name] = v
                time.sleep(0.02)

        def snapshotter():
            while not stop.is_set():
                k = next(counter)
                try:
                    status, err, f = server.rpc({"msgtype": "addfilemsg", "file": {
                        "colonyname": "dev", "label": f"/r{rnd}", "name": f"f{k}", "size": 1,
                        "ref": {"protocol": "s3", "s3object": {"object": str(k), "bucket": "b"}}}}, prv)
                    if status != 200 or err:
                        return
                    with lock:
                        files.add(f["fileid"])
                    status, err, s = server.rpc({"msgtype": "createsnapshotmsg", "colonyname": "dev",
                                                 "label": f"/r{rnd}", "name": f"s{k}"}, prv)
                except Exception:
                    return
                if status != 200 or err:
                    return
                with lock:
                    snapshots[f"s{k}"] = s["snapshotid"]
                time.sleep(0.05)

        threads = [threading.Thread(target=updater, args=(n,)) for n in NAMES]
        threads.append(threading.Thread(target=snapshotter))
        [t.start() for t in threads]
        time.sleep(rng.uniform(0.5, 2.0))
        server.kill()
        stop.set()
        [t.join(timeout=30) for t in threads]
        server.start()

        drain_reconciles()
        for n in NAMES:
            b = rpc(server, {"msgtype": "getblueprintmsg", "namespace": "dev", "name": n}, prv)
            gen = b["metadata"].get("generation", 0)
            assert b["spec"]["v"] >= acked_v[n], f"round {rnd}: {n} lost an acknowledged update"
            assert gen == reconciles[n] - 1, \
                f"round {rnd}: {n} at generation {gen} but {reconciles[n]} reconciles submitted"
            hist = rpc(server, {"msgtype": "getblueprinthistorymsg", "blueprintid": b["blueprintid"],
                                "limit": 0}, prv)
            gens = [h["generation"] for h in hist]
            assert len(gens) == len(set(gens)), f"round {rnd}: {n} history has a change twice: {gens}"
            assert gens[0] == gen
        for name, sid in snapshots.items():
            s = rpc(server, {"msgtype": "getsnapshotmsg", "colonyname": "dev", "snapshotid": "",
                             "name": name}, prv)
            assert s["snapshotid"] == sid, f"round {rnd}: snapshot {name} changed identity"
            if name in verified:
                continue
            verified.add(name)
            for fid in s["fileids"] or []:
                got = rpc(server, {"msgtype": "getfilemsg", "colonyname": "dev", "fileid": fid,
                                   "label": "", "name": "", "latest": False}, prv)
                assert got[0]["fileid"] == fid
        listed = rpc(server, {"msgtype": "getsnapshotsmsg", "colonyname": "dev"}, prv) or []
        names = [s["name"] for s in listed]
        assert len(names) == len(set(names)), f"round {rnd}: a snapshot listed twice"
        assert set(snapshots) <= set(names)
        for fid in files:
            rpc(server, {"msgtype": "getfilemsg", "colonyname": "dev", "fileid": fid, "label": "",
                         "name": "", "latest": False}, prv)
    print(f"{sum(reconciles.values())} reconciles, {len(snapshots)} snapshots, {len(files)} files "
          f"over {ROUNDS} kills")
