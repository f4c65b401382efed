"""Fault corpus: ``--set`` overrides (strict keys, ``+KEY``, hostile values).

Every case runs ``graphspec validate`` (never imports torch) on a small spec
with a ``train:`` section and checks the documented exit code: 2 for a bad
override itself, 3 for a value the spec then rejects -- each message naming
the override, never a traceback or exit 1.
"""

from __future__ import annotations

import pytest
from harness import expect, run_cli

SPEC = """\
graphspec: 1
name: ov
params: {width: 8, depth: 2}
dims: {batch: 4}
inputs:
  x: {shape: [batch, 4]}
nodes:
  fc: {op: Linear, in: x, out_features: "${width}"}
  seq: {op: Sequential, in: fc, layers: [{op: ReLU}]}
outputs: {y: seq}
train:
  task: classify
  data: digits
  optimizer: {name: Adam, lr: 0.001}
"""

# (override, exit code, text the message must hold)
CASES = [
    ("params.widht=64", 2, "did you mean 'width'?"),
    ("params.new=1", 2, "+params.new"),
    ("+params.width=3", 2, "already exists"),
    ("dims.batchh=2", 2, "did you mean 'batch'?"),
    ("nodes.fcc.out_features=3", 2, "did you mean 'fc'?"),
    ("nodes.seq.layers.5.op=Tanh", 2, "not an index"),
    ("nodes.seq.layers.x.op=Tanh", 2, "not an index"),
    ("params.width.deeper=1", 2, "is not a mapping"),
    ("graphspec.x=1", 2, "is not a mapping"),
    ("inputs.y.shape=[2]", 2, "+inputs.y"),
    ("params.width", 2, "KEY=VALUE"),
    ("=3", 2, "KEY=VALUE"),
    ("params..width=3", 2, "empty part"),
    ("params.width=[1,", 2, "cannot read the value"),
    ("params.width=!!python/object:os.system ls", 2, "cannot read the value"),
    ("params.width=&a [*a]", 2, "cannot read the value"),
    ("train.epochz=3", 3, "--set train.epochz=3"),
    ("train.optimizer.lr=abc", 3, "--set train.optimizer.lr=abc"),
    ("train.task=clasify", 3, "did you mean 'classify'?"),
    ("train.optimizer.name=Adamm", 3, "--set train.optimizer.name=Adamm"),
    ("train.data=nosuchsource", 3, "--set train.data=nosuchsource"),
    ("nodes.fc.out_featurs=3", 3, "did you mean 'out_features'?"),
    ("params.width=0", 3, "out_features"),
    ("params.width='${__import__(\"os\")}'", 3, "expr-"),
    ("params.width='${\"a\" * 10**9}'", 3, "expr-"),
    ("params.width=" + "9" * 5000, 2, "params.width"),  # a number the YAML reader refuses
    ("+params.extra='${width * 2}'", 0, "ok"),
    ("train.epochs=2", 0, "ok"),
]


@pytest.mark.parametrize("override,code,text", CASES, ids=[c[0][:40] for c in CASES])
def test_override(tmp_path, override, code, text):
    spec = tmp_path / "ov.yaml"
    spec.write_text(SPEC)
    r = run_cli("validate", str(spec), "--set", override, cwd=tmp_path, timeout=60)
    expect(r, code, contains=[text])


def test_every_bad_override_is_reported_in_one_run(tmp_path):
    spec = tmp_path / "ov.yaml"
    spec.write_text(SPEC)
    r = run_cli("validate", str(spec), "--set", "params.widht=1", "--set", "dims.batchh=2", "--set", "nodes.x.y=1", cwd=tmp_path, timeout=60)
    expect(r, 2, contains=["params.widht", "dims.batchh", "nodes.x.y"])
