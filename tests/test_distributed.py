"""Several processes on 127.0.0.1: KerasTuner's chief/worker search, and multi-worker training.

Each test starts its processes with hard timeouts and kills them on failure, so it cannot hang.
"""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tfaudio.experiment import load_experiment
from tfaudio.data.sources import corpus_root

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 420  # seconds, for a whole group of processes


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """The corpus is rendered here, in the test process, into the cache every subprocess uses."""
    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path / "cache"))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KERASTUNER_") and k not in ("TF_CONFIG",)}
    env.update(TFAUDIO_CACHE=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT),
               CUDA_VISIBLE_DEVICES="", **extra)
    return env


def _run_all(procs: dict[str, subprocess.Popen], logs: dict[str, Path], timeout: float = TIMEOUT) -> None:
    """Wait for every process; on a timeout or a failure kill them all and show their logs."""
    deadline = time.monotonic() + timeout
    try:
        for name, p in procs.items():
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    bad = {n: p.returncode for n, p in procs.items() if p.returncode != 0}
    if bad:
        tails = "\n".join(f"--- {n} (exit {procs[n].returncode}):\n" + logs[n].read_text()[-3000:] for n in bad)
        pytest.fail(f"processes failed or timed out: {bad}\n{tails}")


def _wait_for_lines(procs: dict[str, subprocess.Popen], logs: dict[str, Path], text: str,
                    timeout: float = TIMEOUT) -> None:
    """Wait until every log holds `text`; on a timeout or an early exit kill them all and show their logs."""
    deadline = time.monotonic() + timeout
    while not all(text in logs[n].read_text() for n in procs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
            _run_all(procs, logs, timeout=0)
            pytest.fail(f"not every process logged {text!r}")
        time.sleep(0.2)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_distributed_tuning_shares_trials_between_workers(tmp_path):
    """A chief (the oracle) and two workers on 127.0.0.1 share one search: every trial runs once, on
    one worker; both workers run some; all complete; the chief writes the table and exports."""
    tiny = ["data.per_class=3", "data.clip_seconds=0.5", "train.epochs=1", "train.steps_per_epoch=2",
            "train.validation_steps=2", "train.batch_size=4", "train.verbose=0"]
    corpus_root(load_experiment(ROOT / "pipelines" / "goel_simple_rnn.yaml", tiny))  # render once, up front
    out = tmp_path / "search"
    (port,) = _free_ports(1)
    args = ["-m", "tfaudio", "tune", "goel_simple_rnn", "--out", str(out), "--tuner", "random", "--max-trials", "4",
            *sum([["--set", s] for s in tiny], []), "--fix", "units=8", "--fix", "rnn_layers=1", "--fix", "features=mfcc"]
    procs, logs = {}, {}
    # the workers first, the chief only once both are ready to make their tuners: they must not write into
    # the folder before the chief has checked and claimed it (a chief started later is refused otherwise)
    for tuner_id in ("tuner0", "tuner1", "chief"):
        if tuner_id == "chief":
            _wait_for_lines(procs, logs, "waiting for the chief's oracle")
        logs[tuner_id] = tmp_path / f"{tuner_id}.log"
        env = _env(tmp_path, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(port))
        procs[tuner_id] = _start(args, env, logs[tuner_id])
    _run_all(procs, logs)

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" and r["val_loss"] for r in rows)
    assert {r["tuner"] for r in rows} == {"tuner0", "tuner1"}  # both workers ran trials, the chief none
    records = {p.parent.name: json.loads(p.read_text()) for p in (out / "tuner").glob("trial_*/tfaudio_trial.json")}
    assert len(records) == 4
    for rec in records.values():
        assert len(rec["runs"]) == 1 and rec["runs"][0]["outcome"] == "completed"  # each trial ran once
    values = [tuple(sorted(json.loads((out / "tuner" / f"trial_{r['trial']}" / "trial.json").read_text())
                           ["hyperparameters"]["values"].items())) for r in rows]
    assert len(set(values)) == 4  # four different points of the space
    assert (out / "best" / "saved_model.pb").is_file() and (out / "best.json").is_file()
    assert "worker done" in logs["tuner0"].read_text() and "search written to" in logs["chief"].read_text()


WORKER = """
import sys
from tfaudio.experiment import load_experiment
from tfaudio.training.train import train

cfg = load_experiment(sys.argv[1], sys.argv[3:])
train(cfg, sys.argv[2], strategy="multi_worker", keep_worker_dir=True)
"""


@pytest.mark.slow
def test_multi_worker_training_keeps_the_workers_weights_equal(tmp_path):
    """Two MultiWorkerMirroredStrategy workers (TF_CONFIG) train for a few steps on different shards of
    the data; afterwards their weights (and logged losses) agree."""
    tiny = ["data.per_class=3", "train.epochs=2", "train.steps_per_epoch=3", "train.validation_steps=2",
            "train.batch_size=4", "train.verbose=0", "mix.n_max=2"]
    config = ROOT / "pipelines" / "neuroment_mel.yaml"
    corpus_root(load_experiment(config, tiny))  # render once, up front
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, logs, outs = {}, {}, []
    for i in range(2):
        outs.append(tmp_path / f"run{i}")
        logs[f"worker{i}"] = tmp_path / f"worker{i}.log"
        env = _env(tmp_path, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        procs[f"worker{i}"] = _start(["-c", WORKER, str(config), str(outs[i]), *tiny], env, logs[f"worker{i}"])
    _run_all(procs, logs)

    import tfaudio.features  # noqa: F401  (registers the layers the models use)
    import tfaudio.models  # noqa: F401

    chief = keras.models.load_model(outs[0] / "checkpoints" / "last.keras", safe_mode=True)
    (scratch,) = list(outs[1].glob(".worker-*"))
    other = keras.models.load_model(scratch / "final.keras", safe_mode=True)
    a, b = chief.get_weights(), other.get_weights()
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    # the chief wrote the run; the other worker only its scratch folder
    assert (outs[0] / "run.json").is_file() and not (outs[1] / "run.json").exists()
    h0 = list(csv.DictReader((outs[0] / "history.csv").open()))
    h1 = list(csv.DictReader((scratch / "history.csv").open()))
    assert [r["epoch"] for r in h0] == ["0", "1"] and [r["loss"] for r in h0] == [r["loss"] for r in h1]
    keras.backend.clear_session()
