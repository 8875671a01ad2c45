import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import Colonyd, COLONY_PRVKEY, SERVER_PRVKEY, new_key  # noqa: E402
from crypto import Crypto  # noqa: E402


@pytest.fixture
def server(tmp_path):
    s = Colonyd(tmp_path).start()
    yield s
    s.kill()


class Colony:
    """A bootstrapped colony: owner, one approved executor, one user."""

    def __init__(self, server, name="dev", executortype="cli"):
        self.server = server
        self.client = server.client()
        self.name = name
        self.colony_prv = COLONY_PRVKEY if name == "dev" else new_key()[0]
        self.colony_id = Crypto().id(self.colony_prv)
        self.client.add_colony({"colonyid": self.colony_id, "name": name}, SERVER_PRVKEY)
        self.executortype = executortype
        self.exec_prv, self.exec_id = self.add_executor("worker-1")
        self.user_prv, self.user_id = new_key()
        self.client.add_user({"colonyname": name, "userid": self.user_id, "name": "alice",
                              "email": "a@example.org", "phone": ""}, self.colony_prv)

    def add_executor(self, name, approve=True, executortype=None):
        prv, eid = new_key()
        self.client.add_executor({"executorid": eid, "executortype": executortype or self.executortype,
                                  "executorname": name, "colonyname": self.name}, self.colony_prv)
        if approve:
            self.client.approve_executor(self.name, name, self.colony_prv)
        return prv, eid


def metrics_workload(server):
    """A bit of everything the metrics count: a colony, a running process with one 5-byte
    channel append, and a 404."""
    from pycolonies import func_spec
    colony = Colony(server)
    c = colony.client
    spec = func_spec("job", [], "dev", "cli")
    spec.channels = ["chat"]
    p = c.submit_func_spec(spec, colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    c.channel_append(p.processid, "chat", 1, "12345", colony.exec_prv)
    with pytest.raises(Exception):
        c.get_process("0" * 64, colony.user_prv)
    return colony


@pytest.fixture
def colony(server):
    return Colony(server)
