"""Separation of audio of any length, block by block: `separate` (one call) and `Separator` (reused).

    result = separate("activations", "song.wav")            # any saved form of an activation model
    result.stems                   # (instruments, samples[, channels]) float32 at the input's rate; sum = mix
    result.activations             # (classes, frames) the model's activations that guided it

The model's activations are predicted once for the whole input (`tfaudio.inference`, streamed from a file);
then the input is cut into blocks of `config.block_seconds`, each read with one STFT window of context
either side, factorised (`nmf.factorize`), masked (`nmf.soft_masks`) and inverted. With fixed templates
every STFT frame is solved on its own, so the blocks join seamlessly: the result equals separating the whole
input at once, while memory stays bounded by a block (about ``instruments x bins x block frames`` floats).
A multi-channel input is separated with masks of its downmix, applied to every channel.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Iterator, Sequence

import numpy as np

from tfaudio.errors import AudioFileError, TfaudioError
from tfaudio.deploy.loading import LoadedModel, open_model
from tfaudio.evaluation.songs import class_index
from tfaudio.inference import predict_audio, predict_file
from tfaudio.io import headers
from tfaudio.io.resample import resample
from tfaudio.separation.config import SeparationConfig
from tfaudio.separation.nmf import activation_gate, factorize, gate_at, soft_masks
from tfaudio.separation.templates import Templates, instrument_templates

log = logging.getLogger(__name__)

REST = "rest"  #: the stem of the instruments not asked for (so that the stems still add up to the mix)


@dataclasses.dataclass(frozen=True, eq=False)
class Separation:
    """What `separate` returns. `stems` `(len(names), samples)` (mono input) or `(len(names), samples,
    channels)` float32 at `sr`; `names` the instruments asked for (plus `REST` when a subset was asked for).
    `activations` `(len(classes), frames)` at `activation_times` s: those that gated the gains (None: plain NMF)."""

    stems: np.ndarray
    sr: int
    names: tuple[str, ...]
    classes: tuple[str, ...]
    activations: np.ndarray | None
    activation_times: np.ndarray | None
    config: SeparationConfig
    source: str | None = None

    def stem(self, name: str) -> np.ndarray:
        """The stem of instrument `name`."""
        if name not in self.names:
            raise TfaudioError(f"no stem {name!r}; the stems are {', '.join(self.names)}")
        return self.stems[self.names.index(name)]


class _Source:
    """Audio to read by sample ranges: `read(start, stop)` -> `(n, channels)` float32."""

    def __init__(self, data: np.ndarray | None = None, path: str | None = None, sr: int | None = None):
        self.path = path
        if data is not None:
            self.data = data
            self.frames, self.channels, self.sr = data.shape[0], data.shape[1], int(sr)
            return
        import soundfile as sf  # lazy: decoding only where files are read

        headers.check(os.fspath(path))  # missing, empty, not audio, truncated WAV: one line, before reading
        try:
            self.file = sf.SoundFile(path)
        except Exception as e:  # noqa: BLE001 - any decoder failure becomes one line
            raise AudioFileError(path, headers.decoder_problem(e)) from None
        self.data = None
        self.frames, self.channels, self.sr = int(self.file.frames), int(self.file.channels), int(self.file.samplerate)
        if self.frames <= 0:
            raise AudioFileError(path, "contains no audio samples (zero length)")

    def read(self, start: int, stop: int) -> np.ndarray:
        if self.data is not None:
            return self.data[start:stop]
        try:
            self.file.seek(start)
            block = self.file.read(stop - start, dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001
            raise AudioFileError(self.path, headers.decoder_problem(e)) from None
        if len(block) != stop - start:
            raise AudioFileError(self.path, f"truncated: {start + len(block)} of {self.frames} frames decoded")
        if not np.all(np.isfinite(block)):
            raise AudioFileError(self.path, "audio contains NaN or Inf samples")
        return block

    def close(self) -> None:
        if self.data is None:
            self.file.close()


def _as_audio(audio: Any, where: str = "audio") -> np.ndarray:
    """`(samples,)` or `(samples, channels)` -> float32 `(samples, channels)`; bad input: one TfaudioError line."""
    try:
        x = np.asarray(audio, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TfaudioError(f"{where}: not an array of samples ({e})") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise TfaudioError(f"{where}: audio must be (samples,) or (samples, channels) with samples, got shape "
                           f"{np.shape(audio)}")
    if not np.all(np.isfinite(x)):
        raise TfaudioError(f"{where}: audio contains NaN or Inf samples")
    return x


class Separator:
    """A model's instruments, their templates and a config, reused across inputs.

    `model`: anything `tfaudio.deploy.loading.open_model` opens (run folder, pretrained name, .keras, SavedModel,
    .tflite, .onnx) or a loaded one; None with `classes` when activations are given or not used.
    `instruments`: the stems wanted (names of `classes`; None: all); the others go to one `REST` stem.
    """

    def __init__(self, model: Any = None, config: SeparationConfig = SeparationConfig(),
                 instruments: Sequence[str] | None = None, classes: Sequence[str] | None = None,
                 templates: Templates | None = None, cache: str | os.PathLike | None = None):
        self.config = config
        self.model = (model if isinstance(model, LoadedModel) else open_model(model)) if model is not None else None
        if self.model is not None:
            if self.model.spec.task != "activation":
                raise TfaudioError(f"{model}: a {self.model.spec.task.replace('_', '-')} model predicts no "
                                   "activations; separation needs an activation model")
            classes = self.model.spec.classes
        if not classes:
            raise TfaudioError("separation needs the instruments: an activation model, or `classes`")
        self.classes = tuple(classes)
        self.selected = self._select(instruments)
        self.templates = templates or instrument_templates(self.classes, config, cache)
        if self.templates.instruments != self.classes:
            raise TfaudioError(f"templates of {self.templates.instruments} for instruments {self.classes}")

    def _select(self, instruments: Sequence[str] | None) -> list[int]:
        if instruments is None:
            return list(range(len(self.classes)))
        out = []
        for name in instruments:
            k = class_index(name, self.classes)
            if k is None:
                raise TfaudioError(f"instrument {name!r} is not one of the model's: {', '.join(self.classes)}")
            if k not in out:
                out.append(k)
        if not out:
            raise TfaudioError("no instruments asked for")
        return out

    @property
    def names(self) -> tuple[str, ...]:
        """The stems written: the instruments asked for, plus `REST` when they are not all of them."""
        names = tuple(self.classes[k] for k in self.selected)
        return names + ((REST,) if len(self.selected) < len(self.classes) else ())

    # ---------------------------------------------------------------- activations

    def predict(self, path: str | None = None, audio: np.ndarray | None = None,
                sr: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The model's activations `(classes, frames)` and their times `(frames,)` s for a file or audio."""
        if self.model is None:
            raise TfaudioError("guidance 'predicted' needs an activation model")
        spec = self.model.spec
        if path is not None:
            p = predict_file(self.model.predictor(), None, path, block_seconds=self.config.block_seconds)
        else:
            mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
            if sr != spec.sr:
                mono = np.asarray(resample(np.asarray(mono, np.float32), int(sr), int(spec.sr)), np.float32)
            p = predict_audio(self.model.predictor(), None, mono)
        return p.activations, p.frame_times

    # ---------------------------------------------------------------- separation

    def blocks(self, source: _Source, activations: np.ndarray | None = None,
               activation_times: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Stems block by block: `(len(names), n, channels)` float32 arrays whose concatenation is the whole.
        `activations` `(classes, T)` at `activation_times` gate the gains (None: plain NMF)."""
        cfg, sr = self.config, source.sr
        n_fft, hop = cfg.n_fft(sr), cfg.hop(sr)
        W0 = self.templates.at(sr, n_fft)
        gate, hard = None, cfg.penalty is None
        if activations is not None:
            activations = np.asarray(activations, np.float32)
            if activations.ndim != 2 or activations.shape[0] != len(self.classes):
                raise TfaudioError(f"activations of shape {activations.shape}, not ({len(self.classes)} "
                                   "instruments, frames)")
            gate = activation_gate(activations, activation_times, cfg.threshold, cfg.dilate_seconds, hard)
        block = max(hop, int(round(cfg.block_seconds * sr / hop)) * hop)
        pad = n_fft
        for a in range(0, source.frames, block):
            b = min(a + block, source.frames)
            s0, s1 = max(0, a - pad), min(source.frames, b + pad)
            seg = source.read(s0, s1)
            X = _stft(seg, n_fft, hop)  # (channels, F, T)
            V = np.abs(X.mean(axis=0))
            g = None
            if gate is not None:
                g = gate_at(gate, activation_times, (s0 + np.arange(V.shape[1]) * hop) / sr, hard)
            W, H = factorize(V, W0, g, self.templates.components, cfg.iterations, cfg.adapt_templates,
                             cfg.penalty)
            masks = soft_masks(W, H, len(self.classes), cfg.mask_power)
            out = np.empty((len(self.names), b - a, seg.shape[1]), np.float32)
            for row, k in enumerate(self.selected):
                out[row] = _istft(masks[k][None] * X, hop, s1 - s0)[a - s0:b - s0]
            if len(self.names) > len(self.selected):  # the rest: the mix less the stems asked for
                out[-1] = seg[a - s0:b - s0] - out[:-1].sum(axis=0)
            yield out

    def separate(self, audio_or_path: Any, sr: int | None = None, activations: np.ndarray | None = None,
                 activation_times: np.ndarray | None = None) -> Separation:
        """Separate a file (path) or audio `(samples,)` / `(samples, channels)` at `sr` in memory.

        Guidance (`config.guidance`): "predicted" (the model's activations), "none" (plain NMF) or "given"
        (`activations` `(classes, T)` at `activation_times` s, e.g. true ones)."""
        source = self._source(audio_or_path, sr)
        try:
            acts, times = self._guidance(source, activations, activation_times)
            stems = np.concatenate(list(self.blocks(source, acts, times)), axis=1)
        finally:
            source.close()
        mono = source.channels == 1
        return Separation(stems[..., 0] if mono else stems, source.sr, self.names, self.classes, acts, times,
                          self.config, source.path)

    def _source(self, audio_or_path: Any, sr: int | None) -> _Source:
        if isinstance(audio_or_path, (str, os.PathLike)):
            if sr is not None:
                raise TfaudioError("sr is for audio arrays; a file's rate is read from the file")
            return _Source(path=os.fspath(audio_or_path))
        if sr is None or isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 0 < sr <= 768000:
            raise TfaudioError(f"audio arrays need their sample rate: sr=..., a positive integer (got {sr!r})")
        return _Source(data=_as_audio(audio_or_path), sr=int(sr))

    def _guidance(self, source: _Source, activations: np.ndarray | None,
                  times: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        g = self.config.guidance
        if g == "none":
            return None, None
        if g == "given":
            if activations is None or times is None:
                raise TfaudioError("guidance 'given' needs activations and activation_times")
            times = np.asarray(times, np.float64)
            if np.ndim(activations) != 2 or np.shape(activations)[1] != len(times):
                raise TfaudioError(f"activations {np.shape(activations)} and {len(times)} activation_times "
                                   "do not match")
            return np.asarray(activations, np.float32), times
        if source.path is not None:
            return self.predict(path=source.path)
        return self.predict(audio=source.data, sr=source.sr)


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """STFT `(channels, F, T)` complex64 of `(n, channels)` audio (Hann, centred, zero-padded)."""
    import librosa  # lazy: librosa (and numba, ~1 s) only where needed

    return librosa.stft(np.ascontiguousarray(x.T), n_fft=n_fft, hop_length=hop, window="hann", center=True,
                        pad_mode="constant").astype(np.complex64, copy=False)


def _istft(X: np.ndarray, hop: int, length: int) -> np.ndarray:
    """Inverse of `_stft`: `(channels, F, T)` -> `(length, channels)` float32."""
    import librosa  # lazy: librosa (and numba, ~1 s) only where needed

    n_fft = 2 * (X.shape[-2] - 1)
    y = librosa.istft(X, n_fft=n_fft, hop_length=hop, window="hann", center=True, length=length)
    return np.asarray(y, np.float32).T


def separate(model: Any, audio_or_path: Any, sr: int | None = None, *, instruments: Sequence[str] | None = None,
             config: SeparationConfig = SeparationConfig(), activations: np.ndarray | None = None,
             activation_times: np.ndarray | None = None, classes: Sequence[str] | None = None,
             templates: Templates | None = None, cache: str | os.PathLike | None = None) -> Separation:
    """Per-instrument stems of a file or an audio array, guided by an activation model (one call).

    `model`: any saved form of an activation model (as `tfaudio predict` takes) or a loaded one; None with
    `classes` for plain NMF or given activations. `audio_or_path`: a path, or `(samples,)` /
    `(samples, channels)` audio at `sr`. `instruments`: the stems wanted (default: all the model's; a
    subset adds a `REST` stem). `templates`: learnt ones to reuse (default: `instrument_templates`, cached
    in `cache`). Returns a `Separation` whose stems add up to the input (float rounding).
    Raises `TfaudioError` (one line: the path or argument and the problem) on bad input.
    """
    sep = Separator(model, config, instruments, classes, templates, cache)
    return sep.separate(audio_or_path, sr, activations, activation_times)
