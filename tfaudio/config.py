"""Frozen dataclass configs, one per concern, passed explicitly and written as JSON beside outputs.

`from_dict` is the one validator of every config (experiment sections, model configs, saved run specs):
unknown keys, wrong types and bad values are one-line `ConfigError`s naming the key. Light: no TensorFlow.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import numbers
import os
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

from tfaudio._checks import is_real
from tfaudio.errors import ConfigError

T = TypeVar("T")

FEATURE_KINDS = ("log_mel", "log10_mel", "mel", "cqt", "stft", "mfcc", "none")
FEATURE_SCALES = ("db", "linear")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """A spectral front end, seed 001 §4.2.3 by default (44.1 kHz, 2048/1024 Hann, centred).

    `kind`: "log_mel" (128 bins), "log10_mel" (log10(1 + 10000 · mel power), musicnn's front end),
    "mel" (power), "cqt" (192 bins, 24 per octave from 27.5 Hz), "stft" (1025 bins), "mfcc" or "none" (raw audio).

    `scale`: how "cqt" and "stft" magnitudes are scaled: "db" (default: amplitude_to_db, ref 1, floored
    `top_db` below each example's maximum, like "log_mel") or "linear" (the magnitudes themselves).
    "log_mel" and "mfcc" are always in dB ("linear" is refused: use "mel" for linear mel power),
    "mel" is always power and "none" raw audio.
    """

    kind: str = "log_mel"
    sr: int = 44100
    n_fft: int = 2048
    hop_length: int = 1024
    n_mels: int = 128
    fmin: float = 27.5
    fmax: float = 20000.0
    top_db: float = 60.0
    n_bins: int = 192
    bins_per_octave: int = 24
    n_mfcc: int = 20
    # Seed 001 feeds the CNN "spectrograms" of three "frequency transformation methods" compared as
    # alternatives ("a STFT spectrum, a CQT spectrum and a mel-frequency spectrum", §4.2.1), names only
    # the mel one "2.3 Logarithmic Mel-Spectrogram" and states no scaling for any input; its only dB figure
    # is the 60-dB range of the outputs ("We limited the dynamic range of our network output (and the
    # labels) to 60dB"). So CQT and STFT are in dB with the same `top_db` floor as the log-mel input by
    # default, one input scaling for the three; "linear" keeps raw magnitudes.
    scale: str = "db"

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(f"feature kind {self.kind!r} is not one of {FEATURE_KINDS}")
        if self.scale not in FEATURE_SCALES:
            raise ConfigError(f"feature scale {self.scale!r} is not one of {FEATURE_SCALES}")
        if self.scale == "linear" and self.kind in ("log_mel", "log10_mel", "mfcc"):
            raise ConfigError(f"feature kind {self.kind!r} is in dB: scale 'linear' does not apply "
                              "(use kind 'mel' for linear mel power)")
        for name in ("sr", "n_fft", "hop_length", "n_mels", "n_bins", "bins_per_octave", "n_mfcc"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"feature {name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.fmin < self.fmax <= self.sr / 2:
            raise ConfigError(f"feature fmin/fmax must satisfy 0 <= fmin < fmax <= sr/2, "
                              f"got {self.fmin}, {self.fmax} at sr {self.sr}")

    def feature(self) -> tuple[str, dict[str, Any]] | None:
        """(`tfaudio.features.registry.KINDS` entry, its keyword arguments) for `kind` and `scale`, None for
        raw audio: what `compute`, `n_features` and `tfaudio.models.blocks.feature_layer` use."""
        from tfaudio.features.registry import feature_of  # lazy: configs stay free of TensorFlow

        return feature_of(self)

    @property
    def n_features(self) -> int:
        """Bins per frame (0 for raw audio)."""
        from tfaudio.features.registry import KINDS  # lazy: configs stay free of TensorFlow

        feature = self.feature()
        return 0 if feature is None else KINDS[feature[0]].bins(**feature[1])

    def n_frames(self, n_samples: int) -> int:
        """Frames of a centred framing of `n_samples` samples."""
        return 1 + int(n_samples) // self.hop_length

    def window_samples(self, n_frames: int) -> int:
        """Samples of a window that gives exactly `n_frames` centred frames (16 -> 15360 at hop 1024)."""
        return (int(n_frames) - 1) * self.hop_length

    def compute(self, y: Any) -> Any:
        """Features of `y` `(..., samples)` -> `(..., frames, bins)` (raw audio for kind "none")."""
        from tfaudio.features.registry import KINDS  # lazy: configs stay free of TensorFlow

        feature = self.feature()
        return y if feature is None else KINDS[feature[0]].function(y, **feature[1])


@dataclasses.dataclass(frozen=True)
class MixConfig:
    """On-the-fly mixing, seed 001 §4.1.3: 1-4 distinct instruments, levels max(N(0.5, 0.01), 0) + 1e-8,
    divided by their sum when it exceeds 1. Windows are `window` samples long (15360 = 16 frames).
    """

    n_min: int = 1
    n_max: int = 4
    level_mean: float = 0.5
    level_var: float = 0.01
    eps: float = 1e-8
    window: int = 15360
    window_hop: int | None = None  # hop between windows cut from a clip (default: the window)
    min_rms_db: float | None = -60.0  # drop silent windows (RMS in dBFS); None keeps all
    range_db: float = 60.0  # activation labels: dynamic range mapped to [0, 1]
    ref: float = 1.0  # activation labels: 0 dB reference RMS

    def __post_init__(self) -> None:
        if not 1 <= self.n_min <= self.n_max:
            raise ConfigError(f"mixing needs 1 <= n_min <= n_max, got n_min={self.n_min}, n_max={self.n_max}")
        if self.level_var < 0 or self.window <= 0 or (self.window_hop is not None and self.window_hop <= 0):
            raise ConfigError("mixing level_var must be >= 0 and window/window_hop positive")
        if self.range_db <= 0 or self.ref <= 0:
            raise ConfigError("mixing range_db and ref must be positive")


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation, all off by default. Gains in dB, shifts in samples, masks in frames/bins, times in
    seconds, frequencies in Hz. Every `(low, high)` range is drawn uniformly per example (frequencies
    log-uniformly); every `*_prob` is the chance that an example gets that effect.

    The recording chain (`tfaudio.data.augment.recording_effects`, `band_limit`, `add_noise`): reverb with a
    synthetic impulse response, EQ (spectral tilt and peaking/shelving bands), a compressor, tanh drive,
    low-/high-pass band-limiting and (coloured) background noise. `preset="recording_chain"` switches the
    whole chain on at `PRESETS`' probabilities; it fills only the fields left unset.
    """

    gain_db: tuple[float, float] | None = None
    max_shift: int = 0
    snr_db: tuple[float, float] | None = None
    time_masks: int = 0
    time_mask_width: int = 4
    freq_masks: int = 0
    freq_mask_width: int = 8
    preset: str | None = None
    # room reverb: RT60 (s) at and below 1 kHz, shortened above by 2^(-damping x octaves above 1 kHz);
    # pre-delay (s) of the tail; wet = the tail's share of the impulse response's energy
    reverb_prob: float | None = None
    reverb_rt60: tuple[float, float] = (0.2, 1.2)
    reverb_damping: tuple[float, float] = (0.0, 0.5)
    reverb_predelay: tuple[float, float] = (0.0, 0.03)
    reverb_wet: tuple[float, float] = (0.1, 0.5)
    # EQ: tilt in dB per octave about 1 kHz, `eq_bands` peaking or shelving bands of `eq_gain_db` at `eq_hz`
    eq_prob: float | None = None
    eq_tilt_db: tuple[float, float] = (-3.0, 3.0)
    eq_bands: int = 3
    eq_gain_db: tuple[float, float] = (-9.0, 9.0)
    eq_hz: tuple[float, float] = (60.0, 12000.0)
    # band-limiting: low-pass (48 dB/octave) and high-pass (24 dB/octave) cutoffs
    lowpass_prob: float | None = None
    lowpass_hz: tuple[float, float] = (3000.0, 16000.0)
    highpass_prob: float | None = None
    highpass_hz: tuple[float, float] = (20.0, 300.0)
    # compressor: threshold in dB below the example's loudest 10-ms frame, ratio
    compress_prob: float | None = None
    compress_threshold_db: tuple[float, float] = (-30.0, -10.0)
    compress_ratio: tuple[float, float] = (2.0, 8.0)
    # drive: tanh(g x / peak), g in dB
    drive_prob: float | None = None
    drive_db: tuple[float, float] = (0.0, 18.0)
    # background noise (`snr_db`): its probability (unset: 1, as before) and colour, the exponent b of a
    # power spectrum ~ f^-b (0 white, 1 pink, 2 brown, -1 blue; None: white)
    noise_prob: float | None = None
    noise_color: tuple[float, float] | None = None

    # class attributes (no annotation: not fields)
    #: `preset` values: the fields each switches on. A preset fills only the fields left unset (None), so
    #: anything given beside it wins (`reverb_prob: 0` under a preset keeps reverb off).
    PRESETS = {
        "recording_chain": dict(reverb_prob=0.5, eq_prob=0.5, lowpass_prob=0.25, highpass_prob=0.25,
                                compress_prob=0.3, drive_prob=0.2, snr_db=(10.0, 40.0), noise_prob=0.5,
                                noise_color=(-1.0, 2.0)),
    }
    #: effect probabilities (None: unset; resolved to 0, i.e. off, except `noise_prob` to 1)
    PROBS = ("reverb_prob", "eq_prob", "lowpass_prob", "highpass_prob", "compress_prob", "drive_prob",
             "noise_prob")

    def __post_init__(self) -> None:
        if self.preset is not None:
            if self.preset not in self.PRESETS:
                raise ConfigError(f"augment preset {self.preset!r} is not one of {sorted(self.PRESETS)}")
            for k, v in self.PRESETS[self.preset].items():
                if getattr(self, k) is None:
                    object.__setattr__(self, k, v)
        for name in self.PROBS:
            v = getattr(self, name)
            if v is None:
                v = 1.0 if name == "noise_prob" else 0.0
            if not is_real(v) or not 0 <= v <= 1:
                raise ConfigError(f"augment {name} must be a probability in [0, 1], got {v!r}")
            object.__setattr__(self, name, float(v))
        for name in ("gain_db", "snr_db"):
            v = getattr(self, name)
            if v is not None and (len(v) != 2 or v[0] > v[1]):
                raise ConfigError(f"augment {name} must be a (low, high) pair, got {v}")
        if min(self.max_shift, self.time_masks, self.freq_masks) < 0:
            raise ConfigError("augment counts and shifts must be >= 0")
        ranges = {  # name: (lowest allowed, highest allowed, what)
            "reverb_rt60": (1e-3, 30.0, "seconds in [0.001, 30]"),
            "reverb_damping": (0.0, 4.0, "in [0, 4]"),
            "reverb_predelay": (0.0, 1.0, "seconds in [0, 1]"),
            "reverb_wet": (0.0, 1.0, "in [0, 1]"),
            "eq_tilt_db": (-24.0, 24.0, "dB per octave in [-24, 24]"),
            "eq_gain_db": (-40.0, 40.0, "dB in [-40, 40]"),
            "eq_hz": (1.0, 1e5, "Hz in [1, 100000]"),
            "lowpass_hz": (1.0, 1e5, "Hz in [1, 100000]"),
            "highpass_hz": (1.0, 1e5, "Hz in [1, 100000]"),
            "compress_threshold_db": (-100.0, 0.0, "dB in [-100, 0]"),
            "compress_ratio": (1.0, 100.0, "in [1, 100]"),
            "drive_db": (0.0, 60.0, "dB in [0, 60]"),
            "noise_color": (-3.0, 3.0, "exponents in [-3, 3]"),
        }
        for name, (lo, hi, what) in ranges.items():
            v = getattr(self, name)
            if v is None and name == "noise_color":
                continue
            if (not isinstance(v, (tuple, list)) or len(v) != 2 or not all(is_real(x) for x in v)
                    or not lo <= v[0] <= v[1] <= hi):
                raise ConfigError(f"augment {name} must be a (low, high) pair of {what}, low <= high, got {v!r}")
            object.__setattr__(self, name, (float(v[0]), float(v[1])))
        if not isinstance(self.eq_bands, int) or isinstance(self.eq_bands, bool) or not 0 <= self.eq_bands <= 32:
            raise ConfigError(f"augment eq_bands must be an integer in [0, 32], got {self.eq_bands!r}")

    @property
    def chain_active(self) -> bool:
        """Whether any recording-chain effect (reverb, EQ, compressor, drive, low-/high-pass) is on."""
        return any(getattr(self, n) > 0 for n in self.PROBS if n != "noise_prob")

    @property
    def noise_active(self) -> bool:
        return bool(self.snr_db) and self.noise_prob > 0

    @property
    def waveform_active(self) -> bool:
        """Whether anything acts on the audio (everything but the SpecAugment masks)."""
        return bool(self.gain_db or self.max_shift or self.noise_active or self.chain_active)

    @property
    def active(self) -> bool:
        return bool(self.waveform_active or self.time_masks or self.freq_masks)


def to_dict(config: Any) -> dict[str, Any]:
    """A config (nested dataclasses) as plain JSON-able data."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=list))


@functools.cache
def _fields(cls: type) -> dict[str, tuple[Any, str]]:
    """Each init field of dataclass `cls`: its resolved type hint and its annotation as written."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)))
            for f in dataclasses.fields(cls) if f.init}


_BAD = object()  # what `_fit` returns for a value that does not fit its hint


def _fit(value: Any, hint: Any, key: str) -> Any:
    """`value` as type `hint`, mildly coerced, or `_BAD`; a mapping for a dataclass is built by `from_dict`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return next((v for v in (_fit(value, arm, key) for arm in args) if v is not _BAD), _BAD)
    if value is None or hint is type(None):
        return None if value is None and hint is type(None) else _BAD
    if isinstance(value, bool) or hint is bool:  # a bool is never a number, nor a number a bool
        return value if isinstance(value, bool) and hint is bool else _BAD
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, key) if isinstance(value, Mapping) else _BAD
    if hint is int:
        integral = isinstance(value, numbers.Integral) or isinstance(value, float) and value.is_integer()
        return int(value) if integral else _BAD
    if hint is float and isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:
            raise OverflowError(f"a {len(str(abs(value)))}-digit number is too large") from None
    if origin is tuple and isinstance(value, (list, tuple)):
        hints = (args[0],) * len(value) if args[1:] == (...,) else args
        out = tuple(_fit(v, h, key) for v, h in zip(value, hints))
        return out if len(hints) == len(value) and _BAD not in out else _BAD
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return dict(value) if isinstance(value, Mapping) else _BAD
    return value if isinstance(value, origin or hint) else _BAD


def _check(key: str, value: Any, hint: Any, text: str) -> Any:
    """`_fit`, or a one-line ConfigError naming `key` and the annotation `text`."""
    try:
        out = _fit(value, hint, key)
    except OverflowError as e:
        raise ConfigError(f"{key}: {e} (expected {text})") from None
    if out is _BAD:
        raise ConfigError(f"{key}: null is not allowed here (expected {text})" if value is None else
                          f"{key}: expected {text}, got {value!r}")
    return out


def check_fields(cls: type, data: Any, prefix: str = "") -> dict[str, Any]:
    """The keyword arguments of dataclass `cls` that mapping `data` gives, each checked (see `from_dict`)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or cls.__name__}: expected a mapping, got {data!r}")
    fields = _fields(cls)
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        raise ConfigError(f"unknown key(s) {[f'{prefix}.{k}' for k in unknown]}; {prefix} has {sorted(fields)}"
                          if prefix else f"unknown config key(s) {unknown}; known: {sorted(fields)}")
    return {k: _check(f"{prefix}.{k}" if prefix else str(k), v, *fields[k]) for k, v in data.items()}


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping, checked against its type hints: unknown keys are refused; null
    only where the hint allows None, a bool only for bool; int -> float, integral float -> int, list ->
    tuple (element types and fixed lengths checked), Mapping -> dict, a mapping -> a nested dataclass
    (`prefix.key`). Every error is one ConfigError line naming the key, or `prefix` (else the class) for
    the constructor's own."""
    kwargs = check_fields(cls, data, prefix)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # ConfigError is a ValueError: it already says what is wrong
        if isinstance(e, ConfigError) and not prefix:
            raise
        raise ConfigError(f"{prefix or cls.__name__}: {e}") from None


def write_json(config: Any, path: str | os.PathLike) -> Path:
    """Write a resolved config as JSON (`tfaudio.io.outputs.write_text`: a unique temporary name, then rename)."""
    from tfaudio.io import outputs  # lazy: this module stays free of TensorFlow (light to import)

    data = to_dict(config) if dataclasses.is_dataclass(config) else config
    return outputs.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
