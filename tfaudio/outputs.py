"""Output paths: one-line checks, durable writes, and temporary names that a later run can clean up.

The rule every command follows: **nothing is deleted or overwritten that tfaudio did not create.**

* `output_dir(path)` makes (or checks) a folder a command will write into, and turns every
  `OSError` (read-only, a file where a folder is expected, no space, ...) into one `OutputError` line.
* `write_bytes` / `write_text` write a file to a unique temporary name next to it, fsync it and
  rename it into place, so a reader sees the old file or the new one, never half of one; on failure
  (e.g. ENOSPC) the temporary file is removed and the old file is left as it was.
* `temp_dir(path)` makes a hidden sibling ``.NAME.tmp-PID-XXXX`` to build a folder in;
  `clean_stale(path)` removes such siblings whose process is gone (a killed export or render), and
  nothing else.
"""
from __future__ import annotations

import errno
import functools
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from tfaudio.errors import TfaudioError

log = logging.getLogger(__name__)

__all__ = ["OutputError", "problem", "describe", "output_dir", "report_dir", "write_bytes", "write_text", "temp_dir",
           "stale_siblings", "clean_stale", "is_empty_dir"]


class OutputError(TfaudioError, OSError):
    """An output path cannot be written: one line naming the path and the problem."""


_PROBLEMS = {
    errno.EACCES: "permission denied (cannot write here)",
    errno.EPERM: "permission denied (cannot write here)",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a file is in the way where a folder is expected",
    errno.EEXIST: "exists and is not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENAMETOOLONG: "file name too long",
}


def problem(error: OSError) -> str:
    """What an OSError means, in a few words (no path)."""
    return _PROBLEMS.get(error.errno or -1) or (error.strerror or str(error) or type(error).__name__).lower()


def describe(error: OSError, path: str | os.PathLike | None = None) -> str:
    """One line for an OSError: ``PATH: problem`` (`path`, else the error's own file name)."""
    where = path if path is not None else error.filename
    return f"{os.fspath(where)}: {problem(error)}" if where is not None else problem(error)


def is_empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False


def output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create folder `path` (with parents) if needed and check that it can be written; returns it.

    Raises `OutputError` in one line when it is a file, under a file, read-only, full, ...
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: {what} is an existing file, not a folder")
    for parent in path.parents:  # a file somewhere above: say which one
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{path}: cannot make the {what}: {parent} is a file")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tfaudio-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the {what}: {problem(e)}") from None
    return path


def report_dir(path: str | os.PathLike, marker: str = "metrics.json", what: str = "report folder") -> Path:
    """`output_dir` for a folder of fixed-name outputs: it must be new, empty, or an earlier output of
    the same kind (holding `marker`), so no file that tfaudio did not write is overwritten."""
    path = Path(path)
    if path.is_dir() and not is_empty_dir(path) and not (path / marker).is_file():
        raise OutputError(f"{path}: exists, is not empty and holds no {marker}; the {what} must be a new or "
                          "empty folder (nothing there is overwritten)")
    return output_dir(path, what)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process's umask, read without changing it (Linux), else by setting and restoring it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` durably: unique temporary name, fsync, rename, fsync of the folder.
    The file gets the permissions a plain `open(path, "w")` would give (0666 less the umask)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    except OSError as e:
        raise OutputError(describe(e, path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(describe(e, path)) from None
    _fsync_dir(path.parent)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """`write_bytes` of UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def temp_dir(path: str | os.PathLike) -> Path:
    """A new hidden sibling folder of `path` (``.NAME.tmp-PID-XXXX``) to build `path`'s content in."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    except OSError as e:
        raise OutputError(describe(e, path.parent)) from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_siblings(path: str | os.PathLike, kinds: tuple[str, ...] = ("tmp",)) -> list[Path]:
    """Hidden siblings ``.NAME.KIND-PID-...`` of `path` whose process PID no longer runs."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.({'|'.join(kinds)})-(\d+)(-.*)?$")
    found = []
    for sib in path.parent.iterdir():
        m = pattern.match(sib.name)
        if m and int(m.group(2)) != os.getpid() and not _alive(int(m.group(2))):
            found.append(sib)
    return sorted(found)


def clean_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of `path` left by killed tfaudio processes; returns them."""
    removed = []
    for sib in stale_siblings(path, ("tmp",)):
        if sib.is_dir() and not sib.is_symlink():
            shutil.rmtree(sib, ignore_errors=True)
        else:
            sib.unlink(missing_ok=True)
        log.info("removed %s, left by a killed tfaudio process", sib)
        removed.append(sib)
    return removed
