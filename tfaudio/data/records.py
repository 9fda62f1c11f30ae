"""Records of a data set (`Record`, `Scan`, `ScanResult`) and the checks every scanner applies to a file."""
from __future__ import annotations

import logging

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


from tfaudio.errors import DatasetError, printable
import contextlib

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
VERIFY_LEVELS = ("none", "header", "full")


@dataclasses.dataclass(frozen=True)
class Record:
    """One audio file of a data set: its path, its labels (class names) and its subset."""

    path: str
    labels: tuple[str, ...]
    subset: str | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """The single label of a single-label record."""
        if len(self.labels) != 1:
            raise DatasetError(self.path, f"has {len(self.labels)} labels, not one: {list(self.labels)}")
        return self.labels[0]


class Scan:
    """Collects the records of a scan and the files it skipped (with reasons)."""

    def __init__(self, root: Path, strict: bool, verify: str):
        if verify not in VERIFY_LEVELS:
            raise DatasetError(None, f"verify must be one of {VERIFY_LEVELS}, got {verify!r}")
        self.root = root
        self.strict = strict
        self.verify = verify
        self.records: list[Record] = []
        self.skipped: list[tuple[str, str]] = []

    def skip(self, path: str | os.PathLike, problem: str) -> None:
        if self.strict:
            raise DatasetError(path, problem)
        problem = printable(problem)  # one line, even when it quotes a file name with a line break in it
        self.skipped.append((os.fspath(path), problem))
        log.warning("skipped %s: %s", printable(os.fspath(path)), problem)

    def add(self, path: Path, labels: Sequence[str], subset: str | None, **meta: Any) -> None:
        problem = check_file(path, self.verify)
        if problem:
            self.skip(path, problem)
            return
        self.records.append(Record(str(path), tuple(labels), subset, meta))

    def done(self, what: str) -> list[Record]:
        if self.skipped:
            log.warning("%s: skipped %d file(s), kept %d", what, len(self.skipped), len(self.records))
        log.info("%s: %d records", what, len(self.records))
        return ScanResult(self.records, self.skipped)


class ScanResult(list):
    """A list of `Record`s that also carries `.skipped`: (path, problem) pairs."""

    def __init__(self, records: Iterable[Record], skipped: Sequence[tuple[str, str]] = ()):
        super().__init__(records)
        self.skipped = list(skipped)


# ---------------------------------------------------------------------------------------------
# file checks


def check_file(path: str | os.PathLike, verify: str = "header") -> str | None:
    """The problem with an audio file, or None. `verify`: "none", "header" (`tfaudio.io.headers.check`,
    and soundfile's header read for compressed formats) or "full" (decodes it with `tfaudio.io.audio.load`)."""
    from tfaudio.io import headers  # lazy: this module stays free of TensorFlow (light to import)
    from tfaudio.errors import AudioFileError  # lazy: this module stays free of TensorFlow (light to import)

    if verify == "none":
        return None
    try:
        kind = headers.check(path)
    except AudioFileError as e:
        return e.problem
    if kind != "wav" and verify != "full":
        import soundfile as sf  # lazy: decoding only where files are read

        try:
            quiet = headers.quiet_stderr if kind == "mp3" else contextlib.nullcontext
            with open(path, "rb") as raw, quiet(), sf.SoundFile(headers.SeekSafe(raw)) as f:  # as audio decodes
                frames = f.frames
        except Exception as e:  # soundfile raises RuntimeError/LibsndfileError
            return headers.decoder_problem(e)
        return None if frames > 0 else "contains no audio samples (zero length)"
    if verify != "full":
        return None
    from tfaudio.io.audio import load  # decodes, and checks NaN/Inf samples

    try:
        load(path)
    except AudioFileError as e:
        return e.problem
    return None


def read_text(path: Path, what: str = "file") -> str:
    """A metadata file's UTF-8 text (a BOM is dropped); DatasetError naming the file if it is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(path, f"{what} is not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r})") \
            from None
    except OSError as e:
        raise DatasetError(path, f"cannot read the {what} ({(e.strerror or str(e)).lower()})") from None


def inside(root: Path, relative: str | os.PathLike) -> Path:
    """`root / relative`, refusing a path that escapes `root` (DatasetError)."""
    if "\x00" in os.fspath(relative):
        raise DatasetError(os.fspath(relative).replace("\x00", "\\0"), "path contains a NUL byte; refused")
    root = Path(root).resolve()
    p = (root / relative).resolve()
    if not p.is_relative_to(root):
        raise DatasetError(relative, f"path escapes the data-set root {root}; refused")
    return p


def _index_audio(root: Path) -> dict[str, Path]:
    """File name -> path for every audio file under `root` (recursive)."""
    index: dict[str, Path] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(AUDIO_EXTENSIONS):
                index.setdefault(name, Path(dirpath) / name)
    return index


def _root(root: str | os.PathLike) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "data-set root is not a folder" if root.exists() else "data-set root not found")
    return root
