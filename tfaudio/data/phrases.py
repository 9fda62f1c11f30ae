"""Instruments of the built-in corpus (GM programs, ranges) and the expressive phrases they play."""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from tfaudio.errors import TfaudioError


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


def gm_instrument(program: int) -> Instrument:
    """An `Instrument` for any GM program (0-127), named as General MIDI names it."""
    if not 0 <= int(program) <= 127:
        raise TfaudioError(f"GM program {program} is outside 0-127")
    for inst in DEFAULT_INSTRUMENTS:
        if inst.program == program:
            return inst
    import pretty_midi  # lazy: the default SoundFont's path only

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
