"""Pretrained models that ship inside the package, selectable by name wherever a run folder is accepted.

    model, spec = tfaudio.deploy.loading.open_run("activations")      # (keras.Model, RunSpec)
    tfaudio predict msdb song.wav --out DIR

* ``msdb`` — single-label, Medley-Solos-DB's 8 classes and names (`cnn_compact` on log-mel).
* ``irmas`` — multi-label, IRMAS's 11 classes by their three-letter codes (`cnn_compact` on log-mel,
  thresholds chosen on held-out-SoundFont validation).
* ``activations`` — seed 001's frame-level activations of the 8 Medley-Solos-DB classes (`activation_cnn`).

Each is a run folder (``run.json``, ``config.json``, ``checkpoints/best.keras`` without optimizer state,
``card.json`` with the measured numbers) under this package; its model card is ``docs/pretrained/NAME.md``
and its recipe ``pipelines/pretrained_NAME.yaml``. This package holds the shipped files and their names and paths
(standard library only); `tfaudio.deploy.package` writes them, `tfaudio.deploy.loading` loads them.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from tfaudio.errors import TfaudioError

log = logging.getLogger(__name__)

__all__ = ["NAMES", "path", "available", "card", "is_name"]

NAMES = ("msdb", "irmas", "activations")
_HERE = Path(__file__).resolve().parent


def is_name(model: str | os.PathLike) -> bool:
    """Whether `model` names a pretrained model (and is not a local path of that name)."""
    return str(model) in NAMES and not Path(model).exists()


def folder(name: str) -> Path:
    """Where pretrained model `name` lives (or is packaged) inside the package; one line for unknown names."""
    if name not in NAMES:
        raise TfaudioError(f"unknown pretrained model {name!r}; choose one of {list(NAMES)}")
    return _HERE / name


def path(name: str) -> Path:
    """The run folder of pretrained model `name` inside the package."""
    where = folder(name)
    if not (where / "run.json").is_file() or not (where / "checkpoints" / "best.keras").is_file():
        raise TfaudioError(f"pretrained model {name!r} is not in this installation ({where} is missing its files)")
    return where


def available() -> list[str]:
    """The pretrained models this installation has."""
    return [n for n in NAMES if (_HERE / n / "checkpoints" / "best.keras").is_file()]


def card(name: str) -> dict[str, Any]:
    """What `card.json` records of a pretrained model: training data, recipe command, measured numbers."""
    f = path(name) / "card.json"
    return json.loads(f.read_text()) if f.is_file() else {}
