"""Recurrent layers: RNN, LSTM, GRU (torch.nn's, with batch_first on by default).

Each takes the sequence ``x`` and optional initial states, and returns the
whole output sequence and the final states as separate ports, e.g.
``enc.output``, ``enc.h_n``, ``enc.c_n``. Parameter counts equal torch.nn's.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Optional

from pydantic import Field, model_validator

from graphspec.ops.registry import Op, TorchCall, register
from graphspec.ops.types import Dim, ShapeError, TensorType, expect_float, expect_rank, fixed, same_dim


class _Recurrent(Op):
    category = "recurrent"
    stateful_training = True  # dropout between layers acts in training only
    outputs = ("output", "h_n")
    gates: ClassVar[int] = 1  # weight blocks per layer: 1 (RNN), 4 (LSTM), 3 (GRU)

    hidden_size: int = Field(gt=0, le=100_000, description="features in the hidden state h")
    num_layers: int = Field(1, ge=1, le=64, description="number of stacked recurrent layers")
    bias: bool = Field(True, description="learn the input-hidden and hidden-hidden biases")
    batch_first: bool = Field(
        True,
        description="x and output are [batch, seq, feature] (True, the default here, unlike torch.nn) "
        "or [seq, batch, feature]; the states are [layers*directions, batch, hidden] either way",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the outputs of each layer but the last (training only)")
    bidirectional: bool = Field(False, description="also run the sequence backwards; output features double")

    @model_validator(mode="after")
    def _dropout_needs_layers(self):
        if self.dropout > 0 and self.num_layers == 1:
            raise ValueError(
                f"dropout acts between stacked layers, so it needs num_layers > 1. "
                f"Received: dropout={self.dropout}, num_layers=1"
            )
        return self

    # sizes ---------------------------------------------------------------
    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _out_size(self) -> int:
        """Features of h (and per direction of output)."""
        return self.hidden_size

    def _state_sizes(self) -> tuple[int, ...]:
        """Last dim of each state port, in port order."""
        return (self._out_size(),)

    def _layer_input_sizes(self, x: TensorType) -> list[int]:
        first = fixed(x.shape[-1], "the last input dim (input_size)")
        return [first] + [self.directions * self._out_size()] * (self.num_layers - 1)

    def _per_direction_params(self, n_in: int) -> int:
        h, g = self.hidden_size, self.gates
        return g * h * (n_in + self._out_size()) + (2 * g * h if self.bias else 0)

    def _per_step_macs(self, n_in: int) -> int:
        # the gate matmuls; element-wise gating is not counted
        return self.gates * self.hidden_size * (n_in + self._out_size())

    # rules ---------------------------------------------------------------
    def _batch_and_seq(self, x: TensorType) -> tuple[Optional[Dim], Dim]:
        """(batch, seq) of x; batch is None for an unbatched [seq, feature] input."""
        if x.rank == 2:
            return None, x.shape[0]
        return (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])

    def _states(self, states: tuple[Optional[TensorType], ...]) -> tuple[Optional[TensorType], ...]:
        ports = self.inputs[1:]
        if len(states) > len(ports):
            raise ShapeError(f"{self.op_name} takes at most {len(self.inputs)} inputs. Received: {1 + len(states)}", code="arity")
        return tuple(states) + (None,) * (len(ports) - len(states))

    def infer(self, x: TensorType, *states: Optional[TensorType]) -> tuple[TensorType, ...]:
        expect_rank(x, (2, 3), f"{self.op_name} input x ([batch, seq, feature] or unbatched [seq, feature])")
        expect_float(x, f"{self.op_name} input x")
        given = self._states(states)
        batch, seq = self._batch_and_seq(x)
        lead = (self.num_layers * self.directions,) + (() if batch is None else (batch,))
        state_types = tuple(TensorType(lead + (size,), x.dtype) for size in self._state_sizes())
        for port, t, want in zip(self.inputs[1:], given, state_types):
            if t is None:
                continue
            if t.dtype != x.dtype:
                raise ShapeError(f"{self.op_name} {port.rstrip('?')} must have dtype {x.dtype} like x. Received: {t.dtype}", code="dtype")
            if t.rank != want.rank or not all(same_dim(a, b) for a, b in zip(t.shape, want.shape)):
                raise ShapeError(
                    f"{self.op_name} initial state {port.rstrip('?')} must have shape {want} "
                    f"([layers*directions, batch, hidden]). Received: shape {t}"
                )
        features = self.directions * self._out_size()
        if batch is None:
            out_shape: tuple[Dim, ...] = (seq, features)
        else:
            out_shape = (batch, seq, features) if self.batch_first else (seq, batch, features)
        return (TensorType(out_shape, x.dtype),) + state_types

    def count_params(self, x: TensorType, *states) -> int:
        return self.directions * sum(self._per_direction_params(n) for n in self._layer_input_sizes(x))

    def count_macs(self, x: TensorType, *states, outputs) -> int:
        batch, seq = self._batch_and_seq(x)
        steps = int(seq) * (1 if batch is None else int(batch)) * self.directions
        return steps * sum(self._per_step_macs(n) for n in self._layer_input_sizes(x))

    def _torch_call(self, x: TensorType, **extra) -> TorchCall:
        kwargs = dict(
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
            **extra,
        )
        return TorchCall(f"graphspec.backends.torch_modules.{self.op_name}", (x.shape[-1], self.hidden_size), kwargs)


@register
class RNN(_Recurrent):
    """Elman RNN, h_t = act(W_ih x_t + W_hh h_(t-1) + b) with act tanh or relu; outputs (output, h_n)."""

    torch_classes = ("graphspec.backends.torch_modules.RNN", "torch.nn.RNN")

    inputs = ("x", "h0?")
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="activation of the hidden state")

    def torch_call(self, x: TensorType, *states) -> TorchCall:
        return self._torch_call(x, nonlinearity=self.nonlinearity)


@register
class GRU(_Recurrent):
    """Gated recurrent unit; outputs (output, h_n)."""

    torch_classes = ("graphspec.backends.torch_modules.GRU", "torch.nn.GRU")

    inputs = ("x", "h0?")
    gates = 3

    def torch_call(self, x: TensorType, *states) -> TorchCall:
        return self._torch_call(x)


@register
class LSTM(_Recurrent):
    """Long short-term memory; takes optional h0 and c0 (both or neither); outputs (output, h_n, c_n)."""

    torch_classes = ("graphspec.backends.torch_modules.LSTM", "torch.nn.LSTM")

    inputs = ("x", "h0?", "c0?")
    outputs = ("output", "h_n", "c_n")
    gates = 4
    proj_size: int = Field(0, ge=0, description="if > 0, project h to this size (LSTMP); must be below hidden_size")

    @model_validator(mode="after")
    def _proj_below_hidden(self):
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size. Received: proj_size={self.proj_size}, hidden_size={self.hidden_size}"
            )
        return self

    def _out_size(self) -> int:
        return self.proj_size or self.hidden_size

    def _state_sizes(self) -> tuple[int, ...]:
        return (self._out_size(), self.hidden_size)  # h_n is projected, c_n is not

    def _per_direction_params(self, n_in: int) -> int:
        return super()._per_direction_params(n_in) + self.proj_size * self.hidden_size

    def _per_step_macs(self, n_in: int) -> int:
        return super()._per_step_macs(n_in) + self.proj_size * self.hidden_size

    def infer(self, x: TensorType, *states: Optional[TensorType]) -> tuple[TensorType, ...]:
        if sum(s is not None for s in self._states(states)) == 1:
            raise ShapeError("LSTM takes both initial states h0 and c0, or neither. Received: only one of them", code="arity")
        return super().infer(x, *states)

    def torch_call(self, x: TensorType, *states) -> TorchCall:
        return self._torch_call(x, proj_size=self.proj_size)
