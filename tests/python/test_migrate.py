"""Moving up: `colonyd export` writes a server's configuration state, `colonyd import` replays it
into another server with upstream's own messages, each signed by the key it needs.

Server A is populated through pycolonies and raw messages (two colonies, approved, pending and
rejected executors, users, a function, a location, a blueprint definition and blueprint, a
cron, a generator); its export is imported into a fresh server B with a different owner, and B's
export must hold every object A's holds, field for field, except what a server sets itself
(VOLATILE below). A second import finds everything present; a keys file without an executor's
key refuses that executor's function, naming the key; --dry-run sends nothing."""
import json
import os

from conftest import Colony
from harness import COLONY_PRVKEY, Colonyd, new_key
from test_blueprints import blueprint, definition
from test_cli import run
from test_schedules import spec_json

# fields the target server sets itself, by kind (IDs it generates, times, counters, runtime
# state); everything else must arrive unchanged
VOLATILE = {
    "executors": {"commissiontime", "lastheardfromtime"},
    "functions": {"functionid"},
    "blueprintdefinitions": {"blueprintdefinitionid"},
    "blueprints": {"blueprintid"},
    "crons": {"cronid", "nextrun"},
    "generators": {"generatorid"},
}
NAME = {
    "executors": lambda o: o["executorname"],
    "users": lambda o: o["name"],
    "functions": lambda o: (o["executorname"], o["funcname"]),
    "locations": lambda o: o["name"],
    "blueprintdefinitions": lambda o: o["metadata"]["name"],
    "blueprints": lambda o: o["metadata"]["name"],
    "crons": lambda o: o["name"],
    "generators": lambda o: o["name"],
}


def ok(server, msg, prv):
    status, err, payload = server.rpc(msg, prv)
    assert status == 200 and not err, (msg["msgtype"], status, payload)
    return payload


def populate(a):
    dev = Colony(a)
    c = dev.client
    dev.add_executor("pending-1", approve=False)
    dev.add_executor("rejected-1", approve=False)
    ok(a, {"msgtype": "rejectexecutormsg", "colonyname": "dev", "executorname": "rejected-1"},
       COLONY_PRVKEY)
    c.add_function("dev", "worker-1", "echo", dev.exec_prv)
    ok(a, {"msgtype": "addlocationmsg", "location": {
        "locationid": "ab" * 32, "name": "lab", "colonyname": "dev", "description": "the lab",
        "long": 18.07, "lat": 59.33}}, COLONY_PRVKEY)
    c.add_blueprint_definition(definition(dev, handler=False), COLONY_PRVKEY)
    c.add_blueprint(blueprint(dev, "lamp", location="lab"), dev.user_prv)
    wf = {"colonyname": "dev", "functionspecs": [spec_json(dev)]}
    ok(a, {"msgtype": "addcronmsg", "cron": {
        "name": "nightly", "colonyname": "dev", "cronexpression": "0 0 3 * * *", "interval": -1,
        "waitforprevprocessgraph": True, "workflowspec": json.dumps(wf)}}, dev.user_prv)
    c.add_generator({"colonyname": "dev", "name": "batcher", "trigger": 5, "timeout": -1,
                     "workflowspec": json.dumps(wf)}, dev.exec_prv)
    lab = Colony(a, name="lab", executortype="gpu")
    return dev, lab


def keys_file(path, server_prv, *colonies, skip=()):
    lines = ["# colonyd import keys", f"server   {server_prv}"]
    for col in colonies:
        lines.append(f"colony-{col.name}  {col.colony_prv}")
        lines.append(f"user-{col.name}    {col.user_prv}")
        for prv in col.keys:
            if prv not in skip:
                lines.append(prv)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def env_for(server, owner_prv):
    return {"COLONIES_SERVER_HOST": "127.0.0.1", "COLONIES_SERVER_PORT": str(server.port),
            "COLONIES_SERVER_PRVKEY": owner_prv}


def export(server, owner_prv, path):
    r = run(["export", str(path)], env=env_for(server, owner_prv))
    assert r.returncode == 0, r.stderr
    return json.load(open(path)), r.stderr


def by_kind(doc):
    """colony → kind → name → object without its volatile fields."""
    out = {}
    for c in doc["colonies"]:
        kinds = {"colony": c["colony"]}
        for kind, name in NAME.items():
            kinds[kind] = {name(o): {k: v for k, v in o.items() if k not in VOLATILE.get(kind, ())}
                           for o in c[kind] or []}
        out[c["colony"]["name"]] = kinds
    return out


def differences(src, dst):
    """Every (colony, kind, name, field) whose value differs, with both values."""
    out = []
    for col in sorted(set(src) | set(dst)):
        a, b = src.get(col, {}), dst.get(col, {})
        if a.get("colony") != b.get("colony"):
            out.append((col, "colony", a.get("colony"), b.get("colony")))
        for kind in NAME:
            ka, kb = a.get(kind, {}), b.get(kind, {})
            for name in sorted(set(ka) | set(kb), key=str):
                oa, ob = ka.get(name), kb.get(name)
                if oa is None or ob is None:
                    out.append((col, kind, name, "missing", oa is None, ob is None))
                    continue
                for f in sorted(set(oa) | set(ob)):
                    if oa.get(f) != ob.get(f):
                        out.append((col, kind, name, f, oa.get(f), ob.get(f)))
    return out


def test_export_then_import_into_a_fresh_server_carries_every_object(tmp_path):
    a = Colonyd(tmp_path / "a").start()
    b_prv, _ = new_key()
    b = Colonyd(tmp_path / "b", env={"COLONIES_SERVER_PRVKEY": b_prv}).start()
    try:
        dev, lab = populate(a)
        # the executors that register functions sign them: their keys go into the keys file
        dev.keys, lab.keys = [dev.exec_prv], [lab.exec_prv]
        doc, said = export(a, dev.server.env["COLONIES_SERVER_PRVKEY"], tmp_path / "a.json")
        assert doc["format"] == "colonyd-export" and doc["version"] == 1
        assert "exported 2 colonies, 4 executors, 2 users, 1 functions, 1 locations, " \
               "1 blueprint definitions, 1 blueprints, 1 crons, 1 generators" in said, said
        src = by_kind(doc)
        assert sorted(src) == ["dev", "lab"]
        states = {n: e["state"] for n, e in src["dev"]["executors"].items()}
        assert states == {"worker-1": 1, "pending-1": 0, "rejected-1": 2}

        keys = keys_file(tmp_path / "keys", b_prv, dev, lab)
        r = run(["import", str(tmp_path / "a.json"), "--keys", keys], env=env_for(b, b_prv))
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert all(line.startswith("created ") for line in lines[:-1]), r.stdout
        assert "created    function            dev/worker-1/echo" in lines, r.stdout
        assert lines[-1].endswith(": 14 created, 0 present, 0 would be sent, 0 refused"), lines[-1]

        dst = by_kind(export(b, b_prv, tmp_path / "b.json")[0])
        assert differences(src, dst) == []
        assert sum(len(v) for c in dst.values() for k, v in c.items() if k != "colony") == 12

        # again: everything is already there, nothing is added twice
        r = run(["import", str(tmp_path / "a.json"), "--keys", keys, "--json"],
                env=env_for(b, b_prv))
        assert r.returncode == 0, r.stdout + r.stderr
        report = json.loads(r.stdout)
        assert len(report) == 14 and {i["outcome"] for i in report} == {"present"}, report
        assert differences(src, by_kind(export(b, b_prv, tmp_path / "b2.json")[0])) == []
    finally:
        a.kill()
        b.kill()


def test_import_names_the_key_it_lacks_and_dry_run_sends_nothing(tmp_path):
    a = Colonyd(tmp_path / "a").start()
    c_prv, _ = new_key()
    c = Colonyd(tmp_path / "c", env={"COLONIES_SERVER_PRVKEY": c_prv}).start()
    try:
        dev, lab = populate(a)
        dev.keys, lab.keys = [dev.exec_prv], [lab.exec_prv]
        doc, _ = export(a, a.env["COLONIES_SERVER_PRVKEY"], tmp_path / "a.json")
        worker = next(e for e in doc["colonies"][0]["executors"] if e["executorname"] == "worker-1")
        keys = keys_file(tmp_path / "keys", c_prv, dev, lab, skip=(dev.exec_prv,))

        r = run(["import", str(tmp_path / "a.json"), "--keys", keys, "--dry-run"],
                env=env_for(c, c_prv))
        assert r.returncode == 1, r.stdout + r.stderr
        assert "would send colony              dev (signed by" in r.stdout, r.stdout
        assert (f"REFUSED    function            dev/worker-1/echo: needs the key of executor "
                f"dev/worker-1 (ID {worker['executorid']}), not in the keys file") in r.stdout
        assert "13 would be sent, 1 refused" in r.stdout
        status, err, payload = c.rpc({"msgtype": "getcoloniesmsg"}, c_prv)
        assert status == 200 and not payload, payload  # nothing was sent

        r = run(["import", str(tmp_path / "a.json"), "--keys", keys], env=env_for(c, c_prv))
        assert r.returncode == 1 and "1 items refused" in r.stderr, r.stdout + r.stderr
        assert ": 13 created, 0 present, 0 would be sent, 1 refused" in r.stdout, r.stdout
        got = by_kind(export(c, c_prv, tmp_path / "c.json")[0])
        assert got["dev"]["functions"] == {}
        assert sorted(got["dev"]["executors"]) == ["pending-1", "rejected-1", "worker-1"]

        # a keys file with only a user's key: each item says which key it lacks; what that
        # key may sign is sent (and is already there)
        nokeys = tmp_path / "nokeys"
        nokeys.write_text(dev.user_prv + "\n")
        env = dict(env_for(c, c_prv), COLONIES_SERVER_PRVKEY="")
        r = run(["import", str(tmp_path / "a.json"), "--keys", str(nokeys), "--json"], env=env)
        assert r.returncode == 1, r.stdout + r.stderr
        report = {(i["kind"], i["name"]): i for i in json.loads(r.stdout)}
        assert report[("colony", "dev")]["outcome"] == "refused"
        assert "needs the key of the server owner" in report[("colony", "dev")]["message"]
        assert "needs the key of colony dev's owner" in report[("user", "dev/alice")]["message"]
        assert report[("cron", "dev/nightly")]["outcome"] == "present"
        assert report[("cron", "dev/nightly")]["signer"] == dev.user_id
    finally:
        a.kill()
        c.kill()


def test_export_and_import_refuse_bad_input_with_a_clear_message(tmp_path, colony):
    env = env_for(colony.server, colony.server.env["COLONIES_SERVER_PRVKEY"])
    r = run(["export", str(tmp_path / "x.json")], env=dict(env, COLONIES_SERVER_PRVKEY=colony.user_prv))
    assert r.returncode == 1 and "not server owner" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "x.json")
    (tmp_path / "bad.json").write_text('{"colonies": []}')
    (tmp_path / "keys").write_text(colony.colony_prv + "\n")
    r = run(["import", str(tmp_path / "bad.json"), "--keys", str(tmp_path / "keys")], env=env)
    assert r.returncode == 1 and "not a colonyd export" in r.stderr, r.stderr
    (tmp_path / "v9.json").write_text('{"format": "colonyd-export", "version": 9}')
    r = run(["import", str(tmp_path / "v9.json"), "--keys", str(tmp_path / "keys")], env=env)
    assert r.returncode == 1 and "version 9 is not supported" in r.stderr, r.stderr
    (tmp_path / "empty.json").write_text('{"format": "colonyd-export", "version": 1, "colonies": []}')
    (tmp_path / "badkeys").write_text("# keys\nserver nothex\n")
    r = run(["import", str(tmp_path / "empty.json"), "--keys", str(tmp_path / "badkeys")], env=env)
    assert r.returncode == 2 and "badkeys: line 2: not a private key" in r.stderr, r.stderr


def test_commands_do_not_panic_when_their_output_is_gone(tmp_path, colony):
    """`colonyd import … | head` and friends: a closed standard output ends no command with a
    panic (Rust ignores SIGPIPE, so every write fails with EPIPE instead)."""
    import subprocess
    from harness import BIN
    env = dict(os.environ, **env_for(colony.server, colony.server.env["COLONIES_SERVER_PRVKEY"]))
    doc, _ = export(colony.server, env["COLONIES_SERVER_PRVKEY"], tmp_path / "a.json")
    (tmp_path / "keys").write_text(colony.colony_prv + "\n")
    for args in (["keygen"], ["import", str(tmp_path / "a.json"), "--keys", str(tmp_path / "keys"),
                              "--dry-run"], ["export", "-"], ["status"]):
        r_fd, w_fd = os.pipe()
        os.close(r_fd)  # nobody reads: every write to stdout fails
        p = subprocess.run([BIN] + args, stdout=w_fd, stderr=subprocess.PIPE, text=True,
                           env=env, timeout=60)
        os.close(w_fd)
        assert "panicked" not in p.stderr, (args, p.stderr)
