"""Power cuts: colonyd runs on powercut-fs (powercut/), a FUSE filesystem that passes every
operation through but remembers what the disk has not made durable. A cut rolls the disk back
to exactly what was fsynced (file data by its own fsync; directory entries by an fsync of their
directory in `strict` mode, also by the file's own fsync in `ext4` mode; `torn` is strict plus
the last unsynced page of each file partly written) at the instant colonyd is killed.

The mixed workload of the chaos test runs between cuts; after every restart every acknowledged
write must be there exactly once and in order, the server must start without repair, and new
writes must succeed. Every other cut lands exactly at an fsync (`cut-at-fsync`), so unsynced
file data is rolled back (and, in torn mode, torn) on most runs; the test checks that it was. Cuts per mode: POWERCUT_CUTS (default 10; release checks run 200).
Needs root and /dev/fuse (skipped otherwise).
"""
import os
import random
import socket
import subprocess
import threading
import time

import pytest
from pycolonies import func_spec

from conftest import Colony
from harness import REPO, Colonyd
from workload import (CANCELLED, FAILED, SUCCESS, Ledger, check, drain, start_workload,
                      stop_workload)

CUTS = int(os.environ.get("POWERCUT_CUTS", "10"))
SEED = int(os.environ.get("POWERCUT_SEED", "20261205"))
FSYNC_DELAY_MS = os.environ.get("POWERCUT_FSYNC_DELAY_MS", "3")
# the first-start test cuts at every STEP-th fsync of a first start (1: every one, the release
# check; a first start makes about 120)
FIRST_START_STEP = int(os.environ.get("POWERCUT_FIRST_START_STEP", "6"))
FS_BIN = os.environ.get("POWERCUT_FS_BIN", os.path.join(REPO, "target", "debug", "powercut-fs"))

needs_fuse = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="power-cut tests mount a FUSE filesystem: need root and /dev/fuse")


def mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


class PowerCutFs:
    """powercut-fs on `root/mnt`, backed by `root/disk`."""

    def __init__(self, root, mode, seed):
        self.disk = os.path.join(root, "disk")
        self.mnt = os.path.join(root, "mnt")
        self.control = os.path.join(root, "control.sock")
        self.log_path = os.path.join(root, "powercut-fs.log")
        self.mode, self.seed = mode, seed
        os.makedirs(self.disk, exist_ok=True)
        os.makedirs(self.mnt, exist_ok=True)
        self.proc = None
        self.cuts = []

    def mount(self):
        assert os.path.exists(FS_BIN), f"{FS_BIN} missing: cargo build -p powercut"
        log = open(self.log_path, "ab")
        self.seed += 1
        self.proc = subprocess.Popen(
            [FS_BIN, "--backing", self.disk, "--mount", self.mnt, "--control", self.control,
             "--mode", self.mode, "--seed", str(self.seed), "--fsync-delay-ms", FSYNC_DELAY_MS], stdout=log, stderr=log)
        deadline = time.time() + 10
        while not mounted(self.mnt):
            assert self.proc.poll() is None, "powercut-fs exited:\n" + self.log()
            assert time.time() < deadline, "powercut-fs did not mount:\n" + self.log()
            time.sleep(0.02)

    def cut(self, at_fsync=None):
        """The power cut: the disk forgets what was not durable; the mount stops working.
        `at_fsync=n`: the n-th fsync from now is where the power goes (between the writes it
        would have made durable and their sync); falls back to a cut now if the workload does
        not sync that often within 10 s."""
        answer = ""
        if at_fsync:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(10)
                s.connect(self.control)
                s.sendall(f"cut-at-fsync {at_fsync}\n".encode())
                try:
                    answer = s.makefile().readline().strip()
                except socket.timeout:
                    answer = ""
        if not answer:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.control)
                s.sendall(b"cut\n")
                answer = s.makefile().readline().strip()
        assert answer.startswith("ok"), answer
        self.cuts.append(answer)
        self.proc.wait(timeout=30)

    def total(self, counter):
        """Sum of one counter (`files_restored`, `torn_pages`, …) over the cuts so far."""
        return sum(int(word.split("=")[1]) for cut in self.cuts for word in cut.split()
                   if word.startswith(counter + "="))

    def unmount(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if mounted(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], check=True)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


@needs_fuse
@pytest.mark.parametrize("mode", ["ext4", "strict", "torn"])
def test_power_cuts_lose_nothing_acknowledged(tmp_path, mode):
    fs = PowerCutFs(str(tmp_path), mode, SEED)
    fs.mount()
    server = Colonyd(tmp_path / "server", data_dir=os.path.join(fs.mnt, "data"),
                     extra_args=["--channel-retention", "7d", "--sync", "always"])
    try:
        server.start()
        colony = Colony(server)
        exec2_prv, exec2_id = colony.add_executor("worker-2")
        executors = [(colony.exec_prv, colony.exec_id), (exec2_prv, exec2_id)]
        ledger = Ledger()
        rng = random.Random(SEED)
        for n in range(CUTS):
            stop, threads = start_workload(server.port, colony, executors, ledger, rng)
            time.sleep(rng.uniform(0.3, 1.5))
            # every other cut lands exactly at an fsync: writes made, their sync not done
            fs.cut(at_fsync=rng.randint(1, 60) if n % 2 else None)
            server.kill()
            ledger.counts["kills"] += 1
            stop_workload(stop, threads)
            fs.unmount()
            fs.mount()
            try:
                server.start()
            except RuntimeError as e:
                pytest.fail(f"{mode}: colonyd did not start after cut {n + 1} ({fs.cuts[-1]}): {e}")
            check(server, colony, ledger, f"{mode}: after cut {n + 1} ({fs.cuts[-1]})")
            assert not ledger.violations, "\n".join(ledger.violations[:20])
            # progress for long release runs (shown with -s)
            print(f"powercut {mode}: cut {n + 1}/{CUTS} survived ({fs.cuts[-1]}); "
                  f"{ledger.counts['appends']} appends acknowledged so far", flush=True)

        states = drain(server, colony, ledger, executors)
        c = server.client()
        p = c.submit_func_spec(func_spec("last", [], "dev", "cli"), colony.user_prv)
        assert c.assign("dev", 5, colony.exec_prv).processid == p.processid
        final = {s: sum(v == s for v in states.values()) for s in (SUCCESS, FAILED, CANCELLED)}
        print(f"powercut {mode}: {CUTS} cuts, {len(states)} processes ended {final}; "
              f"counts {ledger.counts}; last cut: {fs.cuts[-1]}")
        assert ledger.counts["appends"] > 0 and ledger.counts["assigns"] > 0
        assert ledger.counts["packs"] > 0 and ledger.counts["cron runs"] > 0
        assert sum(ledger.reconciles.values()) > len(ledger.reconciles)
        # the cuts really took data away (otherwise this test would prove nothing)
        assert fs.total("files_restored") > 0, fs.cuts
        if mode == "torn":
            assert fs.total("torn_pages") > 0, fs.cuts
    finally:
        server.kill()
        fs.unmount()


@needs_fuse
@pytest.mark.parametrize("mode", ["strict", "torn"])
def test_a_cut_during_the_first_start_needs_no_repair(tmp_path, mode):
    """The power goes at the n-th fsync of a server's very first start (data directory, owner
    records and the storage engine's files being created), for every FIRST_START_STEP-th n
    until a first start completes with fewer syncs: the next start must come up without manual
    repair and take writes. Nothing was acknowledged yet, so nothing may be missing, but nothing may be in the
    way either."""
    cuts = []
    completed_with = None
    for n in range(1, 1000, FIRST_START_STEP):
        root = tmp_path / f"n{n}"
        fs = PowerCutFs(str(root), mode, SEED + n)
        fs.mount()
        server = Colonyd(root / "server", data_dir=os.path.join(fs.mnt, "data"),
                         extra_args=["--sync", "always"])
        answer = []

        def arm():
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(15)
                s.connect(fs.control)
                s.sendall(f"cut-at-fsync {n}\n".encode())
                try:
                    answer.append(s.makefile().readline().strip())
                except (socket.timeout, OSError):
                    pass

        armer = threading.Thread(target=arm)
        armer.start()
        time.sleep(0.3)  # the command is read before colonyd's first sync
        try:
            try:
                server.start(timeout=15)
                started = True
            except RuntimeError:
                started = False  # the cut took the filesystem away under it
            if started:
                time.sleep(1)
                if not answer:
                    # the first start completed with fewer than n syncs: all n are covered
                    completed_with = n
                    break
            armer.join(timeout=20)
            assert answer and answer[0].startswith("ok"), (n, answer, fs.log())
            cuts.append(answer[0])
            server.kill()
            fs.proc.wait(timeout=30)
            fs.unmount()
            fs.mount()
            try:
                server.start()
            except RuntimeError as e:
                pytest.fail(f"{mode}: a cut at fsync {n} of the first start needs repair: {e}")
            colony = Colony(server)  # a colony, executors and a user: new writes succeed
            c = server.client()
            p = c.submit_func_spec(func_spec("after", [], "dev", "cli"), colony.user_prv)
            assert c.assign("dev", 5, colony.exec_prv).processid == p.processid
        finally:
            server.kill()
            fs.unmount()
            armer.join(timeout=20)
    assert completed_with is not None, "the first start never completed"
    assert len(cuts) >= 3, cuts
    # the cuts undid creations the first start had made (otherwise this proves nothing)
    undone = sum(int(w.split("=")[1]) for c in cuts for w in c.split()
                 if w.startswith("entry_changes_undone="))
    assert undone > 0, cuts
    print(f"powercut {mode}: a first start of fewer than {completed_with} fsyncs cut at "
          f"{len(cuts)} of them (every {FIRST_START_STEP}th), {undone} directory entries "
          f"undone; every restart clean")
