"""The feature layers: one registered Keras layer class per `registry.KINDS` entry, from one base class.

Imported by `tfaudio.features` (which re-exports the classes); `Kind.layer` finds them here. Each takes
its function's keyword arguments (the layer's config), computes in float32 and holds no weights.
"""
from __future__ import annotations

import inspect
from typing import Any, ClassVar

import keras
import tensorflow as tf

from tfaudio.features.registry import KINDS, Kind


class Feature(keras.layers.Layer):
    """Base of the feature layers: `kind.function` on float32 audio, the result cast to the compute dtype
    (so logarithms are taken in float32 under ``mixed_float16``). The constructor takes the function's
    keyword arguments, cleans and checks them (`Kind.args`, building cached constant matrices once)."""

    kind: ClassVar[Kind]

    def __init__(self, *args: Any, **kwargs: Any):
        arguments = inspect.signature(type(self)).bind(*args, **kwargs).arguments
        kwargs = arguments.pop("kwargs", {})
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self._args = self.kind.args(**arguments)

    def call(self, inputs: Any) -> tf.Tensor:
        out = self.kind.function(tf.cast(inputs, tf.float32), **self._args)
        return out if out.dtype == self.compute_dtype else tf.cast(out, self.compute_dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({k: list(v) if isinstance(v, tuple) else v for k, v in self._args.items()})
        return config


def _layer(name: str) -> type[Feature]:
    """The layer class of `KINDS[name]`, registered as "tfaudio>{its layer_name}"."""
    kind = KINDS[name]
    parameters = list(inspect.signature(kind.function).parameters.values())[1:]
    signature = inspect.Signature([*parameters, inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
    doc = f"`{name}` as a layer: `(batch, samples)` -> `(batch, {kind.out})`{' dB' * name.startswith('log')}."
    cls = type(kind.layer_name, (Feature,), {"kind": kind, "__signature__": signature, "__doc__": doc,
                                             "__module__": "tfaudio.features"})
    return keras.saving.register_keras_serializable(package="tfaudio")(cls)


STFTMagnitude = _layer("stft_magnitude")
LogSTFT = _layer("log_stft")
MelSpectrogram = _layer("melspectrogram")
LogMel = _layer("log_mel")
Log10Mel = _layer("log10_mel")
MFCC = _layer("mfcc")
CQT = _layer("cqt")
LogCQT = _layer("log_cqt")
RMS = _layer("rms")
ZeroCrossingRate = _layer("zero_crossing_rate")
SpectralCentroid = _layer("spectral_centroid")
SpectralBandwidth = _layer("spectral_bandwidth")
SpectralRolloff = _layer("spectral_rolloff")
SpectralFlatness = _layer("spectral_flatness")
SpectralFlux = _layer("spectral_flux")
StackedImage = _layer("stacked_image")
RecurrencePlot = _layer("recurrence_plot")
MultiresolutionRecurrencePlot = _layer("multiresolution_recurrence_plot")
