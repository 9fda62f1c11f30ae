"""The one registry of feature kinds: name -> function, argument schema, output bins, config name.

A kind is its function (`spectral`, `cqt`, `descriptors`, `images`) and one `Kind` entry here: its arguments
(the function's keyword arguments, cleaned by `COERCE`), its bins per frame, and the `FeatureConfig` kind and
scale that select it with the arguments they give (`feature_of`). Its Keras layer is the class in
`tfaudio.features.layers` whose `kind` is the entry (`layers.LAYERS`). Adding a kind: the function, an entry
here, a layer class there (and its name in `tfaudio.config.FEATURE_KINDS` if configs may select it).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import tensorflow as tf

from tfaudio._checks import integer, optional_non_negative, positive
from tfaudio.features.cqt import _cqt_args, _cqt_plan, cqt, log_cqt
from tfaudio.features.descriptors import (rms, spectral_bandwidth, spectral_centroid, spectral_flatness, spectral_flux,
                                          spectral_rolloff, zero_crossing_rate)
from tfaudio.features.images import _mrp_args, multiresolution_recurrence_plot, recurrence_plot, stacked_image
from tfaudio.features.spectral import (_mel_args, _mel_blocks, dct_matrix, log10_mel, log_mel, log_stft,
                                       melspectrogram, mfcc, stft_magnitude)

Args = dict[str, Any]


def _as_given(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """`check` the value but keep it as given (so the layer's config holds it unchanged)."""
    return lambda name, value: (check(name, value), value)[1]


#: How a layer cleans each argument (by name; others are kept as given): the values its config holds.
COERCE: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(("hop_length", "n_mels", "n_mfcc", "dct_type", "n_bins", "bins_per_octave", "frame_length",
                     "lag", "size"), integer),
    "n_fft": lambda name, value: integer(name, value, 2),
    **dict.fromkeys(("ref", "amin", "power", "p", "filter_scale", "gain"), positive),
    **dict.fromkeys(("fmin", "lifter", "sparsity", "threshold", "roll_percent"), lambda _, value: float(value)),
    **dict.fromkeys(("center", "htk"), lambda _, value: bool(value)),
    "res_type": lambda _, value: str(value),
    "fmax": lambda _, value: None if value is None else float(value),
    "window_sizes": lambda name, value: tuple(integer(name, w) for w in value),
    "sr": _as_given(positive),
    "top_db": _as_given(optional_non_negative),
}


def _pick(fn: Callable, args: Args, **renamed: str) -> Any:
    """`fn` called with the arguments its parameters name (`renamed`: parameter -> argument)."""
    return fn(**{p: args[renamed.get(p, p)] for p in inspect.signature(fn).parameters})


@dataclasses.dataclass(frozen=True)
class Kind:
    """A feature kind: `function` audio `(..., samples)` -> `(..., *out)`.

    `selected_by`: the `FeatureConfig` (kind, scale) that selects it, and `config_args` the arguments such a
    config gives it (None: no config selects this kind; the function and layer are still public)."""

    function: Callable[..., tf.Tensor]  # the public function (eager calls run through cached graphs)
    out: str  # the output's axes after the leading ones (for docstrings)
    per_frame: Callable[[Args], int] | None = None  # bins per frame from the arguments (None: not `(frames, bins)`)
    check: Callable[[Args], Any] = lambda args: None  # checks the cleaned arguments, building cached constants
    selected_by: tuple[str, str] | None = None
    config_args: Callable[[Any], Args] | None = None

    @property
    def name(self) -> str:
        return self.function.__name__

    @functools.cached_property
    def defaults(self) -> Args:
        """Each argument after the audio and its default, from the function's signature."""
        return {p.name: p.default for p in list(inspect.signature(self.function).parameters.values())[1:]}

    def args(self, **kwargs: Any) -> Args:
        """Every argument (defaults updated with `kwargs`) cleaned by `COERCE` and checked: what a layer holds."""
        args = {k: COERCE.get(k, lambda _, v: v)(k, kwargs.get(k, v)) for k, v in self.defaults.items()}
        self.check(args)
        return args

    def bins(self, **kwargs: Any) -> int | None:
        """Bins per frame of the output for these arguments (defaults for the others); None for an image."""
        return None if self.per_frame is None else self.per_frame({**self.defaults, **kwargs})


def _mel(args: Args) -> None:
    _mel_blocks(*_pick(_mel_args, args))


def _mfcc(args: Args) -> None:
    _mel_blocks(*_pick(_mel_args, args, norm="mel_norm"))
    _pick(dct_matrix, args)


def _cqt(args: Args) -> None:
    _cqt_plan(*_pick(_cqt_args, args))


def _stft(fc: Any) -> Args:
    return dict(n_fft=fc.n_fft, hop_length=fc.hop_length)


def _mel_of(fc: Any) -> Args:
    return dict(sr=fc.sr, n_fft=fc.n_fft, hop_length=fc.hop_length, n_mels=fc.n_mels, fmin=fc.fmin, fmax=fc.fmax)


def _cqt_of(fc: Any) -> Args:
    return dict(sr=fc.sr, hop_length=fc.hop_length, fmin=fc.fmin, n_bins=fc.n_bins, bins_per_octave=fc.bins_per_octave)


def _bins(name: str) -> Callable[[Args], int]:
    return lambda args: args[name]


def _one(args: Args) -> int:
    return 1


#: Every feature kind, by function name.
KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind(stft_magnitude, "frames, 1 + n_fft // 2", lambda args: args["n_fft"] // 2 + 1,
         selected_by=("stft", "linear"), config_args=_stft),
    Kind(log_stft, "frames, 1 + n_fft // 2", lambda args: args["n_fft"] // 2 + 1,
         selected_by=("stft", "db"), config_args=lambda fc: dict(_stft(fc), top_db=fc.top_db)),
    Kind(melspectrogram, "frames, n_mels", _bins("n_mels"), _mel, ("mel", "db"), _mel_of),
    Kind(log_mel, "frames, n_mels", _bins("n_mels"), _mel, ("log_mel", "db"),
         lambda fc: dict(_mel_of(fc), top_db=fc.top_db)),
    Kind(log10_mel, "frames, n_mels", _bins("n_mels"), _mel, ("log10_mel", "db"), _mel_of),
    Kind(mfcc, "frames, n_mfcc", _bins("n_mfcc"), _mfcc, ("mfcc", "db"), lambda fc: dict(_mel_of(fc), n_mfcc=fc.n_mfcc)),
    Kind(cqt, "frames, n_bins", _bins("n_bins"), _cqt, ("cqt", "linear"), _cqt_of),
    Kind(log_cqt, "frames, n_bins", _bins("n_bins"), _cqt, ("cqt", "db"), lambda fc: dict(_cqt_of(fc), top_db=fc.top_db)),
    Kind(rms, "frames, 1", _one),
    Kind(zero_crossing_rate, "frames, 1", _one),
    Kind(spectral_centroid, "frames, 1", _one),
    Kind(spectral_bandwidth, "frames, 1", _one),
    Kind(spectral_rolloff, "frames, 1", _one),
    Kind(spectral_flatness, "frames, 1", _one),
    Kind(spectral_flux, "frames, 1", _one),
    Kind(stacked_image, "N, N"),
    Kind(recurrence_plot, "samples, samples"),
    Kind(multiresolution_recurrence_plot, "size, size, channels", check=lambda args: _pick(_mrp_args, args)),
)}

#: The kind each `FeatureConfig` (kind, scale) selects. "mel" is mel power whatever its scale.
SELECTED: dict[tuple[str, str], Kind] = {
    **{k.selected_by: k for k in KINDS.values() if k.selected_by is not None},
    ("mel", "linear"): KINDS["melspectrogram"],
}


def feature_of(fc: Any) -> tuple[str, Args] | None:
    """(kind name, its keyword arguments) that `FeatureConfig` `fc` selects; None for raw audio ("none")."""
    if fc.kind == "none":
        return None
    kind = SELECTED[(fc.kind, fc.scale)]
    return kind.name, kind.config_args(fc)
