"""Multi-instrument renders: instruments in turn (`render_sequence`), songs with per-instrument stems
(`render_songs`) and IRMAS-style excerpts (`render_irmas_excerpts`).
"""
from __future__ import annotations

import logging

import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from tfaudio.data.datasets import stem_instrument
from tfaudio.errors import TfaudioError
from tfaudio.data.corpus import MSDB_SR, Renderer, _normalise, _resolve, pick_program
from tfaudio.data.phrases import DEFAULT_INSTRUMENTS, IRMAS_INSTRUMENTS, Instrument, Note, phrase_controls, random_expression, random_performance, random_phrase
import json
import struct

log = logging.getLogger(__name__)



def render_sequence(
    instruments: Sequence[Instrument | str | int] = DEFAULT_INSTRUMENTS,
    seconds_each: float = 5.0,
    sr: int = 44100,
    seed: int = 0,
    soundfont: str | os.PathLike | None = None,
    peak: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Instruments played in turn, `seconds_each` seconds each, as seed 001's "Sequence" test audio.

    Returns (mix `(samples,)`, stems `(instruments, samples)` that sum to the mix, class names).
    """
    insts = [_resolve(i) for i in instruments]
    renderer = Renderer(soundfont, sr)
    rng = np.random.default_rng(seed)
    n = int(round(seconds_each * sr))
    stems = np.zeros((len(insts), n * len(insts)), np.float32)
    for k, inst in enumerate(insts):
        for _ in range(10):
            perf = random_performance(inst, seconds_each, rng)
            y = renderer.render(perf.notes, inst.program, seconds_each, perf.controls)
            if np.sqrt(np.mean(y ** 2)) > 1e-3:
                break
        stems[k, k * n:(k + 1) * n] = _normalise(y[:n], peak)
    return stems.sum(axis=0), stems, [i.name for i in insts]


def song_schedule(n_instruments: int, seconds: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """When each of `n_instruments` instruments plays in a song of `seconds` seconds: (start, end) each.

    Instruments enter one after another and leave one after another, in random orders, so the song
    passes through 1, 2, ..., n, ..., 2, 1 instruments at once: ``2n - 1`` sections of random lengths
    (0.6 to 1.4 of an equal share, twice that for the middle one, where all n play), the first
    entering at 0 and the last leaving at the end.
    """
    k = int(n_instruments)
    if k < 1 or seconds <= 0:
        raise TfaudioError(f"a song needs at least one instrument and a positive length, got {k}, {seconds}")
    lengths = rng.uniform(0.6, 1.4, 2 * k - 1)
    lengths[k - 1] *= 2.0  # all n at once: long enough to hear them together despite the phrases' rests
    bounds = np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum() * seconds])
    bounds[-1] = seconds
    enter, leave = rng.permutation(k), rng.permutation(k)
    start = np.empty(k)
    end = np.empty(k)
    start[enter] = bounds[:k]
    end[leave] = bounds[k:]
    return [(float(a), float(b)) for a, b in zip(start, end)]


def render_songs(
    out: str | os.PathLike,
    n_songs: int = 4,
    seconds: float = 20.0,
    instruments: Sequence[Instrument | str | int] = DEFAULT_INSTRUMENTS,
    seed: int = 0,
    sr: int = MSDB_SR,
    soundfont: str | os.PathLike | None = None,
    max_polyphony: int = 4,
    peak: float = 0.9,
    progress: bool = True,
) -> list[Path]:
    """Render songs with per-instrument stems in the "stems" layout (`tfaudio.data.datasets.from_stems`).

    Each song ``out/song_NNN/`` holds ``mix.wav``, ``stems/<instrument>.wav`` (spaces as ``_``) and
    ``song.json`` (the schedule). A song has ``min(max_polyphony, len(instruments))`` distinct
    instruments, each playing one random expressive phrase (`random_performance`, by one of its GM
    programs that the SoundFont has, chosen at random) over its stretch of the song, the
    stretches overlapping as `song_schedule` lays them out, so frames with 1, 2, ... up to that many
    instruments at once all occur. Each stem gets a random level (peak 0.3-0.9); then every stem is
    scaled by one factor so that the mix peaks at `peak`, and the mix is the sum of the scaled stems
    (32-bit float WAVs: the stems as read back, added in turn in float32, give the mix bit for bit).
    A song is built in a hidden temporary folder and renamed into place when complete; an existing
    song folder is never overwritten. The same seed gives the same songs, byte for byte. Returns the
    song folders.
    """
    from tqdm.auto import tqdm  # lazy: progress bars only

    from tfaudio.io import outputs  # lazy: this module stays free of TensorFlow (light to import)

    insts = [_resolve(i) for i in instruments]
    names = [i.name for i in insts]
    if len(set(names)) != len(names):
        raise TfaudioError(f"instrument classes repeat: {names}")
    if n_songs < 1 or seconds <= 0 or max_polyphony < 1 or not insts:
        raise TfaudioError(f"need at least one song of positive length with at least one instrument, got "
                           f"n_songs={n_songs}, seconds={seconds}, max_polyphony={max_polyphony}")
    out = Path(out)
    finals = [out / f"song_{i:03d}" for i in range(n_songs)]
    taken = [str(p) for p in finals if p.exists()]
    if taken:
        raise TfaudioError(f"{taken[0]}: exists; songs are rendered only into new folders (nothing is overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(soundfont, sr)
    n_total = int(round(seconds * sr))
    k = min(int(max_polyphony), len(insts))
    release = 0.5
    written: list[Path] = []
    for final, ss in tqdm(list(zip(finals, np.random.SeedSequence(seed).spawn(n_songs))), desc="rendering songs",
                          unit="song", disable=not progress):
        rng = np.random.default_rng(ss)
        chosen = [insts[j] for j in rng.choice(len(insts), size=k, replace=False)]
        schedule = song_schedule(k, seconds, rng)
        stems = np.zeros((k, n_total), np.float32)
        levels, programs = [], []
        for row, (inst, (a, b)) in enumerate(zip(chosen, schedule)):
            dur = b - a
            at = int(round(a * sr))
            length = min(dur + release, seconds - a)
            choices = renderer.programs(inst)
            for _ in range(10):
                program = pick_program(choices, rng)
                expression = random_expression(inst, dur, rng)
                notes = [Note(n.pitch, n.start, min(n.end, dur), n.velocity)
                         for n in random_phrase(inst, dur, rng, expression) if n.start < dur - 0.05]
                y = renderer.render(notes, program, length, phrase_controls(notes, dur, expression, rng))
                if y.size and np.sqrt(np.mean(y ** 2)) > 1e-3:
                    break
            else:
                raise TfaudioError(f"could not render an audible phrase for {inst.name!r} (programs "
                                   f"{list(choices)}); does the SoundFont have these presets?")
            programs.append(program)
            fade = min(len(y), int(0.05 * sr))
            y[len(y) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            level = float(rng.uniform(0.3, 0.9))
            levels.append(level)
            y = _normalise(y, level)[:n_total - at]
            stems[row, at:at + len(y)] = y
        mix = _sum_stems(stems)
        m = float(np.max(np.abs(mix)))
        if m > 0:
            stems *= np.float32(peak / m)
            mix = _sum_stems(stems)
        tmp = outputs.temp_dir(final)
        try:
            (tmp / "stems").mkdir()
            for inst, stem in zip(chosen, stems):
                _write_float_wav(tmp / "stems" / f"{inst.name.replace(' ', '_')}.wav", stem, sr)
            _write_float_wav(tmp / "mix.wav", mix, sr)
            meta = {"sr": sr, "seconds": seconds, "samples": n_total, "seed": seed, "song": final.name,
                    "soundfont": renderer.name if Path(renderer.soundfont).is_dir() else Path(renderer.soundfont).name,
                    "instruments": [{"name": inst.name, "program": prog, "start": a, "end": b,
                                     "stem": f"stems/{inst.name.replace(' ', '_')}.wav", "level": lv}
                                    for inst, (a, b), lv, prog in zip(chosen, schedule, levels, programs)]}
            (tmp / "song.json").write_text(json.dumps(meta, indent=2) + "\n")
            # fsync, rename; fails, rather than overwrite, if the song appeared meanwhile
            outputs.atomic_replace_dir(tmp, final, replace=False)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        written.append(final)
    log.info("rendered %d songs of %.1f s with %d instruments each into %s", n_songs, seconds, k, out)
    return written


def _write_float_wav(path: Path, y: np.ndarray, sr: int) -> None:
    """A mono 32-bit float WAV (fmt, fact, data), in a folder that is not yet published (a song's
    temporary folder: `tfaudio.io.outputs.atomic_replace_dir` fsyncs it). Written here rather than by
    libsndfile, whose float WAVs carry a PEAK chunk with a time stamp: the same song rendered twice
    gives the same bytes."""
    data = np.ascontiguousarray(y, "<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, int(sr), int(sr) * 4, 4, 32, 0)  # WAVE_FORMAT_IEEE_FLOAT, cbSize 0
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, len(y))
            + b"data" + struct.pack("<I", len(data)) + data)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _sum_stems(stems: np.ndarray) -> np.ndarray:
    """The mix of `stems` `(instruments, samples)`: float32, added one stem after another (the order a
    reader summing the stems in turn gets bit for bit)."""
    mix = np.zeros(stems.shape[1], np.float32)
    for s in stems:
        mix += s
    return mix


def render_irmas_excerpts(out: str | os.PathLike, n_songs: int = 20, seconds: float = 12.0,
                          instruments: Sequence[Instrument | str | int] = (), seed: int = 0, sr: int = 44100,
                          soundfont: str | os.PathLike | None = None,
                          excerpt_seconds: tuple[float, float] = (3.0, 6.0), audible_db: float = -30.0,
                          progress: bool = True) -> int:
    """Multi-instrument excerpts in IRMAS's testing layout, for `tfaudio evaluate --format irmas`.

    `n_songs` songs are rendered as `render_songs` does (instruments entering and leaving in overlapping
    phrases) and cut into consecutive excerpts of `excerpt_seconds` (drawn per excerpt); each excerpt is
    ``out/IRMAS-TestingData-Part1/Part1/song_NNN-K.wav`` (16-bit PCM) with ``song_NNN-K.txt``, one label a
    line followed by a tab as in IRMAS: the instruments whose stem, within the excerpt, is no more than
    `audible_db` below the loudest stem there. `out` must be new or empty (built in a hidden temporary
    sibling and renamed). Returns the number of excerpts.
    """
    import soundfile as sf  # lazy: decoding only where files are read

    from tfaudio.io import outputs  # lazy: this module stays free of TensorFlow (light to import)

    insts = [_resolve(i) for i in (instruments or IRMAS_INSTRUMENTS)]
    final = Path(out)
    if final.exists() and not outputs.is_empty_dir(final):
        raise outputs.OutputError(f"{final}: exists and is not empty; excerpts are written only into a new or "
                                  "empty folder")
    outputs.clean_stale(final)
    tmp = outputs.temp_dir(final)
    try:
        songs = render_songs(tmp / "songs", n_songs, seconds, insts, seed=seed, sr=sr, soundfont=soundfont,
                             progress=progress)
        part = tmp / "excerpts" / "IRMAS-TestingData-Part1" / "Part1"
        part.mkdir(parents=True)
        rng = np.random.default_rng([seed, 1])
        count = 0
        for song in songs:
            mix, _ = sf.read(str(song / "mix.wav"), dtype="float32")
            stems = {}
            for f in sorted((song / "stems").iterdir()):
                y, _ = sf.read(str(f), dtype="float32")
                stems[stem_instrument(f.name)] = y
            start, k = 0, 0
            while start < len(mix) - int(excerpt_seconds[0] * sr) // 2:
                n = int(rng.uniform(*excerpt_seconds) * sr)
                seg = slice(start, min(start + n, len(mix)))
                rms = {name: float(np.sqrt(np.mean(y[seg] ** 2))) for name, y in stems.items()}
                loud = max(rms.values())
                labels = [name for name, v in rms.items() if loud > 1e-4 and v >= loud * 10 ** (audible_db / 20)]
                if labels:
                    k += 1
                    stem = f"{song.name}-{k}"
                    sf.write(str(part / f"{stem}.wav"), mix[seg], sr, subtype="PCM_16")
                    (part / f"{stem}.txt").write_text("".join(f"{lab}\t\n" for lab in sorted(labels)))
                    count += 1
                start = seg.stop
        outputs.manifest_tree(tmp / "excerpts", "corpus irmas")
        outputs.atomic_replace_dir(tmp / "excerpts", final, replace=False)  # fsync, rename
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %d excerpts of %d songs into %s", count, len(songs), final)
    return count
