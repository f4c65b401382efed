"""graphspec sweep end to end: real Optuna, real training runs on a tiny spec, real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

import graphspec  # noqa: E402
from graphspec.cli.main import main  # noqa: E402

TINY = """\
graphspec: 1
name: tiny
params: {hidden: 8}
inputs:
  image: {shape: [batch, 1, 8, 8]}
nodes:
  flatten: {op: Flatten, in: image}
  fc: {op: Linear, in: flatten, out_features: "${hidden}"}
  act: {op: ReLU, in: fc}
  head: {op: Linear, in: act, out_features: 10}
outputs: {logits: head}
train:
  task: classify
  data: digits
  epochs: 2
  batch_size: 128
  optimizer: {name: Adam, lr: 0.01}
  metrics: [accuracy]
"""

SPACE = ["--param", "params.hidden=int(4,16)", "--param", "train.optimizer.lr=float(1e-3,3e-2,log)"]


def _spec(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY + extra)
    return p


def _sweep(capsys, *argv) -> tuple[int, str, str]:
    try:
        rc = main(["sweep", *map(str, argv)])
    except SystemExit as exc:  # argparse refuses an option value itself
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_sweep_trains_trials_as_runs_and_writes_the_best_spec(tmp_path, capsys):
    spec = _spec(tmp_path)
    runs = tmp_path / "runs"
    rc, out, err = _sweep(capsys, spec, *SPACE, "--trials", 3, "--metric", "val_accuracy", "--pruner", "none", "--seed", 0, "--runs-dir", runs, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["counts"] == {"complete": 3, "pruned": 0, "fail": 0, "running": 0}
    assert [t["number"] for t in doc["trials"]] == [0, 1, 2]
    for t in doc["trials"]:
        run = Path(t["run_dir"])
        assert run == runs / "tiny-sweep" / f"trial-{t['number']}"
        result = json.loads((run / "results.json").read_text())
        assert result["best_metric"] == "val_accuracy"  # the run keeps its best epoch by the sweep's metric
        assert t["value"] == max(r["val_accuracy"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()))
        assert t["test_accuracy"] == result["test_accuracy"]
        assert 4 <= t["values"]["params.hidden"] <= 16 and 1e-3 <= t["values"]["train.optimizer.lr"] <= 3e-2
    best = doc["best"]
    assert best["value"] == max(t["value"] for t in doc["trials"])
    # the best spec is a valid spec with the winning values and no sweep left in it
    text = Path(doc["best_spec"]).read_text()
    loaded = graphspec.load(doc["best_spec"])
    assert loaded.params["hidden"] == best["values"]["params.hidden"]
    assert loaded.train["optimizer"]["lr"] == best["values"]["train.optimizer.lr"]
    assert "sweep:" not in text
    # one progress line per trial on stderr (--json keeps stdout a single document)
    assert err.count("trial ") == 0  # --json implies quiet progress

    # the same command continues the study: it is full, so nothing runs; raising --trials runs the rest
    rc, out, err = _sweep(capsys, spec, *SPACE, "--trials", 4, "--metric", "val_accuracy", "--pruner", "none", "--runs-dir", runs)
    assert rc == 0, err
    assert "4 complete" in out and "1 run by this process" in out
    assert err.count("\ntrial ") + err.startswith("trial ") == 1
    assert "trial 3: params.hidden=" in err


def test_sweep_section_in_the_spec(tmp_path, capsys):
    spec = _spec(tmp_path, "sweep:\n  params:\n    params.hidden: [4, 12]\n  trials: 2\n  metric: val_accuracy\n  pruner: none\n")
    rc, out, err = _sweep(capsys, spec, "--runs-dir", tmp_path / "runs", "--quiet", "--name", "sec")
    assert rc == 0, err
    assert "trial " not in err  # --quiet: no progress lines, the table only
    assert "sweep sec: maximize val_accuracy" in out and "params.hidden" in out and "2 complete, 0 pruned" in out
    study = optuna.load_study(study_name="sec", storage=f"sqlite:///{tmp_path / 'runs' / 'sec' / 'study.db'}")
    assert study.user_attrs["graphspec"]["space"] == ["params.hidden=choice(4, 12)"]
    assert sorted(t.params["params.hidden"] for t in study.trials) in ([4, 12], [4, 4], [12, 12])
    assert graphspec.load(str(tmp_path / "runs" / "sec" / "best.yaml")).sweep_config is None  # the answer has no sweep: left
    # the section validates with the spec (graphspec validate), the CLI --param wins over it
    assert main(["validate", str(spec)]) == 0


def test_pruned_trial_stops_early_and_keeps_its_run_folder(tmp_path):
    from graphspec.config.sweep import parse_param
    from graphspec.sweep.study import SweepOptions, _run_trial

    spec = _spec(tmp_path)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01))  # accuracy < 1.01: always prune
    opts = SweepOptions(spec=str(spec), params=[parse_param("params.hidden=int(4,8)")], trials=1, runs_dir=str(tmp_path))
    lines: list[str] = []
    _run_trial(optuna, study, study.ask(), opts, tmp_path / "sw", "val_accuracy", "maximize", lines.append)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert list(t.intermediate_values) == [1]
    result = json.loads((tmp_path / "sw" / "trial-0" / "results.json").read_text())
    assert result["epochs"] == 1 and result["stopped"] == "pruned by the sweep at epoch 1"
    assert "test_accuracy" in result  # a pruned run still ends like a run: test metrics from its best weights
    assert "pruned at epoch 1" in lines[0]


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--param", "params.hidden=int(16,4)"], 2, "--param params.hidden=int(16,4): low (16) must be below high (4)"),
        ([], 2, "nothing to search"),
        (["--param", "params.hiden=int(4,16)"], 2, "params has no 'hiden'"),
        (["--param", "params.hidden=int(4,16)", "--metric", "test_accuracy"], 2, "per-epoch metric"),
        (["--param", "params.hidden=int(4,16)", "--metric", "val_r2"], 2, "does not report it"),
        (["--param", "params.hidden=int(0,4)"], 3, "out_features"),
        (["--param", "params.hidden=int(4,16)", "--trials", "0"], 2, "expected a trial count from 1"),
        (["--param", "params.hidden=int(4,16)", "--storage", "nosuchdb://x"], 2, "--storage nosuchdb://x: cannot open it"),
    ],
)
def test_mistakes_are_clear_errors(tmp_path, capsys, argv, code, message):
    spec = _spec(tmp_path)
    rc, _out, err = _sweep(capsys, spec, *argv, "--trials" if "--trials" not in argv else "--epochs", 1, "--runs-dir", tmp_path / "runs")
    assert rc == code, err
    assert message in err and "Traceback" not in err


def test_bad_sweep_section_is_located_in_the_spec(tmp_path, capsys):
    spec = _spec(tmp_path, "sweep:\n  params:\n    params.hidden: int(16, 4)\n  trails: 3\n")
    rc, _out, err = _sweep(capsys, spec, "--runs-dir", tmp_path / "runs")
    assert rc == 3
    assert f"{spec}:21:20: error: bad-value: sweep.params.params.hidden: low (16) must be below high (4)" in err
    assert f"{spec}:22:3: error: unknown-field: unknown field 'trails' in sweep" in err
    assert main(["validate", str(spec)]) == 3


def test_missing_optuna_is_exit_9(tmp_path):
    spec = _spec(tmp_path)
    code = "import sys; sys.modules['optuna'] = None; from graphspec.cli.main import main; sys.exit(main(sys.argv[1:]))"
    p = subprocess.run([sys.executable, "-c", code, "sweep", str(spec), *SPACE], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 9, p.stderr
    assert "pip install 'graphspec[sweep]'" in p.stderr and "Traceback" not in p.stderr


def test_two_processes_share_one_study_and_run_exactly_n_trials(tmp_path):
    spec = _spec(tmp_path)
    n = 5
    db = tmp_path / "shared.db"
    argv = [sys.executable, "-m", "graphspec", "sweep", str(spec), *SPACE, "--trials", str(n), "--epochs", "1", "--pruner", "none"]
    argv += ["--storage", f"sqlite:///{db}", "--name", "par", "--runs-dir", str(tmp_path / "runs"), "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    docs = [json.loads(out) for out, _ in outs]
    assert sum(d["ran_here"] for d in docs) == n
    study = optuna.load_study(study_name="par", storage=f"sqlite:///{db}")
    from graphspec.sweep.study import counts_toward_size

    counted = [t for t in study.trials if counts_toward_size(t)]
    assert len(counted) == n
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in counted)
    folders = sorted(p.name for p in (tmp_path / "runs" / "par").glob("trial-*"))
    assert folders == sorted(f"trial-{t.number}" for t in counted)
    assert all((tmp_path / "runs" / "par" / f / "results.json").is_file() for f in folders)
