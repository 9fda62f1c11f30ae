"""Separating a file into a folder of stems, as one set of files (`tfaudio.io.outputs.file_set`: all or none).

    <instrument>.wav      one stem per instrument (spaces as _), 32-bit float at the input's rate, length and
                          channels; the stems add up to the input (float rounding). With instruments chosen,
                          the other instruments go to rest.wav
    activations.npy       (classes, frames) float32: the activations that gated the separation
    separation.json       the resolved SeparationConfig, the model, the classes, the frame times' hop, the files
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from tfaudio.io import outputs
from tfaudio.separation.separate import Separator, _Source


def _stem_file(name: str) -> str:
    return f"{name.replace(' ', '_').replace('/', '_')}.wav"


def write_stems(sep: Separator, path: str, folder: Path, overwrite: bool = False,
                description: str = "") -> tuple[list[Path], float]:
    """Separate the file `path` into `folder` (one set of files, block by block). Returns (files, seconds)."""
    source = _Source(path=path)
    try:
        acts, times = sep._guidance(source, None, None)
        names = [_stem_file(n) for n in sep.names]
        files = [*names, "activations.npy", "separation.json"]
        with outputs.file_set(folder, files, overwrite=overwrite, what="separate") as tmp:
            writers = [sf.SoundFile(tmp / n, "w", source.sr, source.channels, subtype="FLOAT") for n in names]
            try:
                for block in sep.blocks(source, acts, times):
                    for w, stem in zip(writers, block):
                        w.write(stem)
            finally:
                for w in writers:
                    w.close()
            np.save(tmp / "activations.npy", np.zeros((len(sep.classes), 0), np.float32) if acts is None
                    else np.asarray(acts, np.float32))
            hop = float(np.median(np.diff(times))) if times is not None and len(times) > 1 else None
            info = {"config": dataclasses.asdict(sep.config), "model": description, "source": path,
                    "sr": source.sr, "samples": source.frames, "channels": source.channels,
                    "classes": list(sep.classes), "stems": dict(zip(sep.names, names)),
                    "activations": {"file": "activations.npy", "shape": [len(sep.classes), 0 if acts is None
                                                                         else int(np.shape(acts)[1])],
                                    "frame_seconds": hop, "guidance": sep.config.guidance}}
            (tmp / "separation.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    finally:
        source.close()
    return [folder / f for f in files], source.frames / source.sr
