"""Data-set loaders: scan a data set's layout into `Record`s, then into a tf.data.Dataset.

Every loader returns a list of `Record(path, labels, subset, meta)`. Files that
cannot be used (missing, empty, truncated, not audio, unknown labels) are
reported and skipped; with ``strict=True`` the first one raises `DatasetError`.
Paths named by metadata resolve inside the data-set root; one that escapes it
is refused. TensorFlow is imported only by `to_dataset`.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from tfaudio.errors import DatasetError
from tfaudio.data.records import AUDIO_EXTENSIONS, Record, Scan, ScanResult, _index_audio, _root, check_file, inside, read_text

log = logging.getLogger(__name__)

MSDB_SUBSETS = ("training", "validation", "test")
MSDB_METADATA = "Medley-solos-DB_metadata.csv"
MSDB_COLUMNS = ("subset", "instrument", "instrument_id", "song_id", "uuid4")
IRMAS_CLASSES = ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")
IRMAS_NAMES = {
    "cel": "cello", "cla": "clarinet", "flu": "flute", "gac": "acoustic guitar", "gel": "electric guitar",
    "org": "organ", "pia": "piano", "sax": "saxophone", "tru": "trumpet", "vio": "violin", "voi": "voice",
}
NSYNTH_SPLITS = ("train", "valid", "test")


def guess_format(root: str | os.PathLike) -> str | None:
    """The data format a folder (or manifest) most likely has, from its layout; None if it holds no audio.

    Looks two folder levels deep: a Medley-Solos-DB metadata CSV, IRMAS folders, NSynth's
    ``examples.json``, else audio files ("folder"). A ``.csv`` file is a manifest ("csv").
    """
    root = Path(root)
    if root.is_file():
        return "csv" if root.suffix.lower() == ".csv" else None
    if not root.is_dir():
        return None
    top = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    names = {p.name for p in top[1:]}
    if any((d / MSDB_METADATA).is_file() for d in top):
        return "medley_solos_db"
    if any(n.startswith(("IRMAS-TrainingData", "IRMAS-TestingData")) for n in names) or \
            len(names & set(IRMAS_CLASSES)) >= 3:
        return "irmas"
    if any(n.startswith("nsynth-") and (root / n / "examples.json").is_file() for n in names):
        return "nsynth"
    for d in top:
        if any(f.suffix.lower() in AUDIO_EXTENSIONS for f in d.iterdir() if f.is_file()):
            return "folder"
    return None


# ---------------------------------------------------------------------------------------------
# loaders


def medley_solos_db(root: str | os.PathLike, subset: str | None = None, strict: bool = False,
                    verify: str = "header") -> list[Record]:
    """Medley-Solos-DB: ``Medley-solos-DB_metadata.csv`` and its WAVs (in the root or a sub-folder).

    Labels are the CSV's instrument names; `meta` holds instrument_id, song_id and uuid4, and any other
    columns as text (a rendered corpus adds soundfont and program).
    `subset`: None (all), "training", "validation" or "test".
    """
    root = _root(root)
    if subset is not None and subset not in MSDB_SUBSETS:
        raise DatasetError(None, f"unknown Medley-Solos-DB subset {subset!r}; use one of {MSDB_SUBSETS}")
    metas = sorted(root.rglob(MSDB_METADATA))
    if not metas:
        raise DatasetError(root, f"no {MSDB_METADATA} found")
    meta_path = metas[0]
    scan = Scan(root, strict, verify)
    audio = _index_audio(root)
    with io.StringIO(read_text(meta_path, "metadata"), newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in MSDB_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(meta_path, f"malformed metadata: missing column(s) {missing}; "
                                          f"expected {list(MSDB_COLUMNS)}")
        rows = list(enumerate(reader, start=2))
    # instrument_id -> name by majority, so one bad row cannot poison the others
    votes: dict[str, Counter] = {}
    for _, row in rows:
        votes.setdefault((row["instrument_id"] or "").strip(), Counter())[(row["instrument"] or "").strip()] += 1
    names_by_id = {k: c.most_common(1)[0][0] for k, c in votes.items()}
    first_line: dict[str, int] = {}  # file name -> the metadata line that listed it first
    for line, row in rows:
        where = f"{meta_path}:{line}"
        sub, inst, uid = (row["subset"] or "").strip(), (row["instrument"] or "").strip(), (row["uuid4"] or "").strip()
        raw_id = (row["instrument_id"] or "").strip()
        try:
            inst_id = int(raw_id)
        except ValueError:
            scan.skip(where, f"malformed metadata: instrument_id {raw_id!r} is not an integer")
            continue
        if sub not in MSDB_SUBSETS:
            scan.skip(where, f"malformed metadata: unknown subset {sub!r}")
            continue
        if not inst or not re.fullmatch(r"[0-9a-fA-F-]{8,}", uid):
            scan.skip(where, "malformed metadata: empty instrument or bad uuid4")
            continue
        if names_by_id[raw_id] != inst:
            scan.skip(where, f"malformed metadata: instrument_id {inst_id} is {names_by_id[raw_id]!r} "
                             f"elsewhere but {inst!r} here")
            continue
        if subset is not None and sub != subset:
            continue
        name = f"Medley-solos-DB_{sub}-{inst_id}_{uid}.wav"
        if name in first_line:  # counted once, and said
            scan.skip(where, f"duplicate metadata row: {name} is already listed on line {first_line[name]}")
            continue
        first_line[name] = line
        path = audio.get(name)
        if path is None:
            scan.skip(root / name, "file not found")
            continue
        extra = {k: v for k, v in row.items()  # other columns, e.g. a rendered corpus's soundfont and program
                 if isinstance(k, str) and k not in MSDB_COLUMNS and k not in ("path", "labels")}
        scan.add(path, (inst,), sub, **extra, instrument_id=inst_id, song_id=row.get("song_id"), uuid4=uid)
    return scan.done(f"Medley-Solos-DB at {root}")


def medley_solos_db_classes(records: Iterable[Record]) -> list[str]:
    """Class names ordered by Medley-Solos-DB's instrument_id."""
    by_id = {r.meta["instrument_id"]: r.labels[0] for r in records}
    return [by_id[k] for k in sorted(by_id)]




def irmas(root: str | os.PathLike, split: str, strict: bool = False, verify: str = "header") -> list[Record]:
    """IRMAS. `split="train"`: ``{cel,...,voi}/NNN__[ins][dru|nod][genre]NNNN__N.wav`` (one label, the
    predominant instrument; meta: drums, genre). `split="test"`: ``name.wav`` + ``name.txt`` with one
    3-letter label per line. Part folders may nest; the root is searched recursively.
    """
    root = _root(root)
    scan = Scan(root, strict, verify)
    if split == "train":
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            folder = Path(dirpath)
            if folder.name not in IRMAS_CLASSES:
                continue
            for name in sorted(files):
                if not name.lower().endswith(".wav"):
                    continue
                tags = re.findall(r"\[([^\]]+)\]", name)
                if not tags:
                    scan.skip(folder / name, "file name has no [instrument] tag")
                    continue
                inst = tags[0]
                if inst not in IRMAS_CLASSES:
                    scan.skip(folder / name, f"unknown label {inst!r}; IRMAS classes are {list(IRMAS_CLASSES)}")
                    continue
                if inst != folder.name:
                    scan.skip(folder / name, f"tag [{inst}] disagrees with its folder {folder.name!r}")
                    continue
                rest = tags[1:]
                drums = None
                if rest and rest[0] in ("dru", "nod"):
                    drums = rest.pop(0) == "dru"
                genre = rest[0] if rest else None
                scan.add(folder / name, (inst,), "train", drums=drums, genre=genre)
    elif split == "test":
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("IRMAS-TrainingData"))  # the other split
            folder = Path(dirpath)
            names = set(files)
            for name in sorted(files):
                if not name.lower().endswith(".wav"):
                    continue
                txt = Path(name).stem + ".txt"
                if txt not in names:
                    scan.skip(folder / name, f"no label file {txt}")
                    continue
                try:
                    # utf-8-sig: a byte-order mark is no part of the first label; codes in any case ("PIA")
                    lines = (folder / txt).read_text(encoding="utf-8-sig", errors="replace").lower().splitlines()
                except OSError as e:
                    scan.skip(folder / txt, f"cannot read labels ({e.strerror})")
                    continue
                labels = tuple(dict.fromkeys(s.strip() for s in lines if s.strip()))
                unknown = [s for s in labels if s not in IRMAS_CLASSES]
                if not labels or unknown:
                    scan.skip(folder / txt, f"unknown label(s) {unknown}" if unknown else "label file is empty")
                    continue
                scan.add(folder / name, labels, "test")
    else:
        raise DatasetError(None, f"unknown IRMAS split {split!r}; use 'train' or 'test'")
    return scan.done(f"IRMAS {split} at {root}")


def nsynth(root: str | os.PathLike, split: str, strict: bool = False, verify: str = "header") -> list[Record]:
    """NSynth: ``nsynth-{split}/examples.json`` and ``nsynth-{split}/audio/{note_str}.wav``.

    Labels are instrument families; `meta` holds pitch, velocity, instrument_source_str and qualities.
    The root may be the folder that holds ``nsynth-{split}/`` or that folder itself.
    """
    root = _root(root)
    if split not in NSYNTH_SPLITS:
        raise DatasetError(None, f"unknown NSynth split {split!r}; use one of {NSYNTH_SPLITS}")
    base = root / f"nsynth-{split}"
    if not base.is_dir() and root.name == f"nsynth-{split}":
        base = root
    meta_path = base / "examples.json"
    if not meta_path.is_file():
        raise DatasetError(meta_path, "NSynth metadata not found")
    try:
        examples = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(meta_path, f"malformed metadata: not valid JSON ({e})") from None
    except RecursionError:
        raise DatasetError(meta_path, "malformed metadata: JSON nested too deeply") from None
    except OSError as e:
        raise DatasetError(meta_path, f"cannot read the metadata ({(e.strerror or str(e)).lower()})") from None
    if not isinstance(examples, dict):
        raise DatasetError(meta_path, "malformed metadata: expected an object keyed by note_str")
    scan = Scan(root, strict, verify)
    for note_str in sorted(examples):
        ex = examples[note_str]
        family = ex.get("instrument_family_str") if isinstance(ex, dict) else None
        if not family:
            scan.skip(f"{meta_path}[{note_str}]", "malformed metadata: no instrument_family_str")
            continue
        qualities = ex.get("qualities_str") or []
        if not isinstance(family, str) or not isinstance(qualities, list):
            scan.skip(f"{meta_path}[{note_str}]", "malformed metadata: instrument_family_str must be text and "
                                                  "qualities_str a list")
            continue
        try:
            path = inside(base / "audio", f"{note_str}.wav")
        except DatasetError as e:
            scan.skip(e.path, e.problem)
            continue
        scan.add(path, (family,), split, pitch=ex.get("pitch"), velocity=ex.get("velocity"),
                 source=ex.get("instrument_source_str"), qualities=tuple(qualities))
    return scan.done(f"NSynth {split} at {root}")


def from_folder(root: str | os.PathLike, strict: bool = False, verify: str = "header") -> list[Record]:
    """A folder per class (as keras.utils.audio_dataset_from_directory); files may nest below it."""
    root = _root(root)
    scan = Scan(root, strict, verify)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(root, "no class folders found")
    for cls in classes:
        for dirpath, dirs, files in os.walk(root / cls):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(AUDIO_EXTENSIONS):
                    scan.add(Path(dirpath) / name, (cls,), None)
    return scan.done(f"folder data set at {root}")


def from_csv(path: str | os.PathLike, root: str | os.PathLike | None = None, strict: bool = False,
             verify: str = "header", separator: str = ";") -> list[Record]:
    """A manifest with columns path,label[,subset]; several labels are separated by ';'.

    Paths resolve inside `root` (default: the manifest's folder); one that escapes it is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "manifest not found")
    root = _root(root if root is not None else path.parent)
    scan = Scan(root, strict, verify)
    text = read_text(path, "manifest")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    if "path" not in cols or "label" not in cols:
        raise DatasetError(path, f"malformed manifest: needs columns path,label[,subset]; found {cols}")
    for line, row in enumerate(reader, start=2):
        # cells beyond the header (csv's key None, a list) are ignored, as in the stems manifest
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        where = f"{path}:{line}"
        labels = tuple(dict.fromkeys(s.strip() for s in row["label"].split(separator) if s.strip()))
        if not row["path"] or not labels:
            scan.skip(where, "malformed manifest row: empty path or label")
            continue
        try:
            p = inside(root, row["path"])
        except DatasetError as e:
            scan.skip(where, f"{e.path!s}: {e.problem}")
            continue
        scan.add(p, labels, row.get("subset") or None)
    return scan.done(f"manifest {path}")


STEMS_MIX = "mix"
STEMS_FOLDER = "stems"
STEMS_COLUMNS = ("mix", "stem", "instrument")


def stem_instrument(name: str, folder: bool = False) -> str:
    """The instrument a stem file (or, `folder`, a stem folder) names: its name without extension,
    ``_`` read as a space (``stems/tenor_saxophone.wav`` -> "tenor saxophone")."""
    return " ".join((name if folder else Path(name).stem).replace("_", " ").split())


def _song_mix(folder: Path) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        for cand in (folder / f"{STEMS_MIX}{ext}", folder / f"{STEMS_MIX}{ext.upper()}"):
            if cand.is_file():
                return cand
    return None


def _add_song(scan: Scan, mix: Path, stems: Mapping[str, Sequence[Path]], subset: str | None, song: str) -> None:
    """One song: every stem must pass `check_file` too, else the song is skipped naming that stem."""
    if not stems:
        scan.skip(mix, "no stems: a song needs at least one stem")
        return
    for paths in stems.values():
        for p in paths:
            problem = check_file(p, scan.verify)
            if problem:
                scan.skip(p, problem)
                return
    scan.add(mix, tuple(sorted(stems)), subset, song=song,
             stems={k: tuple(str(p) for p in stems[k]) for k in sorted(stems)})


def from_stems(path: str | os.PathLike, root: str | os.PathLike | None = None, strict: bool = False,
               verify: str = "header") -> list[Record]:
    """Songs with per-instrument stems (format "stems"), one `Record` per song.

    Folder layout: ``ROOT/SONG/mix.wav`` and ``ROOT/SONG/stems/<instrument>.wav`` (any audio
    extension; ``_`` in a name reads as a space; several files of one instrument go in
    ``stems/<instrument>/`` and are summed). Songs may sit in split folders, ``ROOT/<split>/SONG/``:
    the first folder below the root is the record's subset. A folder is a song when it holds a
    ``mix.*`` file or a ``stems/`` folder.

    Manifest: `path` a ``.csv`` with columns ``mix,stem,instrument[,subset]``, one row per stem (the
    mix path repeated on each row of a song; rows of one instrument in one song are summed). Paths
    resolve inside `root` (default: the manifest's folder); one that escapes it is refused.

    Record: `path` the mix, `labels` the instruments, `meta` {"song": name, "stems": {instrument:
    (paths...)}}. A song whose mix or any stem is bad (missing, empty, truncated, not audio) is
    skipped naming that file, or with `strict` raises DatasetError.
    """
    path = Path(path)
    if path.is_file() or (not path.exists() and path.suffix.lower() == ".csv"):
        return _stems_manifest(path, root, strict, verify)
    root = _root(path)
    scan = Scan(root, strict, verify)
    found = False
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        folder = Path(dirpath)
        mix = _song_mix(folder)
        has_stems = (folder / STEMS_FOLDER).is_dir()
        if mix is None and not has_stems:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            continue
        dirs[:] = []  # a song: its sub-folders are its own
        found = True
        rel = folder.relative_to(root)
        song = rel.as_posix() if rel.parts else folder.name
        subset = rel.parts[0] if len(rel.parts) > 1 else None
        if mix is None:
            scan.skip(folder / f"{STEMS_MIX}.wav", "file not found (a song needs its mix)")
            continue
        stems: dict[str, list[Path]] = {}
        if has_stems:
            for entry in sorted((folder / STEMS_FOLDER).iterdir()):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    files_in = sorted(p for p in entry.rglob("*") if p.is_file()
                                      and p.suffix.lower() in AUDIO_EXTENSIONS)
                    if files_in:
                        stems.setdefault(stem_instrument(entry.name, folder=True), []).extend(files_in)
                elif entry.suffix.lower() in AUDIO_EXTENSIONS:
                    stems.setdefault(stem_instrument(entry.name), []).append(entry)
        _add_song(scan, mix, stems, subset, song)
    if not found:
        raise DatasetError(root, f"no songs found: expected SONG/{STEMS_MIX}.wav and SONG/{STEMS_FOLDER}/"
                                 f"<instrument>.wav (or <split>/SONG/...)")
    return scan.done(f"songs with stems at {root}")


def _stems_manifest(path: Path, root: str | os.PathLike | None, strict: bool, verify: str) -> list[Record]:
    if not path.is_file():
        raise DatasetError(path, "manifest not found")
    root = _root(root if root is not None else path.parent)
    scan = Scan(root, strict, verify)
    songs: dict[str, dict[str, Any]] = {}
    with io.StringIO(read_text(path, "manifest"), newline="") as f:
        reader = csv.DictReader(f)
        cols = [(c or "").strip() for c in (reader.fieldnames or [])]
        if any(c not in cols for c in STEMS_COLUMNS):
            raise DatasetError(path, f"malformed manifest: needs columns mix,stem,instrument[,subset]; found {cols}")
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
            where = f"{path}:{line}"
            if not row["mix"] or not row["stem"] or not row["instrument"]:
                scan.skip(where, "malformed manifest row: empty mix, stem or instrument")
                continue
            song = songs.setdefault(row["mix"], {"stems": {}, "subset": row.get("subset") or None,
                                                 "line": line, "bad": None})
            if song["bad"]:
                continue
            if (row.get("subset") or None) != song["subset"]:
                song["bad"] = (where, f"subset {row.get('subset')!r} disagrees with {song['subset']!r} on line "
                                      f"{song['line']} for the same mix")
                continue
            try:
                mix = inside(root, row["mix"])
                stem = inside(root, row["stem"])
            except DatasetError as e:
                song["bad"] = (where, f"{e.path!s}: {e.problem}")
                continue
            song["mix_path"] = mix
            song["stems"].setdefault(row["instrument"], []).append(stem)
    for name, song in songs.items():
        if song["bad"]:
            scan.skip(*song["bad"])
            continue
        _add_song(scan, song["mix_path"], song["stems"], song["subset"], name)
    return scan.done(f"stems manifest {path}")


LOADERS = {
    "medley_solos_db": medley_solos_db,
    "irmas": irmas,
    "nsynth": nsynth,
    "folder": from_folder,
    "csv": from_csv,
    "stems": from_stems,
}


def load_records(format: str, root: str | os.PathLike, split: str | None = None, strict: bool = False,
                 verify: str = "header") -> list[Record]:
    """Scan a data set by format name ("medley_solos_db", "irmas", "nsynth", "folder", "csv", "stems").

    "stems" (`from_stems`): `root` a folder of songs or a manifest; `split` keeps the songs of that subset.
    """
    if format not in LOADERS:
        raise DatasetError(None, f"unknown data format {format!r}; use one of {sorted(LOADERS)}")
    if format == "medley_solos_db":
        return medley_solos_db(root, subset=split, strict=strict, verify=verify)
    if format in ("irmas", "nsynth"):
        if split is None:
            raise DatasetError(None, f"{format} needs a split")
        return LOADERS[format](root, split, strict=strict, verify=verify)
    records = LOADERS[format](root, strict=strict, verify=verify)
    if split is not None:
        subsets = sorted({r.subset for r in records if r.subset})
        chosen = [r for r in records if r.subset == split]
        if not chosen:
            has = f"its subsets are {subsets}" if subsets else "it has no subsets (no subset column or folders)"
            raise DatasetError(root, f"no split {split!r} in this {format} data set: {has}")
        records = ScanResult(chosen, records.skipped)
    return records


def subsets_of(records: Iterable[Record]) -> list[str]:
    """The subset names that `records` carry, sorted."""
    return sorted({r.subset for r in records if r.subset})


def stratified_split(records: Sequence[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """(kept, held out): about `fraction` of the records of each label set held out, seeded.

    Every label set (the class of single-label records) with two or more records keeps at least one
    record on each side, so a small class never vanishes from either. Both lists keep file order.
    """
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(tuple(sorted(r.labels)), []).append(i)
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    for key in sorted(groups):
        idx = groups[key]
        if len(idx) < 2:
            continue
        n = min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        held.update(idx[j] for j in rng.permutation(len(idx))[:n])
    kept = [r for i, r in enumerate(records) if i not in held]
    return kept, [r for i, r in enumerate(records) if i in held]


# ---------------------------------------------------------------------------------------------
# records -> classes, labels, datasets


def classes_of(records: Iterable[Record]) -> list[str]:
    """Sorted class names over all records (Medley-Solos-DB records: instrument_id order)."""
    records = list(records)
    if records and all("instrument_id" in r.meta for r in records):
        return medley_solos_db_classes(records)
    return sorted({lab for r in records for lab in r.labels})


def encode_labels(records: Sequence[Record], classes: Sequence[str], mode: str = "multi_hot") -> np.ndarray:
    """Labels as an array: "int" `(n,)`, "one_hot" `(n, classes)` or "multi_hot" `(n, classes)`.

    An unknown label raises DatasetError naming the file and the label.
    """
    from tfaudio.data.labels import OneHotEncoder, UnknownLabelError  # lazy: this module stays free of TensorFlow (light to import)

    if mode not in ("int", "one_hot", "multi_hot"):
        raise DatasetError(None, f"unknown label mode {mode!r}; use 'int', 'one_hot' or 'multi_hot'")
    encoder = OneHotEncoder(classes)  # the class list and its lookup live in tfaudio.data.labels
    n, k = len(records), encoder.num_classes
    out = np.zeros(n, np.int32) if mode == "int" else np.zeros((n, k), np.float32)
    for i, r in enumerate(records):
        try:
            idx = [encoder.index(lab) for lab in r.labels]
        except UnknownLabelError:
            unknown = [lab for lab in r.labels if lab not in encoder.classes]
            raise DatasetError(r.path, f"unknown label(s) {unknown}; classes are {list(encoder.classes)}") from None
        if mode != "multi_hot" and len(idx) != 1:
            raise DatasetError(r.path, f"{mode} labels need one label per file, found {list(r.labels)}")
        if mode == "int":
            out[i] = idx[0]
        else:
            out[i, idx] = 1.0
    return out


def summary(records: Iterable[Record]) -> dict[str, dict[str, int]]:
    """Counts per subset and class: {subset: {class: n}}."""
    counts: dict[str, Counter] = {}
    for r in records:
        c = counts.setdefault(r.subset or "all", Counter())
        for lab in r.labels:
            c[lab] += 1
    order = {s: i for i, s in enumerate(MSDB_SUBSETS + ("train", "valid"))}
    subsets = sorted(counts, key=lambda s: (order.get(s, len(order)), s))
    return {s: dict(sorted(counts[s].items())) for s in subsets}


def to_dataset(records: Sequence[Record], classes: Sequence[str] | None = None, sr: int | None = 22050,
               mono: bool = True, label_mode: str = "auto"):
    """A tf.data.Dataset of (audio, label), decoding and resampling in the graph.

    audio: `(samples,)` mono (or `(channels, samples)`), float32 at `sr`; label as `encode_labels`
    ("auto": "int" when every record has one label, else "multi_hot"). Files are read in order;
    shuffle, window and batch downstream (tfaudio.data.pipeline).
    """
    import tensorflow as tf  # lazy: this module stays free of TensorFlow (light to import)

    from tfaudio.io.audio import read_audio  # lazy: this module stays free of TensorFlow (light to import)

    records = list(records)
    if not records:
        raise DatasetError(None, "no records to make a dataset from")
    classes = list(classes) if classes is not None else classes_of(records)
    if label_mode == "auto":
        label_mode = "int" if all(len(r.labels) == 1 for r in records) else "multi_hot"
    labels = encode_labels(records, classes, label_mode)
    paths = tf.constant([r.path for r in records])
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))

    def decode(path, label):
        audio, _ = read_audio(path, sr=sr, mono=mono)
        return audio, label

    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
