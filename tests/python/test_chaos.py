"""Chaos: a mixed workload (submits, assigns, closes and failures, abandoned work, workflows,
channel appends, channel subscribers) while colonyd is SIGKILLed at random moments, many times.
After every restart the invariants are checked; at the end every process must move on to a
final state (execution timeouts fire after restart, workflow children are released or failed).

Rounds: CHAOS_ROUNDS (default 8 in CI; release checks run 200). Seed: CHAOS_SEED.
"""
import os
import random
import time

from pycolonies import func_spec

from conftest import Colony
from harness import Colonyd
from workload import (CANCELLED, FAILED, SUCCESS, Ledger, check, drain, start_workload,
                      stop_workload)

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "8"))
SEED = int(os.environ.get("CHAOS_SEED", "20261122"))


def test_sigkill_chaos_keeps_every_invariant(tmp_path):
    server = Colonyd(tmp_path, extra_args=["--channel-retention", "1h"]).start()
    try:
        colony = Colony(server)
        exec2_prv, exec2_id = colony.add_executor("worker-2")
        executors = [(colony.exec_prv, colony.exec_id), (exec2_prv, exec2_id)]
        ledger = Ledger()
        rng = random.Random(SEED)
        for rnd in range(ROUNDS):
            stop, threads = start_workload(server.port, colony, executors, ledger, rng)
            time.sleep(rng.uniform(0.3, 2.0))
            server.kill()
            ledger.counts["kills"] += 1
            stop_workload(stop, threads)
            server.start()
            check(server, colony, ledger, f"after kill {rnd + 1}")
            assert not ledger.violations, "\n".join(ledger.violations[:20])

        # everything moves on: timeouts fire after the restarts, waiting work drains
        states = drain(server, colony, ledger, executors)
        c = server.client()
        # a fresh submit after all this still runs
        p = c.submit_func_spec(func_spec("last", [], "dev", "cli"), colony.user_prv)
        assert c.assign("dev", 5, colony.exec_prv).processid == p.processid
        final = {s: sum(v == s for v in states.values()) for s in (SUCCESS, FAILED, CANCELLED)}
        print(f"chaos: {ROUNDS} kill/restart cycles, {len(states)} processes "
              f"({len(ledger.graphs)} workflows) ended {final}; counts {ledger.counts}")
        assert ledger.counts["assigns"] > 0 and ledger.counts["appends"] > 0
        assert ledger.counts["packs"] > 0 and ledger.counts["cron runs"] > 0
        assert sum(ledger.reconciles.values()) > len(ledger.reconciles)
    finally:
        server.kill()
