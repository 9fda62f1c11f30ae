"""The built-in corpus: solo-instrument phrases rendered from a General MIDI SoundFont.

`render_corpus` writes a corpus in the Medley-Solos-DB layout, which
`tfaudio.datasets.medley_solos_db` reads back. `render_phrase` renders one
phrase in memory (tests and demos use it). Rendering needs `tinysoundfont`
(``pip install --no-deps tinysoundfont``: its wheel declares pyaudio, which
only real-time playback uses) and, for the default SoundFont, `pretty_midi`.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tfaudio.datasets import MSDB_METADATA as METADATA
from tfaudio.errors import TfaudioError

log = logging.getLogger(__name__)

MSDB_SR = 22050
MSDB_SAMPLES = 65536
SUBSETS = ("training", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Instrument:
    """A class of the corpus: its name, General MIDI program (0-based) and MIDI range."""

    name: str
    program: int
    low: int
    high: int
    chords: bool = False


#: Medley-Solos-DB's eight classes, in its instrument_id order, as GM programs.
DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("clarinet", 71, 50, 89),
    Instrument("distorted electric guitar", 30, 40, 81),
    Instrument("female singer", 53, 57, 81),
    Instrument("flute", 73, 60, 93),
    Instrument("piano", 0, 36, 96, chords=True),
    Instrument("tenor saxophone", 66, 44, 75),
    Instrument("trumpet", 56, 54, 82),
    Instrument("violin", 40, 55, 93),
)

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


def default_soundfont() -> str:
    """Path of the General MIDI SoundFont (TimGM6mb.sf2) that pretty_midi ships."""
    try:
        import pretty_midi
    except ImportError as e:  # pragma: no cover - declared dependency
        raise TfaudioError("the default SoundFont comes with pretty_midi: pip install pretty_midi") from e
    path = Path(pretty_midi.__file__).with_name("TimGM6mb.sf2")
    if not path.is_file():
        raise TfaudioError(f"{path}: pretty_midi's SoundFont is missing; pass --soundfont PATH")
    return str(path)


def gm_instrument(program: int) -> Instrument:
    """An `Instrument` for any GM program (0-127), named as General MIDI names it."""
    if not 0 <= int(program) <= 127:
        raise TfaudioError(f"GM program {program} is outside 0-127")
    for inst in DEFAULT_INSTRUMENTS:
        if inst.program == program:
            return inst
    import pretty_midi

    name = pretty_midi.program_to_instrument_name(int(program)).lower()
    return Instrument(name, int(program), 48, 84, chords=program < 8)


@dataclasses.dataclass(frozen=True)
class Note:
    pitch: int
    start: float
    end: float
    velocity: int


def random_phrase(inst: Instrument, seconds: float, rng: np.random.Generator) -> list[Note]:
    """A random but musical phrase: notes of one scale in range, varied rhythm and dynamics, rests."""
    tonic = int(rng.integers(0, 12))
    scale = _MAJOR if rng.random() < 0.6 else _MINOR
    pitches = [p for p in range(inst.low, inst.high + 1) if (p - tonic) % 12 in scale]
    beat = 60.0 / rng.uniform(72, 144)
    lengths = np.array([0.5, 1.0, 1.5, 2.0, 0.25, 3.0])
    probs = np.array([0.3, 0.3, 0.12, 0.15, 0.08, 0.05])
    # start near the middle of the range and walk by small steps
    idx = int(rng.integers(len(pitches) // 4, max(len(pitches) * 3 // 4, len(pitches) // 4 + 1)))
    velocity = int(rng.integers(60, 110))
    t = float(rng.uniform(0.0, 0.1))
    notes: list[Note] = []
    while t < seconds:
        dur = float(rng.choice(lengths, p=probs)) * beat
        if notes and rng.random() < 0.12:  # a rest
            t += dur
            continue
        idx = int(np.clip(idx + rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3, 5, -5]), 0, len(pitches) - 1))
        velocity = int(np.clip(velocity + rng.integers(-12, 13), 35, 127))
        legato = rng.uniform(0.7, 1.0)
        notes.append(Note(pitches[idx], t, t + dur * legato, velocity))
        if inst.chords and rng.random() < 0.35:
            for step in (2, 4):  # a triad above the melody note, within range
                if idx - step >= 0:
                    notes.append(Note(pitches[idx - step], t, t + dur * legato, max(velocity - 15, 30)))
        t += dur
    return notes


class Renderer:
    """Renders notes with one SoundFont at one sample rate (tinysoundfont, no system library)."""

    def __init__(self, soundfont: str | os.PathLike | None = None, sr: int = MSDB_SR):
        try:
            import tinysoundfont
        except ImportError as e:
            raise TfaudioError(
                "rendering needs tinysoundfont: pip install --no-deps tinysoundfont "
                "(its wheel declares pyaudio, which only real-time playback needs)"
            ) from e
        self.soundfont = str(soundfont) if soundfont else default_soundfont()
        if not Path(self.soundfont).is_file():
            raise TfaudioError(f"{self.soundfont}: SoundFont not found")
        self.sr = int(sr)
        self._tsf = tinysoundfont
        try:
            probe = tinysoundfont.Synth(samplerate=self.sr)
            probe.sfload(self.soundfont)
        except Exception as e:  # tinysoundfont raises a bare Exception on bad files
            raise TfaudioError(f"{self.soundfont}: not a readable SoundFont ({e})") from e

    def render(self, notes: Sequence[Note], program: int, seconds: float) -> np.ndarray:
        """Mono float32 audio `(samples,)` of `notes` played by GM `program`."""
        synth = self._tsf.Synth(samplerate=self.sr, gain=-6.0)
        sfid = synth.sfload(self.soundfont)
        synth.program_select(0, sfid, 0, int(program))
        n_total = int(round(seconds * self.sr))
        events = sorted(
            [(n.start, 1, n.pitch, n.velocity) for n in notes]
            + [(n.end, 0, n.pitch, 0) for n in notes],
            key=lambda e: (e[0], e[1]),
        )
        out = np.zeros((n_total, 2), np.float32)
        pos = 0
        for time, is_on, pitch, vel in events:
            at = min(int(round(time * self.sr)), n_total)
            if at > pos:
                out[pos:at] = np.frombuffer(synth.generate(at - pos), np.float32).reshape(-1, 2)
                pos = at
            if pos >= n_total:
                break
            if is_on:
                synth.noteon(0, int(pitch), int(vel))
            else:
                synth.noteoff(0, int(pitch))
        if pos < n_total:
            out[pos:] = np.frombuffer(synth.generate(n_total - pos), np.float32).reshape(-1, 2)
        return out.mean(axis=1)


def render_phrase(
    instrument: Instrument | str | int = "piano",
    seconds: float = 3.0,
    sr: int = MSDB_SR,
    seed: int = 0,
    soundfont: str | None = None,
    peak: float = 0.8,
) -> np.ndarray:
    """Render one random phrase of `instrument` (a default class name, an Instrument or a GM program).

    Returns float32 `(samples,)` peak-normalised to `peak`.
    """
    inst = _resolve(instrument)
    rng = np.random.default_rng(seed)
    y = Renderer(soundfont, sr).render(random_phrase(inst, seconds, rng), inst.program, seconds)
    return _normalise(y, peak)


def _resolve(instrument: Instrument | str | int) -> Instrument:
    if isinstance(instrument, Instrument):
        return instrument
    if isinstance(instrument, (int, np.integer)):
        return gm_instrument(int(instrument))
    for inst in DEFAULT_INSTRUMENTS:
        if inst.name == instrument:
            return inst
    raise TfaudioError(f"unknown instrument {instrument!r}; use one of "
                       f"{[i.name for i in DEFAULT_INSTRUMENTS]} or a GM program number")


def _normalise(y: np.ndarray, peak: float) -> np.ndarray:
    m = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * (peak / m)).astype(np.float32) if m > 0 else y.astype(np.float32)


def split_counts(n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2)) -> tuple[int, int, int]:
    """Clips per subset (training, validation, test) for `n` clips of a class; each gets ≥1 when n ≥ 3."""
    if n < 3:
        return (n, 0, 0)
    val = max(1, int(round(n * fractions[1])))
    test = max(1, int(round(n * fractions[2])))
    return (n - val - test, val, test)


def render_corpus(
    out: str | os.PathLike,
    instruments: Iterable[Instrument] = DEFAULT_INSTRUMENTS,
    per_class: int = 10,
    seed: int = 0,
    soundfont: str | os.PathLike | None = None,
    sr: int = MSDB_SR,
    n_samples: int = MSDB_SAMPLES,
    clips_per_song: int = 4,
    progress: bool = True,
) -> Path:
    """Render a solo-instrument corpus in the Medley-Solos-DB layout under `out`.

    Writes ``out/Medley-solos-DB_metadata.csv`` and ``out/audio/Medley-solos-DB_{subset}-{id}_{uuid}.wav``
    (16-bit PCM, mono, `n_samples` samples at `sr`). Subsets split by song, so no song crosses them.
    The same seed gives the same corpus. Returns the metadata path. `out` must be new or an empty
    folder: the corpus is rendered into a hidden sibling and renamed into place when complete.
    """
    from tfaudio import outputs

    instruments = list(instruments)
    if per_class < 1:
        raise TfaudioError(f"--per-class must be at least 1, got {per_class}")
    names = [i.name for i in instruments]
    if len(set(names)) != len(names):
        raise TfaudioError(f"instrument classes repeat: {names}")
    renderer = Renderer(soundfont, sr)  # a bad SoundFont is reported before anything is made
    final = Path(out)
    if final.exists() and not outputs.is_empty_dir(final):
        raise outputs.OutputError(f"{final}: exists and is not empty; the corpus is rendered only into a new or "
                                  "empty folder (nothing there is overwritten)")
    outputs.clean_stale(final)
    out = outputs.temp_dir(final)  # rendered here, renamed into place when complete
    try:
        _render_corpus_into(out, instruments, per_class, seed, renderer, sr, n_samples, clips_per_song, progress)
        if final.is_dir():
            final.rmdir()  # empty: checked above
        os.rename(out, final)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    log.info("rendered %d classes into %s", len(instruments), final)
    return final / METADATA


def _render_corpus_into(out: Path, instruments: list[Instrument], per_class: int, seed: int,
                        renderer: Renderer, sr: int, n_samples: int, clips_per_song: int,
                        progress: bool) -> None:
    import soundfile as sf
    from tqdm.auto import tqdm

    from tfaudio import outputs

    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    clip_s = n_samples / sr
    seeds = np.random.SeedSequence(seed).spawn(len(instruments))
    rows: list[dict] = []
    bar = tqdm(total=per_class * len(instruments), desc="rendering corpus", unit="clip", disable=not progress)
    song_counter = 0
    for inst_id, (inst, ss) in enumerate(zip(instruments, seeds)):
        rng = np.random.default_rng(ss)
        for subset, count in zip(SUBSETS, split_counts(per_class)):
            done = 0
            while done < count:
                k = min(clips_per_song, count - done)
                song = _render_song(renderer, inst, k, n_samples, clip_s, rng)
                for clip in song:
                    uid = str(uuid.UUID(bytes=rng.bytes(16), version=4))
                    name = f"Medley-solos-DB_{subset}-{inst_id}_{uid}.wav"
                    _write_atomic(sf, audio_dir / name, clip, sr)
                    rows.append(dict(subset=subset, instrument=inst.name, instrument_id=inst_id,
                                     song_id=song_counter, uuid4=uid))
                    bar.update(1)
                song_counter += 1
                done += k
    bar.close()
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=["subset", "instrument", "instrument_id", "song_id", "uuid4"],
                       lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    outputs.write_text(out / METADATA, text.getvalue())


def _render_song(renderer: Renderer, inst: Instrument, k: int, n_samples: int, clip_s: float,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """`k` consecutive clips of one phrase, each with audible content."""
    for _ in range(10):
        notes = random_phrase(inst, k * clip_s, rng)
        y = renderer.render(notes, inst.program, k * clip_s)
        y = _normalise(y, float(rng.uniform(0.5, 0.95)))
        clips = [y[i * n_samples:(i + 1) * n_samples] for i in range(k)]
        clips = [np.pad(c, (0, n_samples - len(c))) for c in clips]
        if all(np.sqrt(np.mean(c ** 2)) > 1e-3 for c in clips):
            return clips
    raise TfaudioError(f"could not render audible clips for {inst.name!r} (program {inst.program}); "
                       "does the SoundFont have this preset?")


def _write_atomic(sf, path: Path, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    tmp = path.with_name(path.name + ".part")
    sf.write(str(tmp), y, sr, subtype=subtype, format="WAV")
    os.replace(tmp, path)


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
            y = renderer.render(random_phrase(inst, seconds_each, rng), inst.program, seconds_each)
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
    """Render songs with per-instrument stems in the "stems" layout (`tfaudio.datasets.from_stems`).

    Each song ``out/song_NNN/`` holds ``mix.wav``, ``stems/<instrument>.wav`` (spaces as ``_``) and
    ``song.json`` (the schedule). A song has ``min(max_polyphony, len(instruments))`` distinct
    instruments, each playing one random phrase (`random_phrase`) over its stretch of the song, the
    stretches overlapping as `song_schedule` lays them out, so frames with 1, 2, ... up to that many
    instruments at once all occur. Each stem gets a random level (peak 0.3-0.9); then every stem is
    scaled by one factor so that the mix peaks at `peak`, and the mix is the sum of the scaled stems
    (32-bit float WAVs: the stems as read back, added in turn in float32, give the mix bit for bit).
    A song is built in a hidden temporary folder and renamed into place when complete; an existing
    song folder is never overwritten. The same seed gives the same songs, byte for byte. Returns the
    song folders.
    """
    import json
    import shutil
    import tempfile

    from tqdm.auto import tqdm

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
        levels = []
        for row, (inst, (a, b)) in enumerate(zip(chosen, schedule)):
            dur = b - a
            at = int(round(a * sr))
            length = min(dur + release, seconds - a)
            for _ in range(10):
                notes = [Note(n.pitch, n.start, min(n.end, dur), n.velocity)
                         for n in random_phrase(inst, dur, rng) if n.start < dur - 0.05]
                y = renderer.render(notes, inst.program, length)
                if y.size and np.sqrt(np.mean(y ** 2)) > 1e-3:
                    break
            else:
                raise TfaudioError(f"could not render an audible phrase for {inst.name!r} (program "
                                   f"{inst.program}); does the SoundFont have this preset?")
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
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=out))
        try:
            (tmp / "stems").mkdir()
            for inst, stem in zip(chosen, stems):
                _write_float_wav(tmp / "stems" / f"{inst.name.replace(' ', '_')}.wav", stem, sr)
            _write_float_wav(tmp / "mix.wav", mix, sr)
            meta = {"sr": sr, "seconds": seconds, "samples": n_total, "seed": seed, "song": final.name,
                    "soundfont": Path(renderer.soundfont).name,
                    "instruments": [{"name": inst.name, "program": inst.program, "start": a, "end": b,
                                     "stem": f"stems/{inst.name.replace(' ', '_')}.wav", "level": lv}
                                    for inst, (a, b), lv in zip(chosen, schedule, levels)]}
            part = tmp / "song.json.part"
            part.write_text(json.dumps(meta, indent=2) + "\n")
            os.replace(part, tmp / "song.json")
            os.rename(tmp, final)  # fails, rather than overwrite, if the song appeared meanwhile
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        written.append(final)
    log.info("rendered %d songs of %.1f s with %d instruments each into %s", n_songs, seconds, k, out)
    return written


def _write_float_wav(path: Path, y: np.ndarray, sr: int) -> None:
    """A mono 32-bit float WAV (fmt, fact, data), written to a temporary name and renamed. Written here
    rather than by libsndfile, whose float WAVs carry a PEAK chunk with a time stamp: the same song
    rendered twice gives the same bytes."""
    import struct

    data = np.ascontiguousarray(y, "<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, int(sr), int(sr) * 4, 4, 32, 0)  # WAVE_FORMAT_IEEE_FLOAT, cbSize 0
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, len(y))
            + b"data" + struct.pack("<I", len(data)) + data)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    os.replace(tmp, path)


def _sum_stems(stems: np.ndarray) -> np.ndarray:
    """The mix of `stems` `(instruments, samples)`: float32, added one stem after another (the order a
    reader summing the stems in turn gets bit for bit)."""
    mix = np.zeros(stems.shape[1], np.float32)
    for s in stems:
        mix += s
    return mix
