"""A training run's folder: what `tfaudio train` writes and `evaluate`, `predict` and `export` read.

    RUN/
      run.json              RunSpec: task, classes, features, window (what inference needs)
      config.json           the resolved experiment config
      checkpoints/best.keras, checkpoints/last.keras   (an SVM run: checkpoints/best.skops)
      history.csv           per-epoch metrics (keras CSVLogger)
      backup/               state for `--resume` (keras BackupAndRestore)
      logs/                 TensorBoard
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from tfaudio.config import FeatureConfig, from_dict, to_dict, write_json
from tfaudio.errors import TfaudioError

TASKS = ("activation", "single_label", "multi_label")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What inference needs to know about a trained model.

    task: "activation" (output `(batch, instruments, frames)`), "single_label" (softmax
    `(batch, classes)`) or "multi_label" (sigmoid `(batch, classes)`). `window`: samples at
    `features.sr` the model sees per example. `model_input`: "features" `(batch, frames, bins)`
    computed with `features`, or "audio" `(batch, samples)`.
    """

    task: str
    classes: tuple[str, ...]
    features: FeatureConfig
    window: int
    model_input: str = "features"
    threshold: float = 0.5
    thresholds: tuple[float, ...] = ()  # per class (multi-label), chosen on the validation split
    threshold_source: str = ""

    def __post_init__(self) -> None:
        if self.thresholds and len(self.thresholds) != len(self.classes):
            raise TfaudioError(f"{len(self.thresholds)} thresholds for {len(self.classes)} classes")
        if self.task not in TASKS:
            raise TfaudioError(f"task {self.task!r} is not one of {TASKS}")
        if self.model_input not in ("features", "audio"):
            raise TfaudioError(f"model_input {self.model_input!r} must be 'features' or 'audio'")
        if self.window <= 0 or not self.classes:
            raise TfaudioError("a run needs a positive window and at least one class")

    @property
    def sr(self) -> int:
        return self.features.sr

    def class_thresholds(self) -> tuple[float, ...]:
        """The decision threshold of each class: `thresholds` when chosen, else `threshold` for all."""
        return tuple(self.thresholds) if self.thresholds else (float(self.threshold),) * len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        data = dict(data)
        feats = dict(data["features"])
        if "scale" not in feats and feats.get("kind") in ("cqt", "stft"):
            feats["scale"] = "linear"  # runs written before `scale` existed fed CQT/STFT magnitudes unscaled
        data["features"] = from_dict(FeatureConfig, feats)
        data["classes"] = tuple(data["classes"])
        return from_dict(cls, data)


def write_spec(spec: RunSpec, run_dir: str | os.PathLike) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_json(spec, run_dir / "run.json")


def resolve_run(run: str | os.PathLike) -> Path:
    """A run folder: `run` itself, or the package's folder of a pretrained model name ("msdb", "irmas",
    "activations") when no local path has that name."""
    from tfaudio import pretrained

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


def open_run(run_dir: str | os.PathLike, which: str = "best"):
    """(model, RunSpec) of a run folder: a `keras.Model`, or for an SVM run the `SVMBaseline` (which
    inference and evaluation take where a Keras model goes). Falls back to the last checkpoint when no
    best exists (see `resolve_checkpoint`)."""
    import keras

    import tfaudio.features  # noqa: F401  (registers the feature layers)
    import tfaudio.models  # noqa: F401  (registers the model layers)

    run_dir = resolve_run(run_dir)
    spec = read_spec(run_dir)
    path = resolve_checkpoint(run_dir, which)
    if not path.is_file():
        raise TfaudioError(f"{run_dir}: no checkpoint ({path.name}) in this run")
    if path.suffix in (SVM_SUFFIX, OLD_SVM_SUFFIX):
        from tfaudio.models.svm import SVMBaseline

        return SVMBaseline.load(path), spec
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as e:  # damaged or foreign: one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise TfaudioError(f"{path}: cannot load this checkpoint (is it a complete .keras file written by "
                           f"tfaudio?): {first}") from None
    return model, spec
