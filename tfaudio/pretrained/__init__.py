"""Pretrained models that ship inside the package, selectable by name wherever a run folder is accepted.

    model, spec = tfaudio.pretrained.load("activations")      # (keras.Model, RunSpec)
    tfaudio predict msdb song.wav --out DIR

* ``msdb`` — single-label, Medley-Solos-DB's 8 classes and names (`cnn_compact` on log-mel).
* ``irmas`` — multi-label, IRMAS's 11 classes by their three-letter codes (`cnn_compact` on log-mel,
  thresholds chosen on held-out-SoundFont validation).
* ``activations`` — seed 001's frame-level activations of the 8 Medley-Solos-DB classes (`activation_cnn`).

Each is a run folder (``run.json``, ``config.json``, ``checkpoints/best.keras`` without optimizer state,
``card.json`` with the measured numbers) under this package; its model card is ``docs/pretrained/NAME.md``
and its recipe ``pipelines/pretrained_NAME.yaml``.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from tfaudio.errors import TfaudioError

log = logging.getLogger(__name__)

__all__ = ["NAMES", "path", "available", "load", "card", "is_name", "package"]

NAMES = ("msdb", "irmas", "activations")
_HERE = Path(__file__).resolve().parent


def is_name(model: str | os.PathLike) -> bool:
    """Whether `model` names a pretrained model (and is not a local path of that name)."""
    return str(model) in NAMES and not Path(model).exists()


def path(name: str) -> Path:
    """The run folder of pretrained model `name` inside the package."""
    if name not in NAMES:
        raise TfaudioError(f"unknown pretrained model {name!r}; choose one of {list(NAMES)}")
    folder = _HERE / name
    if not (folder / "run.json").is_file() or not (folder / "checkpoints" / "best.keras").is_file():
        raise TfaudioError(f"pretrained model {name!r} is not in this installation ({folder} is missing its files)")
    return folder


def available() -> list[str]:
    """The pretrained models this installation has."""
    return [n for n in NAMES if (_HERE / n / "checkpoints" / "best.keras").is_file()]


def load(name: str) -> tuple[Any, Any]:
    """(keras.Model, RunSpec) of pretrained model `name`."""
    from tfaudio.run import open_run

    return open_run(path(name))


def card(name: str) -> dict[str, Any]:
    """What `card.json` records of a pretrained model: training data, recipe command, measured numbers."""
    f = path(name) / "card.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def package(run_dir: str | os.PathLike, name: str, card_data: dict[str, Any] | None = None) -> Path:
    """Copy a trained run into the package as pretrained model `name`: run.json, config.json, splits.json,
    and best.keras re-saved without optimizer state (the weights alone), plus `card_data` as card.json."""
    import keras

    from tfaudio import outputs
    from tfaudio.run import open_run

    if name not in NAMES:
        raise TfaudioError(f"unknown pretrained model {name!r}; choose one of {list(NAMES)}")
    run_dir = Path(run_dir)
    model, _ = open_run(run_dir)
    # float32 everywhere (a run trained under mixed precision keeps float32 variables): users' CPUs need no bf16
    config = json.loads(json.dumps(model.get_config()).replace('"mixed_bfloat16"', '"float32"')
                        .replace('"mixed_float16"', '"float32"'))
    bare = keras.Model.from_config(config)
    bare.set_weights(model.get_weights())
    dest = _HERE / name
    (dest / "checkpoints").mkdir(parents=True, exist_ok=True)
    outputs.atomic_write(dest / "checkpoints" / "best.keras", bare.save)
    for f in ("run.json", "config.json", "splits.json"):
        if (run_dir / f).is_file():
            outputs.write_bytes(dest / f, (run_dir / f).read_bytes())
    if card_data is not None:
        outputs.write_text(dest / "card.json", json.dumps(card_data, indent=2, sort_keys=True) + "\n")
    log.info("packaged %s as pretrained %r (%.1f MB)", run_dir, name,
             (dest / "checkpoints" / "best.keras").stat().st_size / 2**20)
    return dest
