"""Output paths: one-line checks, the one durable writer, and temporary names that a later run can clean up.

The rule every command follows: **nothing is deleted or overwritten that tfaudio did not create.**
Every output of the project goes through this module:

* `output_dir(path)` makes (or checks) a folder a command will write into, and turns every
  `OSError` (read-only, a file where a folder is expected, no space, ...) into one `OutputError` line.
* `atomic_write(path, data)` (and its shorthands `write_bytes` / `write_text`) writes a file to a unique
  temporary name next to it, fsyncs it, renames it into place and fsyncs the folder, so a reader sees
  the old file or the new one, never half of one; on failure (e.g. ENOSPC, a kill) the old file is left
  as it was. `data` may be a function that writes the temporary path (Keras, h5py, soundfile).
* `atomic_replace_dir(new, path)` / `new_dir(path)` publish a folder built next to `path`: fsync of the
  whole tree, then one rename, or, over an existing folder, one atomic exchange (``renameat2``), so
  `path` is never missing or half-written.
* `file_set(folder, names)` writes a set of files (one input's predictions) into a shared folder as one:
  built in a temporary folder, then swapped in with the folder's manifest, the old set put back on failure.
* `temp_dir(path)` makes a hidden sibling ``.NAME.tmp-PID-XXXX`` to build a folder in;
  `clean_stale(path)` removes such siblings whose process is gone (a killed export or render), and
  nothing else.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from tfaudio.errors import TfaudioError
import hashlib

log = logging.getLogger(__name__)

__all__ = ["OutputError", "problem", "describe", "output_dir", "command_dir", "owned_dir", "foreign_entry",
           "write_manifest", "manifest_tree", "MANIFEST", "owned_file", "file_set", "report_dir", "atomic_write", "write_bytes", "write_text",
           "atomic_replace_dir", "new_dir", "exchange", "fsync_tree", "recover_replaced", "temp_dir",
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


@contextlib.contextmanager
def command_dir(path: str | os.PathLike, what: str = "output folder",
                check: Callable[[Path, str], Path] | None = None) -> Iterator[Path]:
    """`output_dir(path)` (or `check(path, what)`, e.g. `report_dir`) for the ``with`` block of a command:
    when the block fails, the folders this call created (`path` and missing parents) are removed again
    if they are still empty, so a failed command leaves no empty ``--out`` behind; nothing else is touched."""
    path = Path(path)
    created = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    folder = (check or output_dir)(path, what)
    try:
        yield folder
    except BaseException:
        for p in created:  # deepest first
            try:
                p.rmdir()  # only an empty folder goes
            except OSError:
                break
        raise


#: The manifest of a folder tfaudio wrote (export, evaluate report): {"files": {relative path: {"size",
#: "sha256"}}}. Only the files it lists, unchanged, are tfaudio's; a replacing write touches nothing else.
MANIFEST = ".tfaudio-manifest.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(folder: Path) -> dict[str, dict]:
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def foreign_entry(folder: str | os.PathLike, legacy: Callable[[str], bool] | None = None) -> Path | None:
    """The first file or folder under `folder` that tfaudio did not write, or None when all are its own.

    A file is tfaudio's when a manifest (`MANIFEST`) in its folder or a folder above lists it with its
    size and SHA-256; a folder is when it holds such a file. `legacy(relative path)`: for outputs written
    before manifests, what counts as tfaudio's in a folder without one. Symbolic links are never its own."""
    folder = Path(folder)
    manifests: dict[Path, dict[str, dict]] = {}
    for root, dirs, files in os.walk(folder):
        root_p = Path(root)
        if (root_p / MANIFEST).is_file():
            manifests[root_p] = _read_manifest(root_p)
    has_manifest = bool(manifests)

    def owned(p: Path) -> bool:
        if p.is_symlink() or not p.is_file():
            return False
        for top, files in manifests.items():
            if top == p.parent or top in p.parents:
                entry = files.get(p.relative_to(top).as_posix())
                if isinstance(entry, dict) and entry.get("size") == p.stat().st_size and \
                        entry.get("sha256") == _sha256(p):
                    return True
        return not has_manifest and legacy is not None and legacy(p.relative_to(folder).as_posix())

    owned_dirs: set[Path] = set()
    for p in sorted(folder.rglob("*")):
        if p.name == MANIFEST and not p.is_symlink() and p.parent in manifests:
            owned_dirs.update(p.parents)
        elif not p.is_dir() or p.is_symlink():
            if not owned(p):
                return p
            owned_dirs.update(p.parents)
    for p in sorted(folder.rglob("*")):
        if p.is_dir() and not p.is_symlink() and p not in owned_dirs:
            return p
    return None


def owned_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """`output_dir` for a folder tfaudio replaces files in: new, empty, or holding only what its manifest
    says tfaudio wrote (`foreign_entry`); else one `OutputError` line naming a foreign file."""
    path = Path(path)
    if path.is_dir() and not is_empty_dir(path):
        foreign = foreign_entry(path)
        if foreign is not None:
            raise OutputError(f"{path}: holds {foreign.relative_to(path)}, which tfaudio did not write (it is not in "
                              f"the folder's {MANIFEST}); the {what} must be new, empty or tfaudio's own (nothing "
                              "else there is overwritten)")
    return output_dir(path, what)


def write_manifest(folder: str | os.PathLike, files: Iterable[str | os.PathLike], what: str = "") -> Path:
    """Record `files` (under `folder`) in `folder`'s manifest with their sizes and hashes, keeping the
    entries of files that are still there unchanged; returns the manifest's path."""
    folder = Path(folder)
    entries = {}
    for rel, entry in _read_manifest(folder).items():
        p = folder / rel
        if p.is_file() and isinstance(entry, dict) and entry.get("size") == p.stat().st_size:
            entries[rel] = entry
    for f in files:
        p = Path(f)
        p = p if p.is_absolute() else folder / p
        rel = p.relative_to(folder).as_posix()
        if rel != MANIFEST:
            entries[rel] = {"size": p.stat().st_size, "sha256": _sha256(p)}
    data = {"written_by": f"tfaudio{' ' + what if what else ''}", "files": dict(sorted(entries.items()))}
    text = json.dumps(data, indent=1) + "\n"
    try:
        if (folder / MANIFEST).read_text(encoding="utf-8") == text:
            return folder / MANIFEST  # unchanged: not rewritten
    except (OSError, ValueError):
        pass
    return write_text(folder / MANIFEST, text)


def manifest_tree(folder: str | os.PathLike, what: str = "") -> Path:
    """`write_manifest` of every plain file under `folder` (a folder tfaudio built, before it is published)."""
    folder = Path(folder)
    return write_manifest(folder, [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()], what)


def owned_file(path: str | os.PathLike) -> bool:
    """True when `path` is a plain file that the manifest of its own folder lists with its size and SHA-256."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    entry = _read_manifest(path.parent).get(path.name)
    return isinstance(entry, dict) and entry.get("size") == path.stat().st_size and entry.get("sha256") == _sha256(path)


@contextlib.contextmanager
def file_set(folder: str | os.PathLike, names: Sequence[str], *, overwrite: bool = False,
             family: Iterable[str] = (), what: str = "") -> Iterator[Path]:
    """Write the files `names` into `folder` as one set: the ``with`` block writes them (plain writes) into
    the temporary folder it is given; they are then swapped in together with `folder`'s manifest, so that
    `folder` holds the old set or the new set, never a mix (a failure, e.g. a full disk, puts the old files
    back and removes the temporary folder; an `OSError` becomes one `OutputError` line).

    An existing file of the set is replaced only with `overwrite`, and only when the manifest lists it
    unchanged (`owned_file`); else one `OutputError` line naming it, before anything is written.
    `family`: other names an earlier set may hold (e.g. a plot not asked for now); with `overwrite` the
    ones the manifest lists go with the old set, so no old member is left beside the new ones.
    """
    folder = Path(folder)
    names = list(names)
    for name in names:
        p = folder / name
        if os.path.lexists(p):
            if not overwrite:
                raise OutputError(f"{p}: exists; not overwritten (pass --overwrite to replace it)")
            if not owned_file(p):
                raise OutputError(f"{p}: exists and tfaudio did not write it (it is not in the folder's {MANIFEST}); "
                                  "not overwritten, even with --overwrite (move it away or choose another --out)")
    stale = [n for n in dict.fromkeys(family) if overwrite and n not in names and owned_file(folder / n)]
    tmp = temp_dir(folder / names[0])
    try:
        yield tmp
        _swap_in(tmp, folder, names, stale, what)
    except OSError as e:
        msg = str(e) if isinstance(e, TfaudioError) else describe(e, e.filename or folder)
        raise OutputError(msg.replace(f"{tmp}{os.sep}", f"{folder}{os.sep}") + " (the earlier files are left as "
                          "they were)") from None
    finally:
        _remove(tmp)


def _swap_in(tmp: Path, folder: Path, names: list[str], stale: list[str], what: str) -> None:
    """`file_set`'s swap: the finished files in `tmp` and the updated manifest replace the old set in
    `folder` (the old files moved aside into `tmp` first); any failure moves everything back."""
    entries = {rel: e for rel, e in _read_manifest(folder).items() if rel not in stale and (folder / rel).is_file()
               and isinstance(e, dict) and e.get("size") == (folder / rel).stat().st_size}
    for n in names:
        entries[n] = {"size": (tmp / n).stat().st_size, "sha256": _sha256(tmp / n)}
    data = {"written_by": f"tfaudio{' ' + what if what else ''}", "files": dict(sorted(entries.items()))}
    (tmp / MANIFEST).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for p in (*names, MANIFEST):
        os.chmod(tmp / p, 0o666 & ~_umask())
    fsync_tree(tmp)
    old = tmp / ".old"
    old.mkdir()
    moved: list[tuple[str, bool]] = []  # (name, an old file was moved aside)
    try:
        for n in [*names, *stale]:
            had = os.path.lexists(folder / n)
            if had:
                os.rename(folder / n, old / n)
            moved.append((n, had))
            if n in names:
                os.rename(tmp / n, folder / n)
        os.rename(tmp / MANIFEST, folder / MANIFEST)  # the last step: the new set is complete
    except BaseException:
        for n, had in reversed(moved):
            if n in names and not os.path.lexists(tmp / n):  # the new file was moved in: out again
                os.rename(folder / n, tmp / n)
            if had:
                os.rename(old / n, folder / n)
        raise
    _fsync_dir(folder)


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


def _fsync(path: Path) -> None:
    """fsync a file, opened read-only (enough on Linux and macOS)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(path: Path, suffix: str) -> tuple[int, str]:
    """A new file ``.NAME.tmp-PID-XXXX<suffix>`` next to `path` (open fd, name): unique per writer, and
    recognised by `clean_stale` once its process is gone."""
    return tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", suffix=suffix, dir=path.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str | Callable[[Path], object], *,
                 suffix: str | None = None) -> Path:
    """Write the file `path` durably: to a unique temporary name next to it, fsync it, rename it into
    place, fsync the folder. A reader sees the old file or the new one, never half of one; on failure the
    temporary file is removed, the old file is left as it was, and an `OSError` becomes one `OutputError`.

    `data` is the content (bytes, or text written as UTF-8) or a function that writes the file at the
    temporary path it is given, for writers that want a path (Keras ``model.save``, h5py, soundfile,
    matplotlib). The temporary name ends in `suffix` (default: `path`'s own, e.g. ``.keras`` or
    ``.weights.h5``, which such writers check). The file gets the permissions a plain ``open(path, "w")``
    would give (0666 less the umask).
    """
    path = Path(path)
    if suffix is None:
        suffix = "".join(path.suffixes)[-32:] if callable(data) else ""
    try:
        fd, tmp = _temp_name(path, suffix)
    except OSError as e:
        raise OutputError(describe(e, path)) from None
    try:
        if callable(data):
            os.close(fd)
            data(Path(tmp))
            os.chmod(tmp, 0o666 & ~_umask())
            _fsync(Path(tmp))
        else:
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, TfaudioError):
            raise OutputError(describe(e, path)) from None
        raise
    _fsync_dir(path.parent)
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """`atomic_write` of bytes."""
    return atomic_write(path, bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write` of UTF-8 text."""
    return atomic_write(path, str(text))


def fsync_tree(folder: str | os.PathLike) -> None:
    """fsync every file and folder under `folder` (and `folder`), deepest first, so that a rename that
    publishes the folder publishes complete files."""
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            p = Path(root) / name
            if stat.S_ISREG(p.lstat().st_mode):  # not links, FIFOs (opening one would block), ...
                _fsync(p)
        _fsync_dir(Path(root))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.lru_cache(maxsize=1)
def _renameat2() -> Callable[..., int] | None:
    """glibc's ``renameat2`` (Linux 3.15+, glibc 2.28+), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap the paths `a` and `b` in one atomic step (``renameat2(RENAME_EXCHANGE)``); False where the
    system or file system cannot (then nothing was changed). Raises `OSError` for any other failure."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(os.fspath(a)), _AT_FDCWD, os.fsencode(os.fspath(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def recover_replaced(path: str | os.PathLike) -> list[Path]:
    """Undo a replacement that a kill interrupted where `exchange` is not available (two renames): a
    previous folder moved aside to ``.NAME.old-PID-...`` by a process that is gone is put back when
    `path` is missing, and removed otherwise. Returns what it found."""
    path = Path(path)
    found = stale_siblings(path, ("old",))
    for old in found:
        if not os.path.lexists(path):
            os.rename(old, path)
            log.warning("%s: put back the previous version that a killed writer had moved aside", path)
        else:
            _remove(old)
    return found


def atomic_replace_dir(new: str | os.PathLike, path: str | os.PathLike, *, replace: bool = True) -> Path:
    """Put the finished folder `new` (built next to `path`, e.g. in `temp_dir(path)`) at `path`.

    Everything in `new` is fsynced first. When `path` is missing or an empty folder, `new` is renamed onto
    it. Otherwise, with `replace`, the two are swapped in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``): `path` is a complete folder at every moment, the old one or the new one, and
    stays a plain folder (no symlink), so every reader (Keras, ``tf.saved_model.load``, ``cp -r``) sees
    what it always saw. The old folder is then removed. Where the exchange is not available (other
    systems, some network file systems), the old folder is renamed aside to ``.NAME.old-PID-...`` and
    `new` renamed in: `path` is missing for that instant, and a kill there is repaired by the next
    `atomic_replace_dir` or `recover_replaced` of `path`. Without `replace` an existing non-empty `path`
    is an `OutputError` (nothing is overwritten). `new` is gone afterwards either way on success.
    """
    new, path = Path(new), Path(path)
    try:
        recover_replaced(path)
        fsync_tree(new)
        try:
            os.rename(new, path)  # path missing or an empty folder: one rename
            _fsync_dir(path.parent)
            return path
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not replace:
                if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise OutputError(f"{path}: exists and is not empty (nothing there is overwritten)") from None
                raise
        if not path.is_dir():
            raise OutputError(f"{path}: exists and is not a folder")
        if exchange(new, path):
            _fsync_dir(path.parent)
            _remove(new)  # now the old folder
            return path
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-{os.getpid()}-", dir=path.parent))
        os.rename(path, old)  # onto the empty reserved name; `path` is missing until the next rename
        try:
            os.rename(new, path)
        except OSError:
            os.rename(old, path)
            raise
        _fsync_dir(path.parent)
        _remove(old)
        return path
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(describe(e, path)) from None


@contextlib.contextmanager
def new_dir(path: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Build a folder for `path` in a `temp_dir` and publish it with `atomic_replace_dir` when the
    ``with`` block ends without an exception; the temporary folder is removed on any failure::

        with outputs.new_dir(out) as tmp:
            (tmp / "a.txt").write_text("...")   # plain writes: the folder is fsynced before it is published
    """
    path = Path(path)
    tmp = temp_dir(path)
    try:
        yield tmp
        atomic_replace_dir(tmp, path, replace=replace)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


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
