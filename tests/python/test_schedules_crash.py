"""Crons and generators across crashes (issue 14): SIGKILL at random moments while an
every-second cron ticks and two clients pack generator arguments; after every restart no cron
tick ran twice, the cron is not forgotten, and every acknowledged packed argument is either in
exactly one submitted workflow or still queued, never in two and never lost."""
import random
import threading
import time

from test_schedules import go_cron, go_generator, ok, spec_json

ROUNDS = 5
TRIGGER = 5


def processes(colony, executortype):
    out = []
    for state in (0, 1, 2, 3, 4):
        got = ok(colony, {"msgtype": "getprocessesmsg", "colonyname": colony.name,
                          "count": 100, "state": state, "executortype": executortype}) or []
        assert len(got) < 100, "listing truncated: the test would miss runs"
        out += got
    return out


def test_cron_ticks_and_generator_packs_survive_sigkill(colony):
    server = colony.server
    cron_spec = dict(spec_json(colony), conditions={"colonyname": colony.name, "executortype": "cron-x"})
    gen_spec = dict(spec_json(colony), conditions={"colonyname": colony.name, "executortype": "gen-x"})
    ok(colony, go_cron(colony, "tick", [cron_spec], interval=1))
    gen = ok(colony, go_generator(colony, "batch", [gen_spec], trigger=TRIGGER))
    rng = random.Random(14)
    acked = []
    attempted = set()
    lock = threading.Lock()

    for rnd in range(ROUNDS):
        stop = threading.Event()

        def packer(tag):
            n = 0
            while not stop.is_set():
                arg = f"r{rnd}-{tag}-{n}"
                n += 1
                with lock:
                    attempted.add(arg)
                try:
                    status, err, _ = server.rpc({"generatorid": gen["generatorid"], "arg": arg,
                                                 "msgtype": "packgeneratormsg"}, colony.user_prv)
                except Exception:
                    return  # killed: not acknowledged
                if status == 200 and not err:
                    with lock:
                        acked.append(arg)
                time.sleep(0.05)

        threads = [threading.Thread(target=packer, args=(t,)) for t in range(2)]
        [t.start() for t in threads]
        time.sleep(rng.uniform(0.5, 2.5))
        server.kill()
        stop.set()
        [t.join(timeout=30) for t in threads]
        server.start()

    # let the restarted server catch up, then look
    before = len(processes(colony, "cron-x"))
    time.sleep(2.5)
    cron_runs = sorted(processes(colony, "cron-x"), key=lambda p: p["submissiontime"])
    assert len(cron_runs) > before, "the cron was forgotten after the restarts"
    times = [p["submissiontime"] for p in cron_runs]
    from datetime import datetime

    def ts(s):
        # RFC 3339 with up to nanoseconds: keep microseconds for Python
        head, _, frac = s.rstrip("Z").partition(".")
        return datetime.fromisoformat(head + "." + (frac + "000000")[:6]).timestamp()

    gaps = [ts(b) - ts(a) for a, b in zip(times, times[1:])]
    assert all(g >= 0.95 for g in gaps), f"a cron tick ran twice: gaps {sorted(gaps)[:3]}"

    used = []
    for p in processes(colony, "gen-x"):
        args = p["spec"]["args"]
        assert len(args) == TRIGGER, args
        used += args
    assert len(used) == len(set(used)), "a packed argument was used twice"
    assert set(used) <= attempted
    queued = ok(colony, {"msgtype": "getgeneratormsg", "generatorid": gen["generatorid"]})["queuesize"]
    assert queued < TRIGGER
    lost = set(acked) - set(used)
    # what is not in a workflow must be what is still queued
    assert len(lost) <= queued, f"acknowledged arguments lost: {sorted(lost)[:5]}"
    print(f"{len(acked)} packs acknowledged, {len(used) // TRIGGER} generator workflows, "
          f"{len(cron_runs)} cron runs over {ROUNDS} kills")
