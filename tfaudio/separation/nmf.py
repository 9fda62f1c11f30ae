"""Activation-informed NMF in numpy: gated KL multiplicative updates and Wiener-style soft masks.

    gate = activation_gate(activations, act_times, threshold=0.5, dilate_seconds=0.25)   # (I, T_act) {0, 1}
    g = gate_at(gate, act_times, frame_times)                                             # (I, T)
    W, H = factorize(V, W0, g, components=8, iterations=50)
    masks = soft_masks(W, H, n_instruments, power=2.0)                                    # (I, F, T), sum 1

`V` `(F, T)` is the mixture's magnitude STFT, `W0` `(F, I * K)` the instruments' templates (instrument-major).
Multiplicative updates keep a zero gain zero, so instrument `i`'s gains start, and stay, zero in the frames
where its gate is 0 ("the model says silent") and are free where it is 1. A frame where every gate is 0 is
left free for all instruments (the model missed what plays there; its energy must go somewhere). Weighted
guidance (`penalty` λ, `hard=False` gates in [0, 1]) adds an L1 cost ``λ (1 - g)`` on the gains instead.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-10


def activation_gate(activations: np.ndarray, times: np.ndarray, threshold: float,
                    dilate_seconds: float, hard: bool = True) -> np.ndarray:
    """`(I, T)` float32: the largest activation `(I, T)` (frames at `times` s) within `dilate_seconds` either
    side (onsets and releases the model places a little late or early) over `threshold`, at most 1; `hard`:
    1 where that reaches 1, else 0."""
    a = np.asarray(activations, np.float32)
    times = np.asarray(times, np.float64)
    if a.shape[1] > 1 and dilate_seconds > 0:
        step = float(np.median(np.diff(times)))
        d = int(round(dilate_seconds / step)) if step > 0 else 0
        if d:
            padded = np.pad(a, ((0, 0), (d, d)))
            a = np.lib.stride_tricks.sliding_window_view(padded, 2 * d + 1, axis=1).max(axis=2)
    g = np.minimum(1.0, a / threshold) if threshold > 0 else np.ones_like(a)
    return (g >= 1.0).astype(np.float32) if hard else g.astype(np.float32)


def gate_at(gate: np.ndarray, times: np.ndarray, frame_times: np.ndarray, hard: bool = True) -> np.ndarray:
    """The gate `(I, T_act)` at STFT frame times `(T,)` s: `(I, T)`, linear interpolation (beyond the last
    activation frame, its value); `hard`: 1 where either neighbouring activation frame is on, else 0."""
    if gate.shape[1] == 0:
        return np.ones((gate.shape[0], len(frame_times)), np.float32)
    out = np.stack([np.interp(frame_times, times, row) for row in gate]) if len(times) > 1 else \
        np.repeat(gate[:, :1], len(frame_times), axis=1)
    return (out > 0).astype(np.float32) if hard else out.astype(np.float32)


def factorize(V: np.ndarray, W0: np.ndarray, gate: np.ndarray | None, components: int, iterations: int,
              adapt_templates: bool = False, penalty: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """KL-NMF ``V ≈ W H`` with `iterations` multiplicative updates of `H` (and of `W`, initialised at `W0`,
    with `adapt_templates`). `gate` `(I, T)` (None: all free) zeroes instrument `i`'s `components` rows of
    `H` where it is 0; with `penalty` λ the gate `(I, T)` in [0, 1] weighs instead: an L1 cost ``λ (1 - g)``
    on the gains (the update's denominator grows by it), so none is forced to zero. Initial gains: each
    frame's magnitude sum spread evenly over its free rows, so each frame's result depends on that frame
    alone when `W` is fixed. Returns (W `(F, I*K)`, H `(I*K, T)`) float32."""
    V = np.asarray(V, np.float32)
    W = np.array(W0, np.float32, copy=True)
    n_rows = W.shape[1]
    cost = None
    if gate is None or penalty is not None:
        free = np.ones((n_rows, V.shape[1]), np.float32)
        if gate is not None:
            cost = np.repeat(np.float32(penalty) * (1.0 - np.asarray(gate, np.float32)), components, axis=0)
    else:
        g = np.asarray(gate, np.float32).copy()
        g[:, g.sum(axis=0) == 0] = 1.0  # nothing said to play: all free
        free = np.repeat(g, components, axis=0)
    H = free * (V.sum(axis=0, keepdims=True) / np.maximum(free.sum(axis=0, keepdims=True), 1.0))
    H = np.maximum(H, 0.0).astype(np.float32)
    for _ in range(int(iterations)):
        ratio = V / (W @ H + EPS)
        denominator = W.sum(axis=0)[:, None] + EPS
        H *= (W.T @ ratio) / (denominator if cost is None else denominator + cost)
        if adapt_templates:
            ratio = V / (W @ H + EPS)
            W *= (ratio @ H.T) / (H.sum(axis=1)[None, :] + EPS)
            scale = W.sum(axis=0, keepdims=True) + EPS
            W /= scale
            H *= scale.T
    return W, H


def soft_masks(W: np.ndarray, H: np.ndarray, n_instruments: int, power: float = 2.0) -> np.ndarray:
    """Wiener-style masks `(I, F, T)` float32: ``P_i / sum_j P_j`` with ``P_i = (W_i H_i) ** power``; they
    sum to 1 in every bin (a bin no instrument explains is shared evenly), so the stems add up to the mix."""
    k = W.shape[1] // n_instruments
    P = np.stack([(W[:, i * k:(i + 1) * k] @ H[i * k:(i + 1) * k]) for i in range(n_instruments)])
    np.maximum(P, 0.0, out=P)
    if power != 1.0:
        peak = P.max(axis=0)
        P /= np.where(peak > 0, peak, 1.0)  # per bin, relative to the loudest instrument: no under/overflow
        P **= np.float32(power)
    total = P.sum(axis=0)
    empty = total <= 1e-30
    masks = P / np.where(empty, 1.0, total)
    masks[:, empty] = 1.0 / n_instruments
    return masks.astype(np.float32, copy=False)
