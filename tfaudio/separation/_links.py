"""Everything `tfaudio.separation` takes from the rest of tfaudio, in one place (re-pointed when modules move).

Imports are lazy: `tfaudio.separation` loads without TensorFlow; the model, decoding and rendering load on use.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def open_model(model: Any, which: str = "best", precision: str = "float32", trust: bool = False) -> Any:
    """A `tfaudio.run.LoadedModel` (any saved form), or `model` itself when it is loaded already."""
    from tfaudio.run import LoadedModel
    from tfaudio.run import open_model as _open

    return model if isinstance(model, LoadedModel) else _open(model, which, precision, trust=trust)


def predict_activations_file(loaded: Any, path: str | os.PathLike, block_seconds: float = 30.0) -> Any:
    """`tfaudio.inference.predict_file`: a `Prediction` of a file of any length, streamed."""
    from tfaudio.inference import predict_file

    return predict_file(loaded.predictor(), None, path, block_seconds=block_seconds)


def predict_activations_audio(loaded: Any, audio: Any, source: str | None = None) -> Any:
    """`tfaudio.inference.predict_audio` on mono audio at the model's rate."""
    from tfaudio.inference import predict_audio

    return predict_audio(loaded.predictor(), None, audio, source=source)


def resample(y: Any, orig_sr: int, target_sr: int) -> Any:
    """`tfaudio.audio.resample` as numpy float32."""
    import numpy as np

    from tfaudio.audio import resample as _resample

    return np.asarray(_resample(np.asarray(y, np.float32), int(orig_sr), int(target_sr)), np.float32)


def load_audio(path: str | os.PathLike, sr: int | None = None) -> tuple[Any, int]:
    """`tfaudio.audio.load`, mono."""
    from tfaudio.audio import load

    return load(path, sr=sr)


def check_audio_file(path: str | os.PathLike) -> str:
    """`tfaudio.headers.check`: missing, empty, not audio, truncated WAV -> AudioFileError; else the kind."""
    from tfaudio.headers import check

    return check(os.fspath(path))


def decoder_problem(error: Exception) -> str:
    from tfaudio.headers import decoder_problem as _problem

    return _problem(error)


def corpus_instrument(name: str) -> Any:
    """The built-in corpus's `Instrument` named `name` (MSDB or IRMAS classes), or None."""
    from tfaudio.corpus import DEFAULT_INSTRUMENTS, IRMAS_INSTRUMENTS

    for inst in (*DEFAULT_INSTRUMENTS, *IRMAS_INSTRUMENTS):
        if inst.name == name:
            return inst
    return None


def render_phrase(instrument: Any, seconds: float, sr: int, seed: int, soundfont: str, program: int) -> Any:
    """`tfaudio.corpus.render_phrase`: one solo phrase, float32 `(samples,)`."""
    from tfaudio.corpus import render_phrase as _render

    return _render(instrument, seconds=seconds, sr=sr, seed=seed, soundfont=soundfont, program=program)


def soundfont_programs(instrument: Any, soundfont: str, sr: int) -> tuple[int, ...]:
    """The instrument's GM programs that `soundfont` has (`tfaudio.corpus.Renderer.programs`)."""
    from tfaudio.corpus import Renderer

    return tuple(Renderer(soundfont, sr).programs(instrument))


def cache_dir() -> Path:
    """$TFAUDIO_CACHE or ~/.cache/tfaudio (as `tfaudio.train.cache_dir`)."""
    return Path(os.environ.get("TFAUDIO_CACHE") or Path.home() / ".cache" / "tfaudio")


def song_records(path: str | os.PathLike) -> list[Any]:
    """`tfaudio.datasets.from_stems`: songs with per-instrument stems."""
    from tfaudio.datasets import from_stems

    return from_stems(path)


def song_reference(record: Any, spec: Any, samples: int, mix: Any = None) -> tuple[Any, Any, dict]:
    """`tfaudio.evaluate.song_reference`: true activations of a song from its stems."""
    from tfaudio.evaluate import song_reference as _reference

    return _reference(record, spec, samples, mix=mix)


def class_index(name: str, classes: Any) -> int | None:
    from tfaudio.evaluate import class_index as _index

    return _index(name, classes)


def outputs() -> Any:
    """`tfaudio.outputs` (atomic writes, file sets, command folders)."""
    from tfaudio import outputs as _outputs

    return _outputs
