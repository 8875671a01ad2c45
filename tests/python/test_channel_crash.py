"""Crash safety of channel logs: concurrent appenders, SIGKILL at random moments, restart,
and every acknowledged entry present exactly once, in each appender's acknowledged order,
with everything a reader saw before the kill still in place."""
import random
import threading
import time

from pycolonies import func_spec

from harness import read_channel

ROUNDS = 4


def test_acknowledged_entries_survive_sigkill(colony):
    server = colony.server
    s = func_spec("stream", [], "dev", colony.executortype)
    s.channels = ["log"]
    p = colony.client.submit_func_spec(s, colony.user_prv)
    colony.client.assign("dev", 5, colony.exec_prv)
    rng = random.Random(1234)
    appenders = [(colony.user_prv, 1), (colony.user_prv, 2), (colony.exec_prv, 3), (colony.exec_prv, 4)]
    acked = {a: [] for _, a in appenders}
    next_seq = {a: a * 1_000_000 for _, a in appenders}
    seen_by_reader = []

    for rnd in range(ROUNDS):
        stop = threading.Event()
        client_port = server.port

        def append_loop(prv, a):
            from pycolonies import Colonies
            c = Colonies("127.0.0.1", client_port)
            while not stop.is_set():
                seq = next_seq[a]
                next_seq[a] += 1
                try:
                    c.channel_append(p.processid, "log", seq, f"{a}:{seq}", prv)
                except Exception:
                    return  # server killed: this one is not acknowledged
                acked[a].append(seq)

        def reader_loop():
            from pycolonies import Colonies
            c = Colonies("127.0.0.1", client_port)
            while not stop.is_set():
                try:
                    page = c.channel_read(p.processid, "log", len(seen_by_reader), 0, colony.user_prv)
                except Exception:
                    return
                seen_by_reader.extend((e["sequence"], e["senderid"]) for e in page)
                time.sleep(0.01)

        threads = [threading.Thread(target=append_loop, args=(prv, a)) for prv, a in appenders]
        threads.append(threading.Thread(target=reader_loop))
        [t.start() for t in threads]
        time.sleep(rng.uniform(0.3, 1.5))
        server.kill()
        stop.set()
        [t.join(timeout=30) for t in threads]
        server.start()

        c = server.client()
        log = read_channel(c, p.processid, "log", colony.user_prv)
        seqs = [e["sequence"] for e in log]
        assert len(seqs) == len(set(seqs)), f"round {rnd}: duplicated entries"
        present = set(seqs)
        for a, got in acked.items():
            missing = [q for q in got if q not in present]
            assert not missing, f"round {rnd}: appender {a} lost acknowledged {missing[:5]}"
            mine = [q for q in seqs if q // 1_000_000 == a]
            assert mine == sorted(mine), f"round {rnd}: appender {a} out of order"
        # what the reader saw is still there, at the same positions
        assert [(e["sequence"], e["senderid"]) for e in log[:len(seen_by_reader)]] == seen_by_reader
        # and the entries the log holds beyond the acknowledged ones are at most the in-flight
        # appends (one per appender per round)
        unacked = present - {q for got in acked.values() for q in got}
        assert len(unacked) <= len(appenders) * (rnd + 1)
    total = sum(len(v) for v in acked.values())
    print(f"acknowledged {total} appends, reader saw {len(seen_by_reader)}")
    assert total > 0 and seen_by_reader
