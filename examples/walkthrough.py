"""Five-minute walk-through with pycolonies against a local colonyd.

Start a server first (it prints its owner key file), then:

    export COLONIES_SERVER_PRVKEY=$(cat colonyd-data/server-owner.key)
    python examples/walkthrough.py

It bootstraps a colony, runs an executor that streams progress over a channel, and a client
that submits a job and follows the stream over a WebSocket subscription.
"""
import os
import threading
import time

from crypto import Crypto
from pycolonies import Colonies, func_spec

host = os.environ.get("COLONIES_SERVER_HOST", "127.0.0.1")
port = int(os.environ.get("COLONIES_SERVER_PORT", "50080"))
server_prv = os.environ["COLONIES_SERVER_PRVKEY"]
client = Colonies(host, port)
crypto = Crypto()

# 1. bootstrap: the server owner adds a colony; the colony owner adds and approves an executor
colony_prv = crypto.prvkey()
colony = "demo-" + crypto.id(colony_prv)[:6]
client.add_colony({"colonyid": crypto.id(colony_prv), "name": colony}, server_prv)
exec_prv = crypto.prvkey()
client.add_executor({"executorid": crypto.id(exec_prv), "executortype": "worker",
                     "executorname": "worker-1", "colonyname": colony}, colony_prv)
client.approve_executor(colony, "worker-1", colony_prv)
user_prv = crypto.prvkey()
client.add_user({"colonyname": colony, "userid": crypto.id(user_prv), "name": "alice",
                 "email": "", "phone": ""}, colony_prv)
print(f"colony {colony} ready")


# 2. an executor: take a job, stream progress over its channel, close it with a result
def executor():
    p = client.assign(colony, 30, exec_prv)
    for i, pct in enumerate([25, 50, 75, 100], start=1):
        client.channel_append(p.processid, "progress", i, f"{pct}%", exec_prv)
        time.sleep(0.2)
    client.channel_append(p.processid, "progress", 5, "", exec_prv, payload_type="end")
    client.close(p.processid, ["done: " + p.spec.args[0]], exec_prv)


threading.Thread(target=executor, daemon=True).start()

# 3. a client: submit a job with a channel, follow the progress live, then read the result
spec = func_spec("render", ["frame-42"], colony, "worker")
spec.channels = ["progress"]
job = client.submit_func_spec(spec, user_prv)
print(f"submitted {job.processid[:12]}…")


def show(entries):
    for e in entries:
        if e.get("type") == "end":
            return False
        print("  progress:", e["payload"].decode())
    return True


client.subscribe_channel(job.processid, "progress", user_prv, timeout=30, callback=show)
done = client.wait(job, 30, user_prv)
print("state:", ["waiting", "running", "successful", "failed"][done.state], "output:", done.output)
