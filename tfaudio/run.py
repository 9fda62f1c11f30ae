"""A training run's folder: what `tfaudio train` writes and `evaluate`, `predict` and `export` read.

    RUN/
      run.json              RunSpec: task, classes, features, window (what inference needs)
      config.json           the resolved experiment config
      checkpoints/best.keras, checkpoints/last.keras
      history.csv           per-epoch metrics (keras CSVLogger)
      backup/               state for `--resume` (keras BackupAndRestore)
      logs/                 TensorBoard
"""
from __future__ import annotations

import dataclasses
import json
import os
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

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise TfaudioError(f"task {self.task!r} is not one of {TASKS}")
        if self.model_input not in ("features", "audio"):
            raise TfaudioError(f"model_input {self.model_input!r} must be 'features' or 'audio'")
        if self.window <= 0 or not self.classes:
            raise TfaudioError("a run needs a positive window and at least one class")

    @property
    def sr(self) -> int:
        return self.features.sr

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        data = dict(data)
        data["features"] = from_dict(FeatureConfig, data["features"])
        data["classes"] = tuple(data["classes"])
        return from_dict(cls, data)


def write_spec(spec: RunSpec, run_dir: str | os.PathLike) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_json(spec, run_dir / "run.json")


def read_spec(run_dir: str | os.PathLike) -> RunSpec:
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


def open_run(run_dir: str | os.PathLike, which: str = "best"):
    """(keras.Model, RunSpec) of a run folder. Falls back to the last checkpoint when no best exists."""
    import keras

    import tfaudio.features  # noqa: F401  (registers the feature layers)
    import tfaudio.models  # noqa: F401  (registers the model layers)

    spec = read_spec(run_dir)
    path = checkpoint_path(run_dir, which)
    if not path.is_file() and which == "best":
        path = checkpoint_path(run_dir, "last")
    if not path.is_file():
        raise TfaudioError(f"{run_dir}: no checkpoint ({path.name}) in this run")
    model = keras.models.load_model(path, safe_mode=True)
    return model, spec
