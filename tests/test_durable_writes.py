"""The one durable writer (`tfaudio.io.outputs`): files and folders are replaced whole or not at all.

The kill tests run a writer in a subprocess that replaces a file (or a folder) over and over, each version
self-checking (its content carries its own version number and checksum), SIGKILL it at seeded random moments
and check that the path then holds one intact version (the old or the new), never a missing or partial one;
a reader polling the folder meanwhile must never find it missing. What the killed writers leave is hidden
``.NAME.tmp-PID-...`` siblings, which `clean_stale` removes.
"""
from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tfaudio.io import outputs

ROOT = Path(__file__).resolve().parents[1]
KILLS = 12  # per kill test; each kill lands at a seeded random moment of a writer's loop


def _version_bytes(version: int, size: int) -> bytes:
    """A self-checking file: ``version,sha256-of-body\\n`` then `size` bytes of body."""
    body = random.Random(version).randbytes(size)
    return f"{version},{hashlib.sha256(body).hexdigest()}\n".encode() + body


def _check_version_bytes(data: bytes) -> int:
    head, _, body = data.partition(b"\n")
    version, digest = head.decode().split(",")
    assert hashlib.sha256(body).hexdigest() == digest, "a partial or mixed file"
    return int(version)


# --- atomic_write ----------------------------------------------------------------------------------------


def test_atomic_write_writes_bytes_text_and_through_a_writer(tmp_path):
    a = outputs.atomic_write(tmp_path / "a.bin", b"\x00\x01")
    b = outputs.atomic_write(tmp_path / "b.txt", "héllo\n")
    seen = []

    def writer(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"through a path")

    c = outputs.atomic_write(tmp_path / "c.weights.h5", writer)
    assert a.read_bytes() == b"\x00\x01" and b.read_text(encoding="utf-8") == "héllo\n"
    assert c.read_bytes() == b"through a path"
    # the writer got a hidden, unique sibling ending in the target's suffixes (Keras and h5py check them)
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".c.weights.h5.tmp-")
    assert seen[0].name.endswith(".weights.h5") and not seen[0].exists()
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(a.stat().st_mode) == 0o666 & ~umask == stat.S_IMODE(c.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.weights.h5"]


def test_atomic_write_fsyncs_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    outputs.atomic_write(tmp_path / "x", b"1")
    outputs.atomic_write(tmp_path / "y", lambda p: p.write_bytes(b"2"))
    assert synced == [False, True, False, True]  # each: the file, then its folder after the rename


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = outputs.write_text(tmp_path / "m.json", "old\n")

    def dies(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        outputs.atomic_write(path, dies)

    def full(tmp: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(outputs.OutputError, match=r"m\.json: no space left on the device"):
        outputs.atomic_write(path, full)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_an_unwritable_folder_is_one_output_error(tmp_path):
    with pytest.raises(outputs.OutputError, match="nonesuch"):
        outputs.atomic_write(tmp_path / "nonesuch" / "x.json", "{}")


def test_concurrent_writers_to_one_path_never_collide(tmp_path):
    """Unique temporary names: eight threads replacing one file 25 times each; every write succeeds and the
    file always holds one whole version."""
    path = tmp_path / "shared.bin"
    outputs.atomic_write(path, _version_bytes(0, 20000))
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(25):
                outputs.atomic_write(path, _version_bytes(1 + 100 * k + i, 20000))
                _check_version_bytes(path.read_bytes())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert _check_version_bytes(path.read_bytes()) % 100 == 25  # some thread's last version (i = 24)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]


# --- atomic_replace_dir -----------------------------------------------------------------------------------


def _make_version_dir(folder: Path, version: int) -> None:
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "data").write_bytes(_version_bytes(version, 30000))
    (folder / "saved_model.pb").write_bytes(_version_bytes(version, 3000))
    (folder / "DONE").write_text(f"{version}\n")


def _check_version_dir(folder: Path) -> int:
    versions = {_check_version_bytes((folder / "variables" / "data").read_bytes()),
                _check_version_bytes((folder / "saved_model.pb").read_bytes()),
                int((folder / "DONE").read_text())}
    assert len(versions) == 1, f"{folder} mixes versions {versions}"
    assert sorted(p.name for p in folder.iterdir()) == ["DONE", "saved_model.pb", "variables"]
    return versions.pop()


def test_replace_dir_creates_replaces_and_refuses(tmp_path):
    out = tmp_path / "exp"
    for v in (1, 2):
        with outputs.new_dir(out) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".exp.tmp-")
            _make_version_dir(tmp, v)
        assert _check_version_dir(out) == v and not out.is_symlink()
    with pytest.raises(outputs.OutputError, match="exists and is not empty"):
        with outputs.new_dir(out, replace=False) as tmp:
            _make_version_dir(tmp, 3)
    with pytest.raises(RuntimeError):
        with outputs.new_dir(out) as tmp:
            _make_version_dir(tmp, 4)
            raise RuntimeError("failed midway")
    assert _check_version_dir(out) == 2 and [p.name for p in tmp_path.iterdir()] == ["exp"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with outputs.new_dir(empty, replace=False) as tmp:  # an empty folder is taken
        _make_version_dir(tmp, 5)
    assert _check_version_dir(empty) == 5


def test_replace_dir_swaps_in_one_step_here():
    """This machine (Linux, ext4/tmpfs/overlayfs) has renameat2's RENAME_EXCHANGE, so the kill tests below
    exercise the no-missing-moment path; without it they exercise the two-rename fallback."""
    if not sys.platform.startswith("linux"):
        pytest.skip("RENAME_EXCHANGE is Linux's")
    assert outputs._renameat2() is not None


def test_replace_dir_fallback_puts_back_what_a_kill_moved_aside(tmp_path, monkeypatch):
    """Without an atomic exchange, a kill between the two renames leaves the old folder aside; the next
    replacement (or `recover_replaced`) puts it back."""
    monkeypatch.setattr(outputs, "exchange", lambda a, b: False)
    out = tmp_path / "exp"
    with outputs.new_dir(out) as tmp:
        _make_version_dir(tmp, 1)
    with outputs.new_dir(out) as tmp:
        _make_version_dir(tmp, 2)
    assert _check_version_dir(out) == 2 and [p.name for p in tmp_path.iterdir()] == ["exp"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    aside = tmp_path / f".exp.old-{dead}-abcd"
    os.rename(out, aside)
    assert outputs.recover_replaced(out) == [aside]
    assert _check_version_dir(out) == 2 and not aside.exists()


# --- kills at random moments ------------------------------------------------------------------------------

# what both writers share: imports and `version(v, size)`, a payload whose first line names and checksums it
_PRELUDE = textwrap.dedent("""
    import hashlib, random, sys
    from pathlib import Path
    from tfaudio.io import outputs
    def version(v, size):
        body = random.Random(v).randbytes(size)
        return f"{v},{hashlib.sha256(body).hexdigest()}\\n".encode() + body
""")

_FILE_WRITER = _PRELUDE + textwrap.dedent("""
    path, start = Path(sys.argv[1]), int(sys.argv[2])
    print("ready", flush=True)
    v = start
    while True:
        v += 1
        if v % 2:
            outputs.atomic_write(path, version(v, 2_000_000))
        else:  # the writer-function form, as Keras' model.save uses it
            outputs.atomic_write(path, lambda tmp: tmp.write_bytes(version(v, 2_000_000)))
""")

_DIR_WRITER = _PRELUDE + textwrap.dedent("""
    path, start, fallback = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    if fallback:
        outputs.exchange = lambda a, b: False
    print("ready", flush=True)
    v = start
    while True:
        v += 1
        with outputs.new_dir(path) as tmp:
            (tmp / "variables").mkdir()
            (tmp / "variables" / "data").write_bytes(version(v, 30000))
            (tmp / "saved_model.pb").write_bytes(version(v, 3000))
            (tmp / "DONE").write_text(f"{v}\\n")
""")


def _kill_at_random(script: str, args: list[str], rng: random.Random, max_delay: float) -> None:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, max_delay))
        assert proc.poll() is None, "the writer stopped by itself"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_files_killed_midway_keep_the_old_or_the_new_version(tmp_path):
    path = tmp_path / "metrics.bin"
    outputs.atomic_write(path, _version_bytes(0, 2_000_000))
    rng = random.Random(15)
    seen = []
    for k in range(KILLS):
        _kill_at_random(_FILE_WRITER, [str(path), str(1000 * (k + 1))], rng, 0.4)
        seen.append(_check_version_bytes(path.read_bytes()))  # intact: one whole version
    assert len(set(seen)) > 1, f"the writers never replaced the file: {seen}"
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    assert all(p.name.startswith(".metrics.bin.tmp-") for p in leftovers)
    outputs.clean_stale(path)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.bin"]


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_folders_killed_midway_keep_the_old_or_the_new_version(tmp_path, fallback):
    out = tmp_path / "exp"
    with outputs.new_dir(out) as tmp:
        _make_version_dir(tmp, 0)
    missing = []
    stop = threading.Event()

    def reader() -> None:  # with the exchange, `out` is a complete folder at every moment
        while not stop.is_set():
            if not (out / "DONE").is_file():
                missing.append(time.monotonic())

    watcher = threading.Thread(target=reader, daemon=True)
    if not fallback:
        watcher.start()
    rng = random.Random(16 + fallback)
    seen = []
    try:
        for k in range(KILLS):
            _kill_at_random(_DIR_WRITER, [str(out), str(1000 * (k + 1)), str(int(fallback))], rng, 0.3)
            if fallback:
                outputs.recover_replaced(out)  # what the next writer does first
            seen.append(_check_version_dir(out))
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(timeout=10)
    assert not missing, f"{out} was missing or incomplete {len(missing)} times"
    assert len(set(seen)) > 1, f"the writers never replaced the folder: {seen}"
    outputs.clean_stale(out)
    outputs.recover_replaced(out)
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]
    assert not out.is_symlink() and _check_version_dir(out) == seen[-1]


def test_checkpoints_and_history_go_through_the_writer(tmp_path, monkeypatch):
    """Training's writers (checkpoints, backup, history.csv) call `atomic_write`, not open()/os.replace."""
    import keras

    from tfaudio.training import callbacks

    written = []
    real = outputs.atomic_write

    def spy(path, data, **kw):
        written.append(Path(path).name)
        return real(path, data, **kw)

    monkeypatch.setattr(outputs, "atomic_write", spy)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    x = keras.ops.ones((8, 3))
    writers = [callbacks.atomic_checkpoints(tmp_path, "loss", write=True),
               callbacks.atomic_csv_logger(tmp_path / "history.csv", append=False),
               callbacks.atomic_backup(tmp_path / "backup")]
    model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=writers)
    assert {"last.keras", "best.keras", "state.json", "history.csv", "latest.weights.h5",
            "training_metadata.json"} <= set(written)
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and [r.split(",")[0] for r in rows[1:]] == ["0", "1"]
    # resumed: the rows so far are kept, the header is not repeated
    model.fit(x, x[:, :1], epochs=3, initial_epoch=2, verbose=0,
              callbacks=[callbacks.atomic_csv_logger(tmp_path / "history.csv", append=True)])
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["epoch", "0", "1", "2"]
    assert not [p.name for p in tmp_path.rglob(".*")]


def test_a_savedmodel_replaced_in_place_stays_a_plain_loadable_folder(tmp_path):
    """What readers see: `tf.saved_model.load` and `keras.models.load_model` read what `atomic_replace_dir` and
    `atomic_write` published, and an existing plain export folder is replaced by a plain folder (no symlink
    for `cp -r`, tar or a model server to trip on)."""
    import keras
    import tensorflow as tf

    out = tmp_path / "export"
    for value in (1.0, 2.0):
        module = tf.Module()
        module.v = tf.Variable(value)
        module.f = tf.function(lambda: module.v * 1.0, input_signature=[])
        with outputs.new_dir(out) as tmp:
            tf.saved_model.save(module, str(tmp))
        assert out.is_dir() and not out.is_symlink()
        assert float(tf.saved_model.load(str(out)).f()) == value
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = outputs.atomic_write(tmp_path / "best.keras", model.save)
    assert keras.models.load_model(path).count_params() == model.count_params()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras", "export"]
