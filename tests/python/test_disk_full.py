"""Disk full, on a small filesystem (a tmpfs mounted for the test; needs root or a user
namespace, as CI has).

1. With the reserve (`--min-free-disk`): once free space drops below it, writes that add data
   are refused with 507 and a clear message, reads and removals keep working, and writes resume
   by themselves when space is freed. Nothing acknowledged is lost.
2. Without a reserve, when a write really hits ENOSPC, the storage engine cannot continue:
   colonyd refuses the write, exits non-zero (systemd restarts it) and loses nothing
   acknowledged; it starts again once space is available.
"""
import os
import shutil
import subprocess

import pytest
from pycolonies import func_spec

from conftest import Colony
from harness import Colonyd

FS_SIZE = 160 << 20


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """A ballast file that leaves about `leave` bytes free (0: until ENOSPC)."""
    ballast = os.path.join(path, "ballast")
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    chunk = b"\0" * (1 << 20)
    try:
        while free_bytes(path) - len(chunk) >= leave:
            os.write(fd, chunk)
        if leave == 0:
            while True:
                os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)
    return ballast


def spec(channels=()):
    s = func_spec("job", [], "dev", "cli")
    s.channels = list(channels)
    return s


def test_reserve_refuses_writes_keeps_reads_and_recovers(small_fs):
    server = Colonyd(small_fs / "srv", extra_args=["--min-free-disk", "32MiB",
                                                  "--channel-retention", "1h"]).start()
    try:
        colony = Colony(server)
        c = colony.client
        acked = [c.submit_func_spec(spec(["log"]), colony.user_prv).processid for _ in range(5)]
        running = c.assign("dev", 5, colony.exec_prv)
        for i in range(1, 4):
            c.channel_append(running.processid, "log", i, f"entry {i}", colony.exec_prv)

        ballast = fill(str(small_fs), leave=16 << 20)
        assert free_bytes(str(small_fs)) < 32 << 20
        # writes that add data: 507 with a clear message, nothing written
        st, err, payload = server.rpc({"msgtype": "submitfuncspecmsg",
                                       "spec": spec().model_dump(by_alias=True)}, colony.user_prv)
        assert (st, err) == (507, True), payload
        assert "insufficient storage" in payload["message"] and "--min-free-disk" in payload["message"]
        with pytest.raises(Exception) as e:
            c.channel_append(running.processid, "log", 4, "refused", colony.exec_prv)
        assert "insufficient storage" in str(e.value)
        # reads keep working
        assert {p["processid"] for p in c.list_processes("dev", 100, 0, colony.user_prv)} \
            >= set(acked) - {running.processid}
        assert [e["payload"] for e in c.channel_read(running.processid, "log", 0, 0, colony.user_prv)] \
            == [b"entry 1", b"entry 2", b"entry 3"]
        assert c.get_process(running.processid, colony.user_prv).state == 1
        # removals free space and still go through
        c.remove_process(acked[-1], colony.user_prv)
        acked.pop()
        # space freed: writes resume by themselves
        os.remove(ballast)
        p = c.submit_func_spec(spec(), colony.user_prv)
        acked.append(p.processid)
        c.channel_append(running.processid, "log", 4, "after", colony.exec_prv)
        assert "disk almost full" in server.log() and "disk space recovered" in server.log()
        # and nothing acknowledged is lost across a crash
        server.restart_after_kill()
        c = server.client()
        for pid in acked:
            assert c.get_process(pid, colony.user_prv).processid == pid
        assert len(c.channel_read(running.processid, "log", 0, 0, colony.user_prv)) == 4
    finally:
        server.kill()


def test_hard_enospc_exits_non_zero_and_loses_nothing(small_fs):
    server = Colonyd(small_fs / "srv", extra_args=["--min-free-disk", "0"]).start()
    colony = Colony(server)
    c = colony.client
    acked = [c.submit_func_spec(spec(), colony.user_prv).processid for _ in range(5)]
    ballast = fill(str(small_fs), leave=0)
    failure = None
    for _ in range(2000):  # bounded: the journal's last page fills within a few hundred writes
        try:
            acked.append(c.submit_func_spec(spec(), colony.user_prv).processid)
        except Exception as e:
            failure = str(e)
            break
    assert failure is not None, "a full disk never refused a write"
    code = server.proc.wait(timeout=60)
    assert code != 0, "colonyd must exit non-zero so that systemd restarts it"
    log = server.log()
    assert "storage commit failed" in log or "storage sync failed" in log, log[-2000:]
    # while the disk is still full it may refuse to start; once space is back it must start
    os.remove(ballast)
    server.start()
    try:
        c = server.client()
        for pid in acked:
            assert c.get_process(pid, colony.user_prv).processid == pid
        c.submit_func_spec(spec(), colony.user_prv)
        print(f"hard ENOSPC after {len(acked)} acknowledged submits: {failure!r}, exit code {code}")
    finally:
        server.kill()
    shutil.rmtree(small_fs / "srv", ignore_errors=True)
