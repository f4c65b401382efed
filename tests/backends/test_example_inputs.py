"""The one example-inputs module: symbolic dims -> sizes -> feeds, for a graph or a bare ONNX signature."""

from dataclasses import dataclass

import numpy as np
import pytest

import graphspec
from graphspec.backends import example_inputs as ex
from graphspec.backends.torch_fx import example_inputs as torch_inputs

SPEC = """\
graphspec: 1
name: seqs
dims: {seq: 12}
inputs:
  tokens: {shape: [batch, seq], dtype: int64}
  extra: {shape: [batch, 3]}
nodes:
  emb: {op: Embedding, in: tokens, num_embeddings: 7, embedding_dim: 3}
  pool: {op: Mean, in: emb, dim: 1}
  add: {op: Add, in: [pool, extra]}
outputs: {y: add}
"""


@pytest.fixture(scope="module")
def graph():
    spec = graphspec.load("seqs.yaml", text=SPEC)
    return spec, spec.graph()


def test_sizes(graph):
    spec, g = graph
    assert ex.symbols_of(g) == {"batch": True, "seq": False}
    assert ex.example_sizes(spec, g) == {"batch": 2, "seq": 12}
    assert ex.sizes_at(g, 5, spec.dims) == {"batch": 5, "seq": 12}
    assert ex.sizes_at(g, 5) == {"batch": 5, "seq": ex.DEFAULT_DIM}


def test_feeds_are_seeded_and_valid(graph):
    _, g = graph
    a = ex.make_inputs(g, ["tokens", "extra"], {"batch": 4, "seq": 9}, seed=3)
    b = ex.make_inputs(g, ["tokens", "extra"], {"batch": 4, "seq": 9}, seed=3)
    assert a["tokens"].shape == (4, 9) and a["tokens"].dtype == np.int64 and a["tokens"].max() < 7
    assert a["extra"].dtype == np.float32 and np.array_equal(a["extra"], b["extra"])


def test_torch_inputs_come_from_the_same_generator(graph):
    _, g = graph
    tokens, extra = torch_inputs(g, {"batch": 4, "seq": 9})
    feeds = ex.make_inputs(g, ["tokens", "extra"], {"batch": 4, "seq": 9}, seed=0)
    assert np.array_equal(tokens.numpy(), feeds["tokens"]) and np.array_equal(extra.numpy(), feeds["extra"])


@dataclass
class Info:
    name: str
    shape: list
    dtype: object


def test_bare_onnx_signature():
    feeds = ex.inputs_for_signature([Info("x", ["batch", 3, None], np.float32), Info("ids", ["batch", "seq"], np.int64)], 5, {"seq": 4})
    assert feeds["x"].shape == (5, 3, ex.DEFAULT_DIM) and feeds["ids"].shape == (5, 4) and not feeds["ids"].any()
