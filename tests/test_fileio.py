"""dynconv.fileio: atomic writes, the run-folder lock, cleanup of stale temporaries."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dynconv.fileio import LOCK_NAME, RunFolderBusy, RunLock, atomic_path, clean_temporaries


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "log.csv"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".csv" and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_atomic_path_names_are_unique_and_hidden(tmp_path):
    target = tmp_path / "curves.png"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b and a.name.startswith(".curves.png") and a.suffix == ".png"
        a.write_bytes(b"a"), b.write_bytes(b"b")
    assert target.read_bytes() == b"a"  # the outer block exits last
    assert list(tmp_path.glob("*.png")) == [target]


def test_atomic_file_gets_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "w.npz") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o644


def test_clean_temporaries_removes_only_ours(tmp_path):
    keep = [tmp_path / "checkpoint.npz", tmp_path / ".hidden", tmp_path / "x.tmp"]
    for p in keep:
        p.write_text("k")
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "checkpoint.npz") as tmp:
        stale = tmp.with_name(tmp.name + "x")  # what a kill -9 mid-write leaves
        stale.write_text("partial")
        raise KeyboardInterrupt
    assert clean_temporaries(tmp_path) == [stale]
    assert sorted(tmp_path.iterdir()) == sorted(keep)


def test_lock_refuses_a_second_holder_naming_the_first(tmp_path):
    with RunLock(tmp_path / "run") as lock:
        assert lock.held and (tmp_path / "run" / LOCK_NAME).is_file()
        info = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid()
        with pytest.raises(RunFolderBusy, match=rf"run is in use by another run \(pid {os.getpid()} on "):
            RunLock(tmp_path / "run").acquire()
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    with RunLock(tmp_path / "run"):  # free again
        pass


def test_lock_of_a_killed_process_is_not_stale(tmp_path):
    """A holder killed with SIGKILL leaves the file, but the kernel has dropped its flock."""
    code = textwrap.dedent(f"""
        import os, sys
        sys.path[:0] = {sys.path!r}
        from dynconv.fileio import RunLock
        RunLock({str(tmp_path)!r}).acquire()
        os.kill(os.getpid(), 9)
    """)
    out = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert out.returncode == -9
    assert (tmp_path / LOCK_NAME).exists()
    with RunLock(tmp_path) as lock:
        assert lock.held


def test_lock_held_by_another_live_process(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = {sys.path!r}
        from dynconv.fileio import RunLock
        RunLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=rf"pid {holder.pid} "):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link") as info:
        RunLock(run).acquire()
    assert str(run / LOCK_NAME) in str(info.value)
    assert victim.read_text() == "precious"
    (run / LOCK_NAME).unlink()
    (run / LOCK_NAME).symlink_to(tmp_path / "nowhere")  # a dangling link is not created either
    with pytest.raises(OSError, match="symbolic link"):
        RunLock(run).acquire()
    assert not (tmp_path / "nowhere").exists()


def test_a_lock_that_is_a_hard_link_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    os.link(victim, run / LOCK_NAME)
    with pytest.raises(OSError, match="not a plain file of its own"):
        RunLock(run).acquire()
    assert victim.read_text() == "precious"


def test_safe_open_new_never_reuses_an_existing_name(tmp_path):
    from dynconv.fileio import safe_open

    (tmp_path / "t").write_text("x")
    with pytest.raises(FileExistsError):
        safe_open(tmp_path / "t", new=True)
    (tmp_path / "l").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        safe_open(tmp_path / "l", new=True)
    assert not (tmp_path / "elsewhere").exists()
    fd = safe_open(tmp_path / "fresh", new=True)
    os.close(fd)
    assert (tmp_path / "fresh").read_text() == ""


def test_a_legal_long_name_gets_a_legal_temporary_that_cleanup_finds(tmp_path):
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    target = tmp_path / ("a" * (name_max - 6) + ".png")  # 255: the longest legal name
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b and len(a.name) <= name_max and a.suffix == ".png"
        a.write_bytes(b"1")
        b.write_bytes(b"2")
        assert sorted(clean_temporaries(tmp_path)) == sorted([a, b])
        a.write_bytes(b"1")
        b.write_bytes(b"2")
    assert target.read_bytes() == b"1"  # a is renamed last
    target = tmp_path / ("b" * 243 + ".png")  # the 249-character case
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"ok")
    assert target.read_bytes() == b"ok"


def test_sigterm_during_a_write_removes_the_temporary(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from dynconv.fileio import Terminated, atomic_path
        try:
            with atomic_path({str(tmp_path / "out.png")!r}) as tmp:
                tmp.write_bytes(b"partial")
                print("ready", flush=True)
                time.sleep(30)
        except Terminated:
            sys.exit(143)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert list(tmp_path.glob(".out.png.tmp-*"))  # the write is under way
    proc.terminate()
    assert proc.wait(timeout=20) == 143
    assert list(tmp_path.iterdir()) == []


def test_sigterm_raises_restores_the_previous_handler_and_keeps_a_custom_one():
    import signal

    from dynconv.fileio import sigterm_raises

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_raises() as seen:
        assert signal.getsignal(signal.SIGTERM) is not before and not seen.terminated
        try:
            signal.raise_signal(signal.SIGTERM)
        except BaseException:
            pass  # swallowed, as by code that catches what an extension made of it
        assert seen.terminated  # the record keeps it
    assert signal.getsignal(signal.SIGTERM) is before

    def mine(signum, frame):
        pass

    signal.signal(signal.SIGTERM, mine)
    try:
        with sigterm_raises(only_default=True) as seen:
            assert signal.getsignal(signal.SIGTERM) is mine
            signal.raise_signal(signal.SIGTERM)
            assert not seen.terminated  # the signal was mine to handle
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_failed_temporary_names_the_target_not_the_temporary(tmp_path):
    target = tmp_path / "gone" / "out.png"
    with pytest.raises(FileNotFoundError) as err:
        with atomic_path(target):
            pass
    assert str(target) in str(err.value) and ".tmp-" not in str(err.value)
