"""Packaging a trained run as a pretrained model that ships inside tfaudio (`tfaudio/pretrained/NAME/`).

Run as `python -m tfaudio.pretrained package RUN NAME [REPORT ...]` (`tfaudio/pretrained/__main__.py`).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import keras

from tfaudio import pretrained
from tfaudio.deploy.loading import open_run
from tfaudio.io import outputs

log = logging.getLogger(__name__)


def package_pretrained(run_dir: str | os.PathLike, name: str, card_data: dict[str, Any] | None = None) -> Path:
    """Copy a trained run into the package as pretrained model `name`: run.json, config.json, splits.json,
    and best.keras re-saved without optimizer state (the weights alone), plus `card_data` as card.json."""
    dest = pretrained.folder(name)
    run_dir = Path(run_dir)
    model, _ = open_run(run_dir)
    # float32 everywhere (a run trained under mixed precision keeps float32 variables): users' CPUs need no bf16
    config = json.loads(json.dumps(model.get_config()).replace('"mixed_bfloat16"', '"float32"')
                        .replace('"mixed_float16"', '"float32"'))
    bare = keras.Model.from_config(config)
    bare.set_weights(model.get_weights())
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
