"""Per-instrument spectral templates learnt from the built-in corpus's solo renders (cached on disk).

    templates = instrument_templates(("clarinet", "piano"), SeparationConfig())
    W = templates.at(sr=44100, n_fft=2048)        # (bins, instruments * components), float32

Each instrument's solo phrases (`tfaudio.data.corpus.render_phrase`, its GM programs in turn) are turned into a
magnitude spectrogram and factorised with scikit-learn's KL-NMF; its `components` columns are the
instrument's templates. They are stored per frequency (Hz), so they serve any sample rate and STFT length.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from tfaudio.errors import TfaudioError
from tfaudio.data.corpus import Renderer, render_phrase
from tfaudio.data.phrases import DEFAULT_INSTRUMENTS, IRMAS_INSTRUMENTS
from tfaudio.data.sources import cache_dir
from tfaudio.io import outputs
from tfaudio.separation.config import SeparationConfig

log = logging.getLogger(__name__)

_VERSION = 1  #: bump when the learning changes, so that old caches are not reused


@dataclasses.dataclass(frozen=True, eq=False)
class Templates:
    """`W` `(instruments, bins, components)` float32, magnitude spectra at `sr` with `n_fft`, columns summing to 1."""

    instruments: tuple[str, ...]
    sr: int
    n_fft: int
    W: np.ndarray

    @property
    def components(self) -> int:
        return int(self.W.shape[2])

    def at(self, sr: int, n_fft: int) -> np.ndarray:
        """Templates on the bins of an `n_fft` STFT at `sr`: `(n_fft // 2 + 1, instruments * components)`,
        instrument-major (columns ``i * components ... (i + 1) * components - 1`` are instrument `i`'s).
        Linear interpolation in Hz; above the templates' highest frequency, their last value."""
        w = self.W.transpose(1, 0, 2).reshape(self.W.shape[1], -1)
        if int(sr) == self.sr and int(n_fft) == self.n_fft:
            return np.ascontiguousarray(w, np.float32)
        src = np.fft.rfftfreq(self.n_fft, 1.0 / self.sr)
        dst = np.fft.rfftfreq(int(n_fft), 1.0 / int(sr))
        out = np.stack([np.interp(dst, src, col) for col in w.T], axis=1)
        return np.ascontiguousarray(out / np.maximum(out.sum(axis=0, keepdims=True), 1e-12), np.float32)


def magnitude(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| `(n_fft // 2 + 1, frames)` float32 of mono `y` (Hann, centred, zero-padded)."""
    import librosa  # lazy: librosa (and numba, ~1 s) only where needed

    return np.abs(librosa.stft(np.asarray(y, np.float32), n_fft=n_fft, hop_length=hop, window="hann",
                               center=True, pad_mode="constant")).astype(np.float32)


def _cache_key(instrument: str, config: SeparationConfig) -> str:
    fields = {k: getattr(config, k) for k in ("window_seconds", "components", "soundfont", "template_sr",
                                               "template_phrases", "template_seconds", "seed")}
    text = json.dumps({"v": _VERSION, "instrument": instrument, **fields}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def learn_instrument(instrument: str, config: SeparationConfig) -> np.ndarray:
    """Templates `(bins, components)` of one corpus instrument (rendered now; see `instrument_templates`)."""
    from sklearn.decomposition import NMF  # lazy: scikit-learn loads only where it runs (~0.5 s)
    from sklearn.exceptions import ConvergenceWarning  # lazy: scikit-learn loads only where it runs (~0.5 s)

    inst = next((i for i in (*DEFAULT_INSTRUMENTS, *IRMAS_INSTRUMENTS) if i.name == instrument), None)
    if inst is None:
        raise TfaudioError(f"instrument {instrument!r} is not a class of the built-in corpus, so it has no solo "
                           "renders to learn templates from")
    sr = config.template_sr
    n_fft, hop = config.n_fft(sr), config.hop(sr)
    programs = tuple(Renderer(config.soundfont, sr).programs(inst))
    spectra = []
    for k in range(config.template_phrases):
        y = render_phrase(inst, seconds=config.template_seconds, sr=sr, seed=config.seed * 1000 + k,
                          soundfont=config.soundfont, program=programs[k % len(programs)])
        spectra.append(magnitude(y, n_fft, hop))
    v = np.concatenate(spectra, axis=1)
    energy = v.sum(axis=0)
    v = v[:, energy > energy.max() * 1e-3]  # frames within 60 dB of the loudest (no silence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf = NMF(config.components, beta_loss="kullback-leibler", solver="mu", init="nndsvda", max_iter=200,
                  random_state=config.seed)
        nmf.fit(v.T.astype(np.float64))
    w = np.maximum(nmf.components_.T, 0.0)
    return (w / np.maximum(w.sum(axis=0, keepdims=True), 1e-12)).astype(np.float32)


def instrument_templates(instruments: Sequence[str], config: SeparationConfig = SeparationConfig(),
                         cache: str | Path | None = None) -> Templates:
    """Templates of `instruments` (names of corpus classes), each learnt once and cached as
    ``<cache>/separation/templates-<key>.npz`` (default cache: $TFAUDIO_CACHE or ~/.cache/tfaudio; the key
    hashes the instrument and the config fields that shape it)."""
    folder = Path(cache) if cache is not None else cache_dir()
    folder = folder / "separation"
    sr = config.template_sr
    ws = []
    for name in instruments:
        path = folder / f"templates-{_cache_key(name, config)}.npz"
        w = None
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    w = np.asarray(z["W"], np.float32)
            except (OSError, ValueError, KeyError) as e:
                log.warning("%s: unreadable cached templates (%s); learning them again", path, e)
        if w is None or w.shape != (config.n_fft(sr) // 2 + 1, config.components):
            log.info("learning %d templates of %r from %d solo phrases (%s)", config.components, name,
                     config.template_phrases, config.soundfont)
            w = learn_instrument(name, config)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                outputs.atomic_write(path, lambda p, w=w: np.savez(p, W=w))
            except OSError as e:  # a read-only cache costs time, not the result
                log.warning("could not cache templates in %s: %s", folder, e)
        ws.append(w)
    return Templates(tuple(instruments), sr, config.n_fft(sr), np.stack(ws))
