"""Fault corpus: budgets and numeric options (issue 7 §4).

Every numeric option is range-checked by argparse (exit 2, before anything is
loaded); specs that would allocate absurd amounts are refused with ``too-large``
(exit 3) naming the node or the dim, before torch allocates; ``${...}`` results
that grow without bound stop at once.
"""

from __future__ import annotations

import pytest
from harness import expect, run_cli, tiny_onnx, tiny_spec

# ---------------------------------------------------------------- numeric options: exit 2

OPTION_CASES = [
    # (command line after the target, words the message must contain)
    ("bench", ["--threads", "0"], "thread count"),
    ("bench", ["--threads", "-1"], "thread count"),
    ("bench", ["--threads", "100000"], "thread count"),
    ("bench", ["--threads", "two"], "thread count"),
    ("bench", ["--batch", "0"], "batch sizes"),
    ("bench", ["--batch", "-3"], "batch sizes"),
    ("bench", ["--batch", "99999999999"], "batch sizes"),
    ("bench", ["--batch", "1,,x"], "batch sizes"),
    ("bench", ["--batch", ","], "batch sizes"),
    ("bench", ["--repeat", "0"], "repeat count"),
    ("bench", ["--repeat", "1000000000"], "repeat count"),
    ("bench", ["--warmup", "-1"], "warm-up count"),
    ("bench", ["--max-seconds", "nan"], "seconds"),
    ("bench", ["--max-seconds", "inf"], "seconds"),
    ("bench", ["--max-seconds", "0"], "seconds"),
    ("bench", ["--gap-ms", "-5"], "milliseconds"),
    ("bench", ["--budget", "lots"], "size"),
    ("export", ["--opset", "7"], "18 to 23"),
    ("export", ["--opset", "17"], "18 to 23"),
    ("export", ["--opset", "24"], "18 to 23"),
    ("export", ["--opset", "-1"], "18 to 23"),
    ("export", ["--opset", "latest"], "18 to 23"),
    ("export", ["--atol", "nan"], "tolerance"),
    ("export", ["--atol", "-1"], "tolerance"),
    ("export", ["--atol", "inf"], "tolerance"),
    ("export", ["--rtol", "-0.1"], "tolerance"),
    ("export", ["--rtol", "1e9"], "tolerance"),
    ("export", ["--budget", "0"], "size"),
    ("export", ["--budget", "0.1"], "size"),
    ("export", ["--budget", "12X"], "size"),
    ("train", ["--threads", "0"], "thread count"),
    ("train", ["--device", "mps"], "not supported"),
    ("train", ["--device", "xpu"], "not supported"),
    ("train", ["--device", "cuda:x"], "not supported"),
    ("train", ["--device", ""], "not supported"),
    ("train", ["--epochs", "0"], "epoch count"),
    ("train", ["--seed", "-1"], "seed"),
    ("train", ["--nproc", "0"], "process count"),
    ("evaluate", ["--run", "runs/x", "--device", "mps"], "not supported"),
    ("codegen", ["--budget", "1e99"], "size"),
]


@pytest.mark.parametrize("command,options,words", OPTION_CASES, ids=[f"{c}{'_'.join(o)}" for c, o, _ in OPTION_CASES])
def test_numeric_options_are_range_checked(tmp_path, command, options, words):
    spec = tiny_spec(tmp_path)
    r = run_cli(command, spec, *options, cwd=tmp_path, timeout=60)
    expect(r, 2, contains=[words, options[-2] if options[-2].startswith("--") else options[0]])


def test_infer_threads_out_of_range(tmp_path):
    model = tiny_onnx(tmp_path)
    r = run_cli("infer", model, "--input", "x.npz", "--threads", "0", cwd=tmp_path, timeout=60)
    expect(r, 2, contains=["--threads", "thread count"])


def test_budget_environment_variable_is_checked(tmp_path):
    spec = tiny_spec(tmp_path)
    r = run_cli("export", spec, "-o", "t.onnx", cwd=tmp_path, env={"GRAPHSPEC_BUDGET": "plenty"})
    expect(r, 2, contains=["GRAPHSPEC_BUDGET"])


# ---------------------------------------------------------------- budgets: exit 3 before allocating

HUGE_PARAMS = """\
graphspec: 1
name: huge
inputs:
  x: {shape: [batch, 1000000]}
nodes:
  fc: {op: Linear, in: x, out_features: 1000000}
outputs: {y: fc}
"""

HUGE_DIMS = """\
graphspec: 1
name: wide_image
dims: {side: 200000}
inputs:
  img: {shape: [batch, 3, side, side]}
nodes:
  pool: {op: AdaptiveAvgPool2d, in: img, output_size: 1}
outputs: {y: pool}
"""

HUGE_ACTIVATION = """\
graphspec: 1
name: blowup
inputs:
  img: {shape: [batch, 3, 64, 64]}
nodes:
  up: {op: Upsample, in: img, scale_factor: 5000}
  pool: {op: AdaptiveAvgPool2d, in: up, output_size: 1}
outputs: {y: pool}
"""


@pytest.mark.parametrize("command", ["export", "codegen", "bench"])
def test_huge_parameters_are_refused_naming_the_node(tmp_path, command):
    spec = tiny_spec(tmp_path, "huge.yaml", HUGE_PARAMS)
    extra = ["-o", "h.onnx"] if command == "export" else (["--backends", "eager"] if command == "bench" else [])
    r = run_cli(command, spec, *extra, cwd=tmp_path)
    expect(r, 3, contains=["too-large", "node 'fc' (Linear)", "--budget"])
    assert not (tmp_path / "h.onnx").exists()


def test_huge_dims_are_refused_naming_the_dim(tmp_path):
    spec = tiny_spec(tmp_path, "wide.yaml", HUGE_DIMS)
    r = run_cli("export", spec, "-o", "w.onnx", cwd=tmp_path)
    expect(r, 3, contains=["too-large", "input 'img'", "(side) = 200,000"])


def test_huge_dims_override_is_refused(tmp_path):
    spec = tiny_spec(tmp_path)
    r = run_cli("export", spec, "--set", "inputs.x.shape=[batch, 3000000000]", "-o", "t.onnx", cwd=tmp_path)
    expect(r, (2, 3))


def test_activation_blowup_is_refused_naming_the_node(tmp_path):
    spec = tiny_spec(tmp_path, "blowup.yaml", HUGE_ACTIVATION)
    r = run_cli("export", spec, "-o", "b.onnx", cwd=tmp_path)
    expect(r, 3, contains=["too-large", "node 'up'"])


def test_bench_huge_batch_is_refused(tmp_path):
    spec = tiny_spec(tmp_path)
    r = run_cli("bench", spec, "--batch", "1000000", "--backends", "eager", "--budget", "1M", cwd=tmp_path)
    expect(r, 3, contains=["too-large", "benchmarking", "batch=1000000"])


def test_bench_bare_onnx_budget(tmp_path):
    model = tiny_onnx(tmp_path)
    r = run_cli("bench", model, "--batch", "1000000", "--backends", "ort-cpu", "--budget", "1M", cwd=tmp_path)
    expect(r, 3, contains=["too-large", "input 'x'"])


def test_train_huge_batch_is_refused(tmp_path):
    r = run_cli("train", "digits_mlp", "--set", "train.batch_size=1000000", "--set", "params.hidden=100000", "--runs-dir", "runs", "-q", cwd=tmp_path)
    expect(r, 3, contains=["too-large", "training graph"])
    assert not list((tmp_path / "runs").glob("*/last.safetensors")) if (tmp_path / "runs").exists() else True


def test_small_budget_refuses_and_the_flag_raises_it(tmp_path):
    spec = tiny_spec(tmp_path, "mid.yaml", HUGE_PARAMS.replace("1000000", "1000"))  # 4 MB of weights
    r = run_cli("codegen", spec, "--budget", "1M", cwd=tmp_path)
    expect(r, 3, contains=["too-large", "1 MiB", "node 'fc'"])
    r = run_cli("codegen", spec, "--budget", "64M", cwd=tmp_path)
    expect(r, 0, contains=["class Huge"])


# ---------------------------------------------------------------- expression size caps: exit 3, at once

def _doubling(first: str, step: str, n: int = 40) -> str:
    names = [f"p{i}" for i in range(n)]
    lines = [f"  {names[0]}: {first}"] + [f"  {b}: \"{step.format(a=a)}\"" for a, b in zip(names, names[1:])]
    return "graphspec: 1\nname: bomb\nparams:\n" + "\n".join(lines) + "\ninputs:\n  x: {shape: [batch, 4]}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\noutputs: {y: fc}\n"


EXPR_BOMBS = {
    "string_doubling": _doubling('"xxxxxxxx"', "${{{a}}}${{{a}}}"),
    "list_doubling": _doubling("[1, 2]", "${{[{a}, {a}]}}"),
    "string_in_list_doubling": _doubling('"abc"', "${{[{a}, {a}, {a}]}}"),
    "many_interpolations": "graphspec: 1\nname: bomb\nparams:\n  a: \"" + "y" * 5000 + "\"\n  b: \"" + "${a}" * 100 + "\"\ninputs:\n  x: {shape: [batch, 4]}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\noutputs: {y: fc}\n",
    "string_times_int": "graphspec: 1\nname: bomb\nparams:\n  a: \"${'x' * 10**9}\"\ninputs:\n  x: {shape: [batch, 4]}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\noutputs: {y: fc}\n",
    "power_tower": "graphspec: 1\nname: bomb\nparams:\n  a: \"${10**10**10}\"\ninputs:\n  x: {shape: [batch, 4]}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\noutputs: {y: fc}\n",
    "deep_nesting": "graphspec: 1\nname: bomb\nparams:\n  a: \"${" + "[" * 240 + "]" * 240 + "}\"\ninputs:\n  x: {shape: [batch, 4]}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\noutputs: {y: fc}\n",
    "huge_dims": "graphspec: 1\nname: bomb\ndims: {batch: 1099511627776}\ninputs:\n  x: {shape: [batch, 4]}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\noutputs: {y: fc}\n",
}


@pytest.mark.parametrize("case", sorted(EXPR_BOMBS))
def test_expression_bombs_stop_at_once(tmp_path, case):
    spec = tiny_spec(tmp_path, "bomb.yaml", EXPR_BOMBS[case])
    r = run_cli("validate", spec, cwd=tmp_path, timeout=30, mem=1024**3)
    expect(r, 3, names=["bomb.yaml"])
    assert r.seconds < 20
