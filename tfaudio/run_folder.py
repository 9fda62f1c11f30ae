"""A training run's folder: what `tfaudio train` writes and `evaluate`, `predict` and `export` read.

    RUN/
      run.json              RunSpec: task, classes, features, window (what inference needs)
      config.json           the resolved experiment config
      checkpoints/best.keras, checkpoints/last.keras   (an SVM run: checkpoints/best.skops)
      history.csv           per-epoch metrics (keras CSVLogger)
      backup/               state for `--resume` (keras BackupAndRestore)
      logs/                 TensorBoard

`open_model(MODEL)` loads a model from any of its saved forms (`FORMS`: a run folder, a pretrained name, a
.keras file, an exported SavedModel, .tflite or .onnx file) as a `LoadedModel`: what inference runs, its
RunSpec, the metadata that travels with it and, when known, its experiment config.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

from tfaudio.config import write_json
from tfaudio.errors import TfaudioError
from tfaudio.spec import RunSpec
import fcntl
import time


def write_spec(spec: RunSpec, run_dir: str | os.PathLike) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_json(spec, run_dir / "run.json")


#: The lock file of a run folder: `RUN/.tfaudio.lock`, holding the PID of the process that owns the run.
LOCK_NAME = ".tfaudio.lock"


class RunLockedError(TfaudioError):
    """Another process holds a run folder's lock (one line naming its PID)."""


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, what: str = "train", create: bool = True) -> Iterator[Path]:
    """Own run folder `run_dir` for the ``with`` block: an exclusive `fcntl.flock` on `RUN/.tfaudio.lock`,
    taken before any check or write; a second `train`, `--resume` or `export` of the run fails at once with
    `RunLockedError` naming the PID that holds it. The kernel releases the lock when the process exits or
    crashes. `create`: make the folder (and missing parents) when missing; those that are still empty when
    the block ends are removed again, and so is the lock file. Yields the folder."""
    from tfaudio.io import outputs  # lazy: this module stays free of TensorFlow (light to import)

    run_dir = Path(run_dir)
    if os.path.lexists(run_dir) and not run_dir.is_dir():
        raise outputs.OutputError(f"{run_dir}: exists and is not a folder")
    created = [p for p in (run_dir, *run_dir.parents) if not os.path.lexists(p)] if create else []
    lock = run_dir / LOCK_NAME
    fd = -1
    try:
        if created:
            outputs.output_dir(run_dir, "run folder")
        fd = _acquire(lock, run_dir, what)
        yield run_dir
    finally:
        if fd >= 0:
            try:
                lock.unlink()  # while still held: a process that opened the old file retries (see _acquire)
            except OSError:
                pass
            os.close(fd)
        for p in created:  # deepest first; only empty folders this call made
            try:
                p.rmdir()
            except OSError:
                break


def _acquire(lock: Path, run_dir: Path, what: str) -> int:
    """An open descriptor of `lock`, exclusively flocked and still the file at that path; else one line."""
    for _ in range(100):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            from tfaudio.io import outputs  # lazy: this module stays free of TensorFlow (light to import)

            raise outputs.OutputError(f"{run_dir}: cannot lock the run folder: {outputs.problem(e)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise RunLockedError(f"{run_dir}: in use by another tfaudio process (PID {holder}); cannot {what} it "
                                 "now (try again when that process has finished)") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last owner removed after we opened it
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise RunLockedError(f"{run_dir}: cannot lock the run folder (its lock file keeps changing)")


def _holder(fd: int) -> str:
    """The PID written in a held lock file (its owner writes it just after locking: wait a moment for it)."""
    for _ in range(50):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.01)
    return "unknown"


def resolve_run(run: str | os.PathLike) -> Path:
    """A run folder: `run` itself, or the package's folder of a pretrained model name ("msdb", "irmas",
    "activations") when no local path has that name."""
    from tfaudio import pretrained  # lazy: this module stays free of TensorFlow (light to import)

    return pretrained.path(str(run)) if pretrained.is_name(run) else Path(run)


def read_spec(run_dir: str | os.PathLike) -> RunSpec:
    run_dir = resolve_run(run_dir)
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise TfaudioError(f"{run_dir}: not a tfaudio run folder (no run.json)")
    try:
        return RunSpec.from_dict(json.loads(path.read_text()))
    except (KeyError, ValueError, TypeError) as e:
        raise TfaudioError(f"{path}: malformed run spec ({e})") from None


def checkpoint_path(run_dir: str | os.PathLike, which: str = "best") -> Path:
    """`RUN/checkpoints/{best,last}.keras`; `which` may also be a path to a .keras file."""
    if which not in ("best", "last"):
        return Path(which)
    return Path(run_dir) / "checkpoints" / f"{which}.keras"


#: The SVM baseline's model file (skops): `RUN/checkpoints/best.skops`, its only checkpoint.
SVM_SUFFIX = ".skops"
#: What older tfaudio versions pickled the SVM to (refused when loaded, never unpickled).
OLD_SVM_SUFFIX = ".svm"


def svm_checkpoint_path(run_dir: str | os.PathLike) -> Path:
    """`RUN/checkpoints/best.skops`: where `tfaudio train` saves an SVM run's model."""
    return Path(run_dir) / "checkpoints" / f"best{SVM_SUFFIX}"


def resolve_checkpoint(run_dir: str | os.PathLike, which: str = "best") -> Path:
    """The file `open_run` loads for `which`: the .keras checkpoint (a missing best falls back to last);
    in an SVM run, whose one model serves as best and last, `checkpoints/best.skops` (or an old pickled
    `best.svm`, so that loading it says why it is refused). A path is returned as is. When nothing is
    there, the (missing) path the error names."""
    path = checkpoint_path(run_dir, which)
    if which not in ("best", "last") or path.is_file():
        return path
    if which == "best" and checkpoint_path(run_dir, "last").is_file():
        return checkpoint_path(run_dir, "last")
    svm = svm_checkpoint_path(run_dir)
    for candidate in (svm, svm.with_suffix(OLD_SVM_SUFFIX)):
        if candidate.is_file():
            return candidate
    return checkpoint_path(run_dir, "last") if which == "best" else path
