"""Synthetic and rendered audio fixtures, in one place for every test module.

Everything is made here, by the tests: sines, chirps, noise, silence, rendered
instrument phrases (General MIDI SoundFont), and files in any format/subtype.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

SR = 22050


def sine(freq: float = 440.0, seconds: float = 1.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(f0: float = 30.0, f1: float = 8000.0, seconds: float = 2.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """Exponential sweep from f0 to f1 Hz."""
    t = np.arange(int(round(seconds * sr))) / sr
    k = np.log(f1 / f0) / seconds
    return (amp * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)).astype(np.float32)


def noise(seconds: float = 1.0, sr: int = SR, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(round(seconds * sr)))).astype(np.float32)


def silence(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    return np.zeros(int(round(seconds * sr)), np.float32)


@functools.lru_cache(maxsize=32)
def _instrument(name: str, seconds: float, sr: int, seed: int) -> np.ndarray:
    from tfaudio.corpus import render_phrase

    return render_phrase(name, seconds=seconds, sr=sr, seed=seed)


def instrument(name: str = "piano", seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A rendered phrase of a real instrument (GM SoundFont), float32 `(samples,)`."""
    return _instrument(name, float(seconds), int(sr), int(seed)).copy()


def music(seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A mix of rendered piano, violin and flute: broadband, music-like test audio."""
    y = sum(instrument(n, seconds, sr, seed + i) for i, n in enumerate(("piano", "violin", "flute")))
    return (0.3 * y).astype(np.float32)


def write_audio(path: str | os.PathLike, y: np.ndarray, sr: int = SR, subtype: str | None = None,
                format: str | None = None) -> Path:
    """Write `y` ((samples,) or (samples, channels)) with soundfile; format from the suffix by default."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype, format=format)
    return path


def write_bad_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Bad audio files, keyed by what is wrong with them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = write_audio(folder / "good.wav", sine(seconds=0.5), SR, "PCM_16")
    raw = good.read_bytes()
    bad = {
        "empty": folder / "empty.wav",
        "truncated": folder / "truncated.wav",
        "not_audio": folder / "not_audio.wav",
        "header_only": folder / "header_only.wav",
        "nan": folder / "nan.wav",
        "missing": folder / "missing.wav",
    }
    bad["empty"].write_bytes(b"")
    bad["truncated"].write_bytes(raw[:30])
    bad["not_audio"].write_bytes(b"this is a text file, not audio\n" * 20)
    bad["header_only"].write_bytes(raw[:44])
    y = sine(seconds=0.1)
    y[10] = np.nan
    y[20] = np.inf
    write_audio(bad["nan"], y, SR, "FLOAT")
    return bad
