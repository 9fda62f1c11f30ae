"""RunSpec: what inference needs to know about a trained model (task, classes, features, window); TASKS;
`spec_from_metadata` reads it back from an export. Light: no TensorFlow.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from tfaudio.config import FeatureConfig, from_dict, to_dict
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
        feats = dict(data["features"])
        if "scale" not in feats and feats.get("kind") in ("cqt", "stft"):
            feats["scale"] = "linear"  # runs written before `scale` existed fed CQT/STFT magnitudes unscaled
        return from_dict(cls, {**data, "features": feats})


def spec_from_metadata(meta: dict[str, Any], where: str | os.PathLike = "") -> RunSpec:
    """The RunSpec an export's metadata records (`run_spec`; older exports: its top-level keys)."""
    try:
        if "run_spec" in meta:
            return RunSpec.from_dict(meta["run_spec"])
        return RunSpec.from_dict({k: meta[k] for k in ("task", "classes", "features", "window", "model_input")}
                                 | {"threshold": meta.get("threshold", 0.5)})
    except (KeyError, ValueError, TypeError) as e:
        raise TfaudioError(f"{where}: malformed tfaudio metadata ({e})") from None
