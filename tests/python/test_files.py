"""ColonyFS files and snapshots (issue 15) end to end: unmodified pycolonies moves the bytes to
and from a real S3-compatible server (moto in server mode on loopback) and registers them with
colonyd; what pycolonies cannot send (removesnapshotmsg, removeallsnapshotmsg, an addfilemsg
carrying S3 credentials as the Go fs client does) goes through the harness's signed client."""
import hashlib
import os
import socket
import subprocess
import sys
import time

import pytest

from harness import COLONY_PRVKEY, new_key

HERE = os.path.dirname(__file__)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on loopback, for the module."""
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    yield port
    proc.kill()
    proc.wait()


@pytest.fixture
def s3_env(s3, monkeypatch):
    for k, v in {"AWS_S3_ENDPOINT": f"127.0.0.1:{s3}", "AWS_S3_ACCESSKEY": "test-access",
                 "AWS_S3_SECRETKEY": "test-secret", "AWS_S3_REGION": "us-east-1",
                 "AWS_S3_TLS": "false", "AWS_S3_BUCKET": "colonyfs", "AWS_S3_SKIPVERIFY": "false"}.items():
        monkeypatch.setenv(k, v)
    return s3


def ok(colony, msg, prv=None):
    status, err, payload = colony.server.rpc(msg, prv or colony.user_prv)
    assert status == 200 and not err, (status, payload)
    return payload


def test_upload_list_download_delete_through_pycolonies(colony, s3_env, tmp_path):
    c = colony.client
    src = tmp_path / "reading.csv"
    src.write_bytes(b"t,v\n1,20.5\n2,21.0\n")
    f = c.upload_file(colony.name, colony.exec_prv, filepath=str(src), label="/sensors")
    assert len(f["fileid"]) == 64 and f["sequencenr"] >= 1 and f["added"] != "0001-01-01T00:00:00Z"
    assert f["ref"]["protocol"] == "s3" and f["checksum"] == hashlib.sha256(src.read_bytes()).hexdigest()
    c.upload_data(colony.name, colony.exec_prv, filename="note.txt", data=b"hello", label="/sensors/raw")

    listed = c.get_files("/sensors", colony.name, colony.user_prv)
    assert [x["name"] for x in listed] == ["reading.csv"] and listed[0]["size"] == src.stat().st_size
    labels = {x["name"]: x["files"] for x in c.get_file_labels(colony.name, colony.user_prv)}
    assert labels == {"/sensors": 1, "/sensors/raw": 1}
    assert len(c.get_file_labels(colony.name, colony.user_prv, name="/sensors", exact=True)) == 2
    assert c.get_file_labels(colony.name, colony.user_prv, name="/nothing") is None

    # a second revision: listed once (the newest), both kept, newest first
    src.write_bytes(b"t,v\n1,20.5\n2,21.0\n3,22.0\n")
    f2 = c.upload_file(colony.name, colony.exec_prv, filepath=str(src), label="/sensors")
    assert f2["sequencenr"] > f["sequencenr"]
    revs = c.get_file(colony.name, colony.user_prv, label="/sensors", filename="reading.csv", latest=False)
    assert [r["fileid"] for r in revs] == [f2["fileid"], f["fileid"]]
    assert c.get_files("/sensors", colony.name, colony.user_prv)[0]["size"] == src.stat().st_size

    # the bytes come back from S3 through the reference colonyd kept
    dst = tmp_path / "out"
    dst.mkdir()
    c.download_file(colony.name, colony.user_prv, dst=str(dst), label="/sensors", filename="reading.csv")
    assert (dst / "reading.csv").read_bytes() == src.read_bytes()
    assert c.download_data(colony.name, colony.user_prv, label="/sensors/raw", filename="note.txt") == b"hello"

    c.delete_file(colony.name, colony.user_prv, label="/sensors/raw", filename="note.txt")
    assert c.get_files("/sensors/raw", colony.name, colony.user_prv) == []
    with pytest.raises(Exception, match="Failed to get file"):
        c.get_file(colony.name, colony.user_prv, label="/sensors/raw", filename="note.txt")


def test_snapshots_through_pycolonies_and_the_go_client(colony, s3_env):
    c = colony.client
    c.upload_data(colony.name, colony.exec_prv, filename="a", data=b"1", label="/set")
    c.upload_data(colony.name, colony.exec_prv, filename="b", data=b"2", label="/set/sub")
    newest = c.upload_data(colony.name, colony.exec_prv, filename="a", data=b"11", label="/set")
    snap = c.create_snapshot(colony.name, "/set/", "v1", colony.user_prv)
    assert snap["label"] == "/set" and snap["name"] == "v1"
    assert len(snap["fileids"]) == 2 and newest["fileid"] in snap["fileids"]
    assert c.get_snapshot_by_name(colony.name, "v1", colony.exec_prv) == snap
    assert c.get_snapshot_by_id(colony.name, snap["snapshotid"], colony.exec_prv) == snap
    with pytest.raises(Exception, match="already exists"):
        c.create_snapshot(colony.name, "/set", "v1", colony.user_prv)
    empty = c.create_snapshot(colony.name, "/nothing", "v0", colony.user_prv)
    assert empty["fileids"] is None
    assert [s["name"] for s in c.get_snapshots(colony.name, colony.user_prv)] == ["v0", "v1"]

    # what pycolonies 1.0.25 has no call for, as the Go client sends it
    assert ok(colony, {"colonyname": colony.name, "snapshotid": "", "name": "v0",
                       "msgtype": "removesnapshotmsg"}) == {}
    assert [s["name"] for s in c.get_snapshots(colony.name, colony.user_prv)] == ["v1"]
    assert ok(colony, {"colonyname": colony.name, "msgtype": "removeallsnapshotmsg"}) == {}
    assert c.get_snapshots(colony.name, colony.user_prv) is None
    # files outlive their snapshots
    assert len(c.get_files("/set", colony.name, colony.user_prv)) == 1


def test_credentials_reach_only_members(colony):
    """The Go fs client registers a file with the S3 credentials it used; members read them
    back (as upstream), nobody else gets the file at all."""
    go_file = {"fileid": "", "colonyname": colony.name, "label": "/secure", "name": "key.bin",
               "size": 3, "sequencenr": 0, "checksum": "ab", "checksumalg": "SHA256",
               "ref": {"protocol": "s3", "s3object": {
                   "server": "minio.lab:9000", "port": -1, "tls": True, "accesskey": "AKIA-SECRET",
                   "secretkey": "very-secret-key", "region": "", "encryptionkey": "",
                   "encryptionalg": "", "object": "0" * 64, "bucket": "colonies"}},
               "added": "0001-01-01T00:00:00Z"}
    f = ok(colony, {"file": go_file, "msgtype": "addfilemsg"}, colony.exec_prv)
    got = ok(colony, {"colonyname": colony.name, "fileid": f["fileid"], "label": "", "name": "",
                      "latest": False, "msgtype": "getfilemsg"})
    assert got[0]["ref"]["s3object"]["secretkey"] == "very-secret-key"
    stranger, _ = new_key()
    for prv in (stranger, COLONY_PRVKEY):  # the colony owner is not a member, as upstream
        status, err, payload = colony.server.rpc(
            {"colonyname": colony.name, "fileid": f["fileid"], "label": "", "name": "",
             "latest": False, "msgtype": "getfilemsg"}, prv)
        assert status == 403 and "very-secret-key" not in str(payload)
    # and the server never writes them to its log
    assert "very-secret-key" not in colony.server.log() and "AKIA-SECRET" not in colony.server.log()
    # removing by label and name removes every revision
    ok(colony, {"file": go_file, "msgtype": "addfilemsg"}, colony.exec_prv)
    assert ok(colony, {"colonyname": colony.name, "fileid": "", "label": "/secure", "name": "key.bin",
                       "msgtype": "removefilemsg"}) == {}
    status, _, _ = colony.server.rpc({"colonyname": colony.name, "fileid": "", "label": "/secure",
                                      "name": "key.bin", "latest": False, "msgtype": "getfilemsg"},
                                     colony.user_prv)
    assert status == 404
