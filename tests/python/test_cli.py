"""The operator CLI in the same binary: keygen, process ls, channel tail, backup/restore,
help and exit codes."""
import os
import subprocess
import time

from pycolonies import func_spec

from harness import BIN, SERVER_PRVKEY, Colonyd


def run(args, env=None, timeout=60):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN] + args, capture_output=True, text=True, env=e, timeout=timeout)


def on_a_terminal(args, env=None):
    """Runs with stderr on a pseudo-terminal; returns (stdout, what the terminal showed)."""
    import pty
    master, slave = pty.openpty()
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=slave, text=True, env=e)
    os.close(slave)
    out, _ = p.communicate(timeout=60)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert p.returncode == 0, shown
    return out, shown.decode(errors="replace")


def client_env(colony, prv):
    return {"COLONIES_SERVER_HOST": "127.0.0.1", "COLONIES_SERVER_PORT": str(colony.server.port),
            "COLONIES_PRVKEY": prv, "COLONIES_COLONY_NAME": "dev", "COLONIES_SERVER_PRVKEY": SERVER_PRVKEY}


def test_keygen_help_and_exit_codes():
    r = run(["keygen"])
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) == 2
    assert lines[0].startswith("prvkey=") and len(lines[0]) == 7 + 64
    assert lines[1].startswith("id=") and len(lines[1]) == 3 + 64
    assert run(["--help"]).returncode == 0
    r = run(["serve", "--help"])
    assert r.returncode == 0 and "--listen" in r.stdout and "--channel-retention" in r.stdout
    assert run(["nonsense"]).returncode == 2
    assert run(["serve", "--bogus"]).returncode == 2
    assert run(["process", "ls"], env={"COLONIES_PRVKEY": ""}).returncode == 2


def test_process_ls_and_channel_tail(colony):
    c = colony.client
    spec = func_spec("tailme", [], "dev", "cli")
    spec.channels = ["log"]
    p = c.submit_func_spec(spec, colony.user_prv)
    r = run(["process", "ls", "--state", "waiting"], env=client_env(colony, colony.user_prv))
    assert r.returncode == 0, r.stderr
    assert p.processid in r.stdout and "tailme" in r.stdout
    c.assign("dev", 5, colony.exec_prv)
    c.channel_append(p.processid, "log", 1, "hello", colony.exec_prv)
    # --json: JSON Lines, the entries as the server sends them plus their text
    import json
    r = run(["channel", "tail", p.processid, "log", "--json", "--timeout", "1"],
            env=client_env(colony, colony.user_prv))
    assert r.returncode == 0, r.stderr
    entries = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(e["sequence"], e["text"]) for e in entries] == [(1, "hello")]
    assert entries[0]["senderid"] == colony.exec_id and entries[0]["type"] == "data"
    proc = subprocess.Popen([BIN, "channel", "tail", p.processid, "log", "--timeout", "20"],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **client_env(colony, colony.user_prv)})
    time.sleep(0.5)
    c.channel_append(p.processid, "log", 2, "world", colony.exec_prv, payload_type="end")
    c.close(p.processid, [], colony.exec_prv)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = out.strip().splitlines()
    assert [l.split("\t")[3] for l in lines] == ["hello", "world"]
    assert lines[1].split("\t")[1] == "end"
    # a refusal is exit code 1 with the server's message
    r = run(["channel", "tail", p.processid, "nope"], env=client_env(colony, colony.user_prv))
    assert r.returncode == 1 and "Channel not found" in r.stderr


def test_backup_of_a_running_server_and_restore(colony, tmp_path):
    c = colony.client
    p = c.submit_func_spec(func_spec("keep", [], "dev", "cli"), colony.user_prv)
    r = run(["backup", "backups/one"], env=client_env(colony, colony.user_prv))
    assert r.returncode == 0, r.stderr
    assert "backup written to" in r.stdout
    import json
    r = run(["backup", "backups/two", "--json"], env=client_env(colony, colony.user_prv))
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["records"] > 0 and answer["dir"].endswith(os.path.join("backups", "two"))
    backup = os.path.join(colony.server.data_dir, "backups", "one")
    # a second backup into the same (non-empty) directory is refused
    assert run(["backup", "backups/one"], env=client_env(colony, colony.user_prv)).returncode == 1
    # the backup stays inside the data directory
    for escape in ["../escape", "/tmp/escape"]:
        r = run(["backup", escape], env=client_env(colony, colony.user_prv))
        assert r.returncode == 1 and "relative path inside the data directory" in r.stderr, r.stderr
    # only the server owner may ask
    assert run(["backup", "x"], env={**client_env(colony, colony.user_prv),
                                     "COLONIES_SERVER_PRVKEY": colony.user_prv}).returncode == 1
    restored = tmp_path / "restored"
    r = run(["restore", backup, "--data-dir", str(restored / "data")])
    assert r.returncode == 0, r.stderr
    # not a terminal: the result line on stdout, no progress on stderr
    assert r.stderr == "" and "files" in r.stdout, (r.stdout, r.stderr)
    # on a terminal, progress on stderr (and the same result line)
    out, err = on_a_terminal(["restore", backup, "--data-dir", str(restored / "tty")])
    assert "restoring:" in err and "restored" in out, (out, err)
    out, err = on_a_terminal(["backup", "backups/tty"], env=client_env(colony, colony.user_prv))
    assert "backing up:" in err and "backup written to" in out, (out, err)
    assert run(["restore", backup, "--data-dir", str(restored / "data")]).returncode == 1  # not empty
    s2 = Colonyd(restored).start()
    try:
        q = s2.client().get_process(p.processid, colony.user_prv)
        assert q.spec.funcname == "keep"
        assert [x["name"] for x in s2.client().list_colonies(SERVER_PRVKEY)] == ["dev"]
    finally:
        s2.kill()


def test_readme_walkthrough_runs(colony):
    """The README's walk-through script works as documented."""
    import sys
    env = {**os.environ, "COLONIES_SERVER_HOST": "127.0.0.1", "COLONIES_SERVER_PORT": str(colony.server.port),
           "COLONIES_SERVER_PRVKEY": SERVER_PRVKEY}
    site = os.path.dirname(__import__("pycolonies").__file__)
    env["PYTHONPATH"] = site + os.pathsep + env.get("PYTHONPATH", "")
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "..", "..", "examples", "walkthrough.py")
    r = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "progress: 25%" in r.stdout and "progress: 100%" in r.stdout
    assert "state: successful output: ['done: frame-42']" in r.stdout


def test_status_as_a_table_and_as_json(colony):
    import json
    c = colony.client
    spec = func_spec("counted", [], "dev", "cli")
    spec.channels = ["log"]
    done = c.submit_func_spec(spec, colony.user_prv)
    c.assign("dev", 5, colony.exec_prv)
    c.channel_append(done.processid, "log", 1, "x", colony.exec_prv)
    c.close(done.processid, [], colony.exec_prv)
    c.submit_func_spec(func_spec("waits", [], "dev", "cli"), colony.user_prv)
    env = client_env(colony, colony.user_prv)
    r = run(["status", "--json"], env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["statistics"]["colonies"] == 1 and s["statistics"]["executors"] == 1
    assert s["statistics"]["waitingprocesses"] == 1 and s["statistics"]["successfulprocesses"] == 1
    st = s["status"]
    assert st["sync"] == "always" and st["tls"] is False and st["uptimeseconds"] >= 0
    assert os.path.samefile(st["datadir"], colony.server.data_dir)
    assert st["storebytes"] > 0 and st["freediskbytes"] > 0
    assert st["mindiskreservebytes"] == 64 << 20
    assert st["version"] and s["serverinfo"]["backends"][0]["port"] == colony.server.port
    r = run(["status"], env=env)
    assert r.returncode == 0, r.stderr
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines() if line.strip())
    assert rows["sync"] == "always" and rows["colonies"] == "1"
    assert rows["processes"].startswith("waiting 1, running 0, successful 1,")
    assert rows["executors"].startswith("1 (")
    assert "since" in rows["uptime"] and "stop below 64.0 MiB" in rows["free"]
    # only the server owner may ask
    r = run(["status"], env={**env, "COLONIES_SERVER_PRVKEY": colony.user_prv})
    assert r.returncode == 1 and "not server owner" in r.stderr, r.stderr
