"""The well-behaved client of test_abuse.py, run as its own process so that its latencies are
the server's and not the test process's threads competing for the GIL: submit, assign, close,
read, each over a new connection (as pycolonies does). Prints per-request latencies as JSON.

usage: good_client.py PORT USER_PRVKEY EXECUTOR_PRVKEY ITERATIONS
"""
import json
import sys
import time

from pycolonies import Colonies, func_spec


def main():
    port, user, executor, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    c = Colonies("127.0.0.1", port)
    out = {}

    def timed(name, f, *a):
        t = time.perf_counter()
        r = f(*a)
        out.setdefault(name, []).append(time.perf_counter() - t)
        return r

    for _ in range(n):
        p = timed("submit", c.submit_func_spec, func_spec("good", [], "dev", "cli"), user)
        a = timed("assign", c.assign, "dev", 5, executor)
        assert a.processid == p.processid, "assigned another process"
        timed("close", c.close, p.processid, ["ok"], executor)
        assert timed("get", c.get_process, p.processid, user).state == 2
    print(json.dumps(out))


if __name__ == "__main__":
    main()
