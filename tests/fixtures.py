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
    from tfaudio.data.corpus import render_phrase

    return render_phrase(name, seconds=seconds, sr=sr, seed=seed)


def instrument(name: str = "piano", seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A rendered phrase of a real instrument (GM SoundFont), float32 `(samples,)`."""
    return _instrument(name, float(seconds), int(sr), int(seed)).copy()


def music(seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A mix of rendered piano, violin and flute: broadband, music-like test audio."""
    y = sum(instrument(n, seconds, sr, seed + i) for i, n in enumerate(("piano", "violin", "flute")))
    return (0.3 * y).astype(np.float32)


def tree_digest(folder: str | os.PathLike) -> str:
    """SHA-256 over the names and bytes of every file under `folder` (byte-reproducibility checks)."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


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


# ---------------------------------------------------------------------------------------------
# data-set layouts, built as the real data sets are


def make_medley_solos_db(root: str | os.PathLike, per_class: dict[str, int] | None = None,
                         subfolder: str | None = "audio", seconds: float = 0.2) -> Path:
    """Medley-Solos-DB layout: metadata CSV + `Medley-solos-DB_{subset}-{id}_{uuid4}.wav` files.

    `per_class` maps instrument name -> clips per subset (training, validation, test get n, 1, 1).
    """
    import csv
    import uuid

    root = Path(root)
    per_class = per_class or {"clarinet": 3, "piano": 2}
    adir = root / subfolder if subfolder else root
    rows = []
    for inst_id, (name, n) in enumerate(per_class.items()):
        for subset, count in (("training", n), ("validation", 1), ("test", 1)):
            for k in range(count):
                uid = str(uuid.UUID(int=inst_id * 1000 + k + 100 * len(rows), version=4))
                write_audio(adir / f"Medley-solos-DB_{subset}-{inst_id}_{uid}.wav",
                            sine(220 * (inst_id + 1), seconds), SR, "PCM_16")
                rows.append([subset, name, inst_id, 10 * inst_id + k, uid])
    with open(root / "Medley-solos-DB_metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subset", "instrument", "instrument_id", "song_id", "uuid4"])
        w.writerows(rows)
    return root


IRMAS_TRAIN_FILES = {
    "cel": ["008__[cel][nod][cla]0058__1.wav", "012__[cel][dru][pop_roc]0115__2.wav"],
    "pia": ["[pia][jaz_blu]1483__1.wav", "001__[pia][nod][cla]0001__3.wav"],
    "voi": ["[voi][pop_roc]2290__2.wav"],
}


def make_irmas(root: str | os.PathLike, seconds: float = 0.2) -> Path:
    """IRMAS layout: training folders per class, and nested test Part folders (wav + txt)."""
    root = Path(root)
    train = root / "IRMAS-TrainingData"
    for code, names in IRMAS_TRAIN_FILES.items():
        for name in names:
            write_audio(train / code / name, sine(330, seconds), 44100, "PCM_16")
    tests = {
        "IRMAS-TestingData-Part1/Part1/01. Song - a-1.wav": "cel\t\npia  \n",
        "IRMAS-TestingData-Part2/IRTestingData-Part2/(02) dont kill the whale-1.wav": "gel\nvoi\n",
        "IRMAS-TestingData-Part2/IRTestingData-Part2/(02) dont kill the whale-2.wav": "voi \n\n",
    }
    for rel, labels in tests.items():
        p = write_audio(root / rel, sine(440, seconds), 44100, "PCM_16")
        p.with_suffix(".txt").write_text(labels)
    return root


def make_nsynth(root: str | os.PathLike, split: str = "valid", seconds: float = 0.2) -> Path:
    """NSynth layout: `nsynth-{split}/examples.json` + `audio/{note_str}.wav`."""
    import json

    root = Path(root)
    base = root / f"nsynth-{split}"
    examples = {}
    for i, (family, source) in enumerate([("guitar", "acoustic"), ("guitar", "electronic"),
                                          ("keyboard", "synthetic"), ("brass", "acoustic")]):
        note = f"{family}_{source}_{i:03d}-060-100"
        examples[note] = {"note_str": note, "instrument_family_str": family, "instrument_source_str": source,
                          "pitch": 60, "velocity": 100, "qualities_str": ["bright"] if i % 2 else []}
        write_audio(base / "audio" / f"{note}.wav", sine(262, seconds, 16000), 16000, "PCM_16")
    (base / "examples.json").write_text(json.dumps(examples))
    return root
