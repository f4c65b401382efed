"""Analysis passes: shapes, cost, lint warnings, subgraph extraction, the manager."""

from __future__ import annotations

import textwrap

import pytest

from graphspec.errors import Collector, GraphspecError
from graphspec.passes import cost, manager
from graphspec.passes.subgraph import extract
from graphspec.pipeline import load


def spec(text: str, **kw):
    return load("t.yaml", text=textwrap.dedent(text), **kw)


VAE = """
graphspec: 1
dims: {batch: 4}
blocks:
  decoder:
    inputs: [z]
    nodes:
      fc3: {op: Linear, in: z, out_features: 16}
      relu: {op: ReLU, in: fc3}
      fc4: {op: Linear, in: relu, out_features: 32}
    outputs: fc4
inputs:
  x: {shape: [batch, 32]}
nodes:
  fc1: {op: Linear, in: x, out_features: 16}
  relu: {op: ReLU, in: fc1}
  fc21: {op: Linear, in: relu, out_features: 2}
  fc22: {op: Linear, in: relu, out_features: 2}
  z: {op: Reparameterize, in: {mu: fc21, logvar: fc22}}
  decoder: {op: decoder, in: z}
outputs: {recon: decoder, mu: fc21, logvar: fc22, decoder_out: decoder}
"""


# -- subgraph -----------------------------------------------------------------------


def test_extract_keeps_only_ancestors():
    g = spec(VAE).graph()
    sub = extract(g, ["mu"])
    assert set(sub.g) == {"x", "fc1", "relu", "fc21"}
    assert sub.order == ["x", "fc1", "relu", "fc21"]
    assert list(sub.inputs) == ["x"] and sub.outputs == {"mu": ("fc21", 0)}
    sub = extract(g, ["decoder_out"])
    assert "fc22" in sub.g and "decoder.fc4" in sub.g
    assert sub.total_params == g.total_params


def test_extract_by_node_path_and_port():
    s = spec(
        """
        graphspec: 1
        blocks:
          enc:
            nodes:
              lstm: {op: LSTM, in: x, hidden_size: 4}
              fc: {op: Linear, in: lstm, out_features: 2}
            outputs: fc
        inputs: {x: {shape: [batch, seq, 3]}}
        nodes: {e: {op: enc, in: x}}
        outputs: e
        """
    )
    g = s.graph()
    sub = extract(g, ["e.lstm.h_n"])
    assert sub.outputs == {"e_lstm_h_n": ("e.lstm", 1)}
    assert set(sub.g) == {"x", "e.lstm"}
    assert extract(g, ["e.lstm:c_n"]).outputs == {"e_lstm_c_n": ("e.lstm", 2)}
    assert extract(g, ["e.lstm"]).outputs == {"e_lstm": ("e.lstm", 0)}
    with pytest.raises(GraphspecError) as info:
        extract(g, ["e.lstm.c_m"])
    d = info.value.diagnostics[0]
    assert d.code == "unknown-output" and d.hint == "did you mean 'c_n'?"
    with pytest.raises(GraphspecError) as info:
        extract(g, ["nothing"])
    assert info.value.diagnostics[0].code == "unknown-output"
    assert int(info.value.exit_code) == 2


# -- lint ------------------------------------------------------------------------------


def test_unused_node_and_input_warnings():
    s = spec(
        """
        graphspec: 1
        inputs: {x: {shape: [4]}, unused: {shape: [4]}}
        nodes:
          a: {op: ReLU, in: x}
          dead: {op: Tanh, in: a}
          deader: {op: Tanh, in: dead}
        outputs: a
        """
    )
    got = [(w.code, w.node, w.severity, w.location.line) for w in s.warnings]
    assert got == [
        ("unused-input", "unused", "warning", 3),
        ("unused-node", "dead", "warning", 6),
        ("unused-node", "deader", "warning", 7),
    ]
    assert all(int(w.exit_code) == 0 for w in s.warnings)


def test_no_warnings_when_everything_is_used():
    assert spec(VAE).warnings == []


# -- shapes ----------------------------------------------------------------------------


def test_shape_error_names_the_shapes_and_stops_downstream_reports():
    with pytest.raises(GraphspecError) as info:
        spec(
            """
            graphspec: 1
            inputs: {x: {shape: [batch, 8]}, y: {shape: [batch, 6]}}
            nodes:
              add: {op: Add, in: [x, y]}
              after: {op: Linear, in: add, out_features: 3}
              after2: {op: Add, in: [after, x]}
            outputs: after2
            """
        )
    [d] = info.value.diagnostics
    assert d.code == "shape" and d.node == "add"
    assert "[batch, 8]" in d.message and "[batch, 6]" in d.message


def test_independent_shape_errors_are_all_reported():
    with pytest.raises(GraphspecError) as info:
        spec(
            """
            graphspec: 1
            inputs: {x: {shape: [batch, 8]}, img: {shape: [batch, 1, 3, 3]}}
            nodes:
              a: {op: Add, in: [x, img]}
              conv: {op: Conv2d, in: img, out_channels: 2, kernel_size: 5}
              emb: {op: Embedding, in: x, num_embeddings: 4, embedding_dim: 2}
            outputs: [a, conv, emb]
            """
        )
    assert [(d.code, d.node) for d in info.value.diagnostics] == [("shape", "a"), ("shape-nonpositive", "conv"), ("dtype", "emb")]


def test_symbolic_dims_flow_through():
    s = spec(
        """
        graphspec: 1
        dims: {batch: 2, seq: 10}
        inputs: {x: {shape: [batch, seq, 8]}}
        nodes:
          conv_in: {op: Transpose, in: x, dim0: 1, dim1: 2}
          conv: {op: Conv1d, in: conv_in, out_channels: 4, kernel_size: 3, stride: 2}
          flat: {op: Flatten, in: conv}
        outputs: flat
        """
    )
    g = s.graph()
    conv = g.node("conv")["meta"]["types"][0].shape
    assert conv[:2] == ("batch", 4) and isinstance(conv[2], str) and "seq" in conv[2]
    # MACs at the example dims: batch 2, length (10 - 3) // 2 + 1 = 4
    assert g.node("conv")["meta"]["macs"] == 2 * 4 * 4 * 8 * 3


# -- cost ------------------------------------------------------------------------------


def test_cost_at_other_sizes_and_huge_sizes():
    s = spec(
        """
        graphspec: 1
        inputs: {x: {shape: [batch, seq, 8]}}
        nodes: {fc: {op: Linear, in: x, out_features: 4}}
        outputs: fc
        """
    )
    g = s.graph()
    assert g.total_macs == 32  # batch = seq = 1
    out = Collector()
    cost.run(s, g, out, {"batch": 3, "seq": 5})
    assert out.diagnostics == [] and g.total_macs == 3 * 5 * 32
    assert g.total_params == 36


def test_cost_with_absurd_example_sizes_is_reported_not_a_crash():
    s = spec(
        """
        graphspec: 1
        inputs: {x: {shape: [batch, seq, 8]}}
        nodes: {flat: {op: Flatten, in: x}}
        outputs: flat
        """
    )
    g = s.graph()
    assert g.output_type("flat").shape == ("batch", "seq*8")
    out = Collector()
    cost.run(s, g, out, {"seq": 2**61})  # seq*8 is beyond the evaluator's integer range
    assert [d.code for d in out.diagnostics] == ["too-large"]
    assert "macs" not in g.node("flat")["meta"]


def test_manager_names_the_failing_pass():
    s = spec(VAE)

    def broken(spec, graph, out):
        raise KeyError("boom")

    with pytest.raises(RuntimeError, match=r"pass 'broken' failed on graph 'main' after shapes"):
        manager.run_passes(s, [("shapes", manager.shapes.run), ("broken", broken)], Collector())
