"""What data a run reads: the cache and corpus root, the data set's splits by role (training, validation,
test), held-out SoundFonts and the validation carve-out.
"""
from __future__ import annotations

import logging

import dataclasses
import os
from pathlib import Path
from typing import Any

from tfaudio.errors import ConfigError, DatasetError
from tfaudio.experiment import ExperimentConfig
from tfaudio.data import corpus, datasets
from tfaudio.experiment import DataConfig
from tfaudio.io import outputs

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where the built-in corpus is rendered: $TFAUDIO_CACHE or ~/.cache/tfaudio."""
    return Path(os.environ.get("TFAUDIO_CACHE") or Path.home() / ".cache" / "tfaudio")


def corpus_root(cfg: ExperimentConfig) -> Path:
    """The built-in corpus for an experiment: rendered at the features' rate once, then reused.

    It is rendered only into the cache or into a new or empty `data.root`: a folder that holds anything
    else (most likely a real data set with `data.format` left at "corpus") is refused, never touched.
    """
    d = cfg.data
    fonts = corpus_soundfonts(cfg)
    if d.root:
        root = Path(d.root)
    else:
        extra = ("" if d.classes == "msdb" else f"-{d.classes}") + \
            ("" if fonts == ("timgm6mb",) else "-" + "+".join(Path(f).stem.lower() for f in fonts))
        # v2: expressive multi-program rendering with soundfont/program columns (an older cache is not reused)
        root = cache_dir() / f"corpus-v2-sr{cfg.features.sr}-n{d.per_class}-seed{d.corpus_seed}{extra}"
    if (root / datasets.MSDB_METADATA).is_file():
        return root
    if root.exists() and not outputs.is_empty_dir(root):
        guess = datasets.guess_format(root)
        hint = (f"it looks like a {guess!r} data set: add --set data.format={guess}" if guess else
                f"to train on a data set there, set data.format (one of {sorted(datasets.LOADERS)})")
        raise ConfigError(f"{root}: data.format is 'corpus' but data.root is not an empty folder or a rendered "
                          f"corpus, and the built-in corpus is never rendered over other files; {hint}")
    n_samples = int(round(max(3.0, d.clip_seconds) * cfg.features.sr))
    log.info("rendering the built-in corpus into %s", root)
    kw: dict[str, Any] = {} if fonts == ("timgm6mb",) else {"soundfonts": list(fonts)}
    try:
        corpus.render_corpus(root, corpus.instrument_set(d.classes), per_class=d.per_class, seed=d.corpus_seed,
                             sr=cfg.features.sr, n_samples=n_samples, **kw)
    except OSError:
        if (root / datasets.MSDB_METADATA).is_file():  # another process rendered it at the same time
            return root
        raise
    return root


SPLIT_ROLES = ("training", "validation", "test")


def corpus_soundfonts(cfg: ExperimentConfig) -> tuple[str, ...]:
    """The SoundFonts the built-in corpus renders: `data.soundfonts`, with the validation and test
    SoundFonts added if missing (default: timgm6mb alone)."""
    d = cfg.data
    fonts = tuple(d.soundfonts) or ("timgm6mb",)
    return fonts + tuple(f for f in (*d.val_soundfonts, *d.test_soundfonts) if f not in fonts)


def _font(record: Any) -> str:
    return str(record.meta.get("soundfont", "")) if getattr(record, "meta", None) else ""


def _by_soundfont(cfg: ExperimentConfig, fmt: str, root: Path, train, val, test, with_test: bool):
    """Cross-SoundFont splits: every clip of `data.val_soundfonts` is validation, of `data.test_soundfonts`
    test; training (and, where no held-out SoundFont is named, validation and test) keeps the others."""
    d = cfg.data
    held_val, held_test = set(d.val_soundfonts), set(d.test_soundfonts)
    everything = datasets.load_records(fmt, root, strict=d.strict, verify=d.verify)
    fonts = {_font(r) for r in everything}
    if "" in fonts:
        raise DatasetError(root, "data.val_soundfonts/test_soundfonts need records that name their SoundFont "
                                 "(a corpus rendered by tfaudio corpus render has a soundfont column)")
    unknown = sorted((held_val | held_test) - fonts)
    if unknown:
        raise DatasetError(root, f"no clips of SoundFont(s) {unknown} here; the data has {sorted(fonts)}")
    held = held_val | held_test
    train = [r for r in train if _font(r) not in held]
    val = [r for r in everything if _font(r) in held_val] if held_val else \
        [r for r in (val or []) if _font(r) not in held]
    if with_test:
        test = [r for r in everything if _font(r) in held_test] if held_test else \
            [r for r in (test or []) if _font(r) not in held]
    log.info("cross-SoundFont splits: training on %s, validating on %s, testing on %s",
             sorted(fonts - held), sorted(held_val) or "the training SoundFonts", sorted(held_test) or
             "the training SoundFonts")
    return train, val, test


def data_source(cfg: ExperimentConfig) -> tuple[str, Path]:
    """(format, root) of an experiment's data; the built-in corpus is rendered on first use."""
    d = cfg.data
    if d.format == "corpus":
        return "medley_solos_db", corpus_root(cfg)
    return d.format, Path(d.root)


def _read_split(cfg: ExperimentConfig, fmt: str, root: Path, role: str, name: str):
    try:
        return datasets.load_records(fmt, root, split=name, strict=cfg.data.strict, verify=cfg.data.verify)
    except DatasetError as e:
        raise DatasetError(e.path, f"{role} split (data.{_SPLIT_KEYS[role]}={name!r}): {e.problem}") from None


_SPLIT_KEYS = {"training": "train_split", "validation": "val_split", "test": "test_split"}
#: A format's own split names, used where the config keeps the generic defaults (IRMAS has no validation split).
FORMAT_SPLITS = {"irmas": ("train", None, "test"), "nsynth": ("train", "valid", "test")}


def split_names(cfg: ExperimentConfig) -> tuple[str | None, str | None, str | None]:
    """(training, validation, test) split names of an experiment's data: `data.*_split`, where left at
    the generic defaults ("training", "validation", "test") the format's own names."""
    d, generic = cfg.data, DataConfig()
    own = FORMAT_SPLITS.get(d.format)
    names = (d.train_split, d.val_split, d.test_split)
    if own is None:
        return names
    defaults = (generic.train_split, generic.val_split, generic.test_split)
    return tuple(o if n == g else n for n, g, o in zip(names, defaults, own))  # type: ignore[return-value]


def load_splits(cfg: ExperimentConfig, with_test: bool = False):
    """(train, validation, test) records of an experiment's data.

    training: `data.train_split` (folder and csv data with no subsets at all: every file). validation:
    `data.val_split`; where the data has no such split, `data.val_fraction` of the training files is
    held out, stratified by class and seeded by `train.seed` (`validation_carve_out` says how).
    test: `data.test_split` when `with_test` (a missing one is an error naming it), else None.
    """
    d = cfg.data
    train_name, val_name, test_name = split_names(cfg)
    fmt, root = data_source(cfg)
    kw = dict(strict=d.strict, verify=d.verify)
    everything = datasets.load_records(fmt, root, **kw) if fmt in ("folder", "csv") else None
    if everything is not None and not datasets.subsets_of(everything):
        train = everything  # no subsets at all: everything is training data
        if val_name or test_name:
            log.info("%s has no subsets: every file is training data", root)
        val = test = None
    else:
        if not train_name:
            raise ConfigError("data.train_split is not set")
        train = _read_split(cfg, fmt, root, "training", train_name)
        val = test = None
        if val_name:
            try:
                val = _read_split(cfg, fmt, root, "validation", val_name)
            except DatasetError as e:
                log.info("%s; holding out part of the training files instead", e)
        if with_test:
            if not test_name:
                raise ConfigError("data.test_split is not set: name the split to evaluate on")
            test = _read_split(cfg, fmt, root, "test", test_name)
    if d.val_soundfonts or d.test_soundfonts:
        train, val, test = _by_soundfont(cfg, fmt, root, train, val, test, with_test)
    if not train:
        raise DatasetError(root, f"no training records (split {train_name!r})")
    if not val and d.val_fraction > 0:
        train, val = datasets.stratified_split(train, d.val_fraction, cfg.train.seed)
        log.info("validation: %d of %d training files held out (%.0f%%, stratified by class, seed %d)",
                 len(val), len(train) + len(val), 100 * d.val_fraction, cfg.train.seed)
    return list(train), (list(val) if val else None), (list(test) if test else None)


def validation_carve_out(cfg: ExperimentConfig, train_recs, val_recs) -> dict[str, Any] | None:
    """What `RUN/splits.json` records of a held-out validation set (None when the data has its own)."""
    val_name = split_names(cfg)[1]
    if not val_recs or (val_name and any(r.subset == val_name for r in val_recs)):
        return None
    return {"validation": "held out of the training files, stratified by class",
            "fraction": cfg.data.val_fraction, "seed": cfg.train.seed,
            "training_files": len(train_recs), "validation_files": [r.path for r in val_recs]}


def split_records(cfg: ExperimentConfig, role: str):
    """Records of one split of an experiment's data by role: "training", "validation" or "test"
    (or the data's own name for it, e.g. IRMAS "train"; with `data.test_soundfonts`, "test" is the held-out
    SoundFonts and "test_in_distribution" the test clips of the trained ones). Raises DatasetError naming
    the split and the choices when it has no records."""
    names = dict(zip(SPLIT_ROLES, split_names(cfg)))
    role = next((r for r, n in names.items() if n and role == n), role)
    roles = SPLIT_ROLES + (("test_in_distribution",) if cfg.data.test_soundfonts else ())
    if role not in roles:
        choices = list(roles) + sorted({n for n in names.values() if n and n not in SPLIT_ROLES})
        raise DatasetError(None, f"unknown split {role!r}; choose one of {choices}")
    if role == "test_in_distribution":  # the test clips of the SoundFonts it was trained on
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, test_soundfonts=()))
        role = "test"
    train, val, test = load_splits(cfg, with_test=role == "test")
    recs = {"training": train, "validation": val, "test": test}[role]
    if not recs:
        raise DatasetError(None, f"the {role} split has no records")
    return recs
