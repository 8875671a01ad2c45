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


@pytest.fixture
def colony(server):
    return Colony(server)
