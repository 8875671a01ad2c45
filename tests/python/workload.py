"""The mixed workload and the invariants shared by the crash tests (test_chaos.py: SIGKILL;
test_powercut.py: power cuts on a FUSE filesystem that forgets what was never fsynced).

Besides processes, workflows and channels, the workload runs an every-second cron, packs
arguments into a generator and updates blueprints (their workflows and reconciles go to
executor types nobody serves, so they stay listable): no cron tick may run twice, no
acknowledged packed argument may be lost or used twice, no acknowledged blueprint update may be
lost, and every spec change that landed submitted exactly one reconcile (generation ==
reconciles − 1).

Workers record only what the server acknowledged (a reply that arrived); `check` then asserts,
after every restart, that each acknowledged write is there exactly once and in order.
"""
import json
import random
import threading
import time
from datetime import datetime

from model import Conditions, FuncSpec, Workflow
from pycolonies import Colonies

from harness import read_channel

WAITING, RUNNING, SUCCESS, FAILED, CANCELLED = 0, 1, 2, 3, 4
MAXEXEC = 3  # seconds; maxretries 0: an abandoned or orphaned assignment fails, never reruns


class Ledger:
    """What the server acknowledged to the clients (only replies that arrived count)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.submitted = set()      # process IDs
        self.graphs = set()
        self.assigned = {}          # pid -> [executor id, ...] (acknowledged assigns)
        self.closed = {}            # pid -> SUCCESS / FAILED (acknowledged closes)
        self.appended = {}          # pid -> [sequence, ...] in acknowledged order
        self.subscribed = []        # (pid, [sequence, ...] as delivered)
        self.violations = []
        self.counts = {"kills": 0, "assigns": 0, "closes": 0, "appends": 0, "delivered": 0,
                       "packs": 0, "cron runs": 0, "generator runs": 0}
        self.generator = None       # generator ID, made at the first start
        self.packed = []            # acknowledged packed arguments
        self.used = set()           # arguments seen in submitted generator workflows
        self.cron_runs = {}         # graph ID -> submission time (s)
        self.blueprints = {}        # name -> last acknowledged spec value
        self.reconciles = {}        # name -> reconcile processes seen

    def violation(self, text):
        with self.lock:
            self.violations.append(text)


def spec(name, deps=None, channels=()):
    s = FuncSpec(nodename=name, funcname=name, args=[], maxexectime=MAXEXEC, maxretries=0,
                 conditions=Conditions(colonyname="dev", executortype="cli",
                                       dependencies=list(deps or [])))
    s.channels = list(channels)
    return s


def submitter(port, colony, ledger, stop, rng):
    c = Colonies("127.0.0.1", port)
    while not stop.is_set():
        try:
            if rng.random() < 0.7:
                p = c.submit_func_spec(spec("job", channels=["log"] if rng.random() < 0.5 else []),
                                       colony.user_prv)
                with ledger.lock:
                    ledger.submitted.add(p.processid)
            else:
                g = c.submit_workflow(Workflow(colonyname="dev", functionspecs=[
                    spec("a"), spec("b", ["a"]), spec("c", ["a"])]), colony.user_prv)
                with ledger.lock:
                    ledger.graphs.add(g.processgraphid)
                    ledger.submitted.update(g.processids)
        except Exception:
            return  # the server was killed: an unacknowledged submit may or may not exist


GEN_TRIGGER = 4


def scheduled_spec(executortype):
    return {"nodename": "s", "funcname": "s", "args": [], "maxexectime": -1, "maxretries": 0,
            "conditions": {"colonyname": "dev", "executortype": executortype}}


def setup_schedules(colony, ledger):
    """Once per test: an every-second cron and a generator firing every GEN_TRIGGER packs."""
    if ledger.generator:
        return
    status, err, _ = colony.server.rpc({"msgtype": "addcronmsg", "cron": {
        "colonyname": "dev", "name": "chaos-tick", "interval": 1,
        "workflowspec": json.dumps({"colonyname": "dev", "functionspecs": [scheduled_spec("cron")]})}},
        colony.user_prv)
    assert status == 200 and not err
    status, err, g = colony.server.rpc({"msgtype": "addgeneratormsg", "generator": {
        "colonyname": "dev", "name": "chaos-batch", "trigger": GEN_TRIGGER, "timeout": -1,
        "workflowspec": json.dumps({"colonyname": "dev", "functionspecs": [scheduled_spec("gen")]})}},
        colony.user_prv)
    assert status == 200 and not err
    status, err, _ = colony.server.rpc({"msgtype": "addblueprintdefinitionmsg", "blueprintdefinition": {
        "kind": "Dial", "metadata": {"name": "dials", "colonyname": "dev"},
        "spec": {"names": {"kind": "Dial"}, "handler": {"executorType": "bpr", "functionName": "apply"}}}},
        colony.colony_prv)
    assert status == 200 and not err
    for name in ("dial-a", "dial-b"):
        status, err, _ = colony.server.rpc({"msgtype": "addblueprintmsg", "blueprint": {
            "kind": "Dial", "metadata": {"name": name, "colonyname": "dev"}, "spec": {"v": 0}}},
            colony.user_prv)
        assert status == 200 and not err
        ledger.blueprints[name] = 0
        ledger.reconciles[name] = 0
    ledger.generator = g["generatorid"]


def blueprint_updater(colony, ledger, stop, rng):
    n = int(rng.random() * 1e9)
    while not stop.is_set():
        n += 1
        name = rng.choice(sorted(ledger.blueprints))
        try:
            status, err, _ = colony.server.rpc({"msgtype": "updateblueprintmsg", "forcegeneration": False,
                                                "blueprint": {"kind": "Dial", "spec": {"v": n},
                                                              "metadata": {"name": name, "colonyname": "dev"}}},
                                               colony.user_prv)
        except Exception:
            return  # killed: not acknowledged
        if status != 200 or err:
            return
        with ledger.lock:
            ledger.blueprints[name] = n
        time.sleep(0.05)


def packer(colony, ledger, stop, rng):
    n = 0
    tag = f"{rng.random():.12f}"
    while not stop.is_set():
        arg = f"{tag}-{n}"
        n += 1
        try:
            status, err, _ = colony.server.rpc({"msgtype": "packgeneratormsg",
                                                "generatorid": ledger.generator, "arg": arg},
                                               colony.user_prv)
        except Exception:
            return  # killed: not acknowledged
        if status != 200 or err:
            return
        with ledger.lock:
            ledger.packed.append(arg)
            ledger.counts["packs"] += 1
        time.sleep(0.05)


def seconds(rfc3339):
    head, _, frac = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "." + (frac + "000000")[:6]).timestamp()


def check_schedules(colony, ledger, label):
    """Generator: every workflow has exactly GEN_TRIGGER arguments none seen before, and what
    was acknowledged but not used is still queued. Cron: no two runs less than the interval
    apart. Checked workflows are removed (acknowledged, so durable) to keep listings short."""
    rpc = colony.server.rpc
    prv = colony.user_prv
    # the queue first: a batch submitted after this read shows up in the listing below
    _, _, g = rpc({"msgtype": "getgeneratormsg", "generatorid": ledger.generator}, prv)
    queued = g["queuesize"]
    for etype in ("gen", "cron"):
        for _ in range(100):
            _, _, procs = rpc({"msgtype": "getprocessesmsg", "colonyname": "dev", "count": 100,
                               "state": WAITING, "executortype": etype}, prv)
            if not procs:
                break
            for p in procs:
                gid = p["processgraphid"]
                if etype == "gen":
                    args = p["spec"]["args"]
                    if len(args) != GEN_TRIGGER:
                        ledger.violation(f"{label}: generator workflow with {len(args)} arguments")
                    for a in args:
                        if a in ledger.used:
                            ledger.violation(f"{label}: packed argument {a} used twice")
                        ledger.used.add(a)
                    ledger.counts["generator runs"] += 1
                else:
                    ledger.cron_runs[gid] = seconds(p["submissiontime"])
                    ledger.counts["cron runs"] += 1
                status, err, _ = rpc({"msgtype": "removeprocessgraphmsg", "processgraphid": gid}, prv)
                assert status == 200 and not err
    for _ in range(100):
        _, _, procs = rpc({"msgtype": "getprocessesmsg", "colonyname": "dev", "count": 100,
                           "state": WAITING, "executortype": "bpr"}, prv)
        if not procs:
            break
        for p in procs:
            name = p["spec"]["kwargs"].get("blueprintName")
            if name in ledger.reconciles:
                ledger.reconciles[name] += 1
            if p["processgraphid"]:  # the kind's reconcile cron: a workflow
                msg = {"msgtype": "removeprocessgraphmsg", "processgraphid": p["processgraphid"]}
            else:
                msg = {"msgtype": "removeprocessmsg", "processid": p["processid"]}
            status, err, reply = rpc(msg, prv)
            assert status == 200 and not err, reply
    for name, acked in ledger.blueprints.items():
        _, _, b = rpc({"msgtype": "getblueprintmsg", "namespace": "dev", "name": name}, prv)
        if b["spec"]["v"] < acked:
            ledger.violation(f"{label}: blueprint {name} lost an acknowledged update")
        gen = b["metadata"].get("generation", 0)
        if gen != ledger.reconciles[name] - 1:
            ledger.violation(f"{label}: blueprint {name} at generation {gen} but "
                             f"{ledger.reconciles[name]} reconciles submitted")
    with ledger.lock:
        lost = set(ledger.packed) - ledger.used
    if len(lost) > queued:
        ledger.violation(f"{label}: {len(lost)} acknowledged packs not in any workflow, "
                         f"but only {queued} queued")
    times = sorted(ledger.cron_runs.values())
    close = [b - a for a, b in zip(times, times[1:]) if b - a < 0.95]
    if close:
        ledger.violation(f"{label}: cron runs {min(close):.3f} s apart: a tick ran twice")


def executor(port, colony, prv, eid, ledger, stop, rng):
    c = Colonies("127.0.0.1", port)
    while not stop.is_set():
        try:
            p = c.assign("dev", 1, prv)
        except Exception as e:
            if "No process" in str(e) or "404" in str(e):
                continue
            return
        with ledger.lock:
            ledger.assigned.setdefault(p.processid, []).append(eid)
            ledger.counts["assigns"] += 1
        try:
            for parent in p.parents:
                if c.get_process(parent, prv).state != SUCCESS:
                    ledger.violation(f"{p.processid} assigned before its parent {parent} succeeded")
            if "log" in (p.spec.channels or []):
                for _ in range(rng.randint(1, 5)):
                    with ledger.lock:
                        seq = len(ledger.appended.get(p.processid, [])) + 1
                    c.channel_append(p.processid, "log", seq, f"{p.processid[:8]}:{seq}", prv)
                    with ledger.lock:
                        ledger.appended.setdefault(p.processid, []).append(seq)
                        ledger.counts["appends"] += 1
            r = rng.random()
            if r < 0.75:
                c.close(p.processid, [p.spec.nodename], prv)
                outcome = SUCCESS
            elif r < 0.9:
                c.fail(p.processid, ["chaos"], prv)
                outcome = FAILED
            else:
                continue  # abandoned: its execution deadline must fail it, even across restarts
            with ledger.lock:
                ledger.closed[p.processid] = outcome
                ledger.counts["closes"] += 1
        except Exception:
            return


def subscriber(port, colony, ledger, stop, rng):
    c = Colonies("127.0.0.1", port)
    while not stop.is_set():
        with ledger.lock:
            candidates = sorted(ledger.appended)
        if not candidates:
            time.sleep(0.05)
            continue
        pid = rng.choice(candidates)
        got = []

        def take(entries):
            got.extend(e["sequence"] for e in entries)
            return not stop.is_set()
        try:
            c.subscribe_channel(pid, "log", colony.user_prv, after_seq=0, timeout=1, callback=take)
        except Exception:
            pass  # killed mid-stream: what arrived must still be a prefix of the log
        with ledger.lock:
            ledger.subscribed.append((pid, got))
            ledger.counts["delivered"] += len(got)


def check(server, colony, ledger, label):
    c = server.client()
    prv = colony.user_prv
    with ledger.lock:
        submitted = set(ledger.submitted)
        assigned = {k: list(v) for k, v in ledger.assigned.items()}
        closed = dict(ledger.closed)
        appended = {k: list(v) for k, v in ledger.appended.items()}
        subscribed = list(ledger.subscribed)
    states = {}
    for pid in submitted:
        try:
            p = c.get_process(pid, prv)
        except Exception as e:
            ledger.violation(f"{label}: acknowledged submit {pid} lost: {e}")
            continue
        states[pid] = p.state
        if p.state not in (WAITING, RUNNING, SUCCESS, FAILED, CANCELLED):
            ledger.violation(f"{label}: {pid} in unknown state {p.state}")
        if p.state == RUNNING and not p.assignedexecutorid:
            ledger.violation(f"{label}: {pid} running without an executor")
        if p.state == WAITING and p.assignedexecutorid:
            ledger.violation(f"{label}: {pid} waiting but assigned to {p.assignedexecutorid}")
        if pid in assigned and p.state == WAITING:
            ledger.violation(f"{label}: acknowledged assignment of {pid} lost (waiting again)")
        if pid in closed and p.state != closed[pid]:
            ledger.violation(f"{label}: acknowledged close of {pid} lost: state {p.state}")
    for pid, who in assigned.items():
        if len(who) > 1:
            ledger.violation(f"{label}: {pid} assigned {len(who)} times: {who}")
    for pid, seqs in appended.items():
        log = [e["sequence"] for e in read_channel(c, pid, "log", prv)]
        if len(log) != len(set(log)):
            ledger.violation(f"{label}: duplicated entries in {pid}: {log}")
        if [s for s in log if s in set(seqs)] != seqs:
            ledger.violation(f"{label}: channel of {pid} lost or reordered acknowledged entries: "
                             f"acked {seqs}, log {log}")
        for sub_pid, got in subscribed:
            if sub_pid == pid and got != log[:len(got)]:
                ledger.violation(f"{label}: subscriber of {pid} saw {got}, log is {log}")
    if ledger.generator:
        check_schedules(colony, ledger, label)
    return states


def drain(server, colony, ledger, executors):
    """Runs executors until every process has reached a final state; fails if nothing
    finishes for MAXEXEC + 30 s. Returns the final states."""
    best, stalled_since = None, time.time()
    while True:
        states = check(server, colony, ledger, "drain")
        assert not ledger.violations, "\n".join(ledger.violations[:20])
        remaining = sum(s not in (SUCCESS, FAILED, CANCELLED) for s in states.values())
        if remaining == 0:
            return states
        if best is None or remaining < best:
            best, stalled_since = remaining, time.time()
        assert time.time() - stalled_since < MAXEXEC + 30, \
            f"stuck: {sum(s == RUNNING for s in states.values())} running, " \
            f"{sum(s == WAITING for s in states.values())} waiting"
        stop = threading.Event()
        workers = [threading.Thread(target=executor, args=(server.port, colony, prv, eid, ledger,
                                                           stop, random.Random(1)))
                   for prv, eid in executors]
        [t.start() for t in workers]
        time.sleep(1.5)
        stop.set()
        [t.join(timeout=60) for t in workers]


def start_workload(port, colony, executors, ledger, rng):
    """Starts a submitter, one worker per executor, a subscriber and a generator packer (the
    cron and the generator are made at the first start); returns (stop, threads)."""
    setup_schedules(colony, ledger)
    stop = threading.Event()
    threads = [threading.Thread(target=submitter, args=(port, colony, ledger, stop,
                                                        random.Random(rng.random())))]
    threads += [threading.Thread(target=executor, args=(port, colony, prv, eid, ledger, stop,
                                                        random.Random(rng.random())))
                for prv, eid in executors]
    threads.append(threading.Thread(target=subscriber, args=(port, colony, ledger, stop,
                                                             random.Random(rng.random()))))
    threads.append(threading.Thread(target=packer, args=(colony, ledger, stop,
                                                         random.Random(rng.random()))))
    threads.append(threading.Thread(target=blueprint_updater, args=(colony, ledger, stop,
                                                                    random.Random(rng.random()))))
    [t.start() for t in threads]
    return stop, threads


def stop_workload(stop, threads):
    stop.set()
    [t.join(timeout=60) for t in threads]
    assert not any(t.is_alive() for t in threads), "a workload thread hung"
