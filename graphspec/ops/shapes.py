"""Output-size arithmetic for convolutions and pooling (pure, doctested).

These follow PyTorch's documented formulas exactly, so the static analysis
and the compiled module agree. They are the only copy: the conv and pool ops
call them for concrete and symbolic sizes alike.
"""

from __future__ import annotations

import math

from graphspec.ops.types import Dim, ShapeError, dim_add, dim_floordiv, dim_mul


def conv_out(size: Dim, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> Dim:
    """Output length of a convolution along one axis.

    >>> conv_out(28, 5, padding=2)
    28
    >>> conv_out(224, 11, stride=4, padding=2)
    55
    >>> conv_out(7, 3, dilation=2)
    3
    >>> conv_out("h", 3, padding=1), conv_out("h", 3, 2, 1), conv_out("h", 2, 2), conv_out("h", 3)
    ('h', '(h+1)//2', 'h//2', 'h-2')

    A symbolic size is folded into one division: (size + c) // s + 1 is written
    (size + c + s) // s, so a stride-2 3x3 conv with padding 1 gives '(h+1)//2'
    rather than '((h-1)//2)+1'.
    """
    effective = dilation * (kernel - 1) + 1
    if isinstance(size, int):
        return (size + 2 * padding - effective) // stride + 1
    return dim_floordiv(dim_add(size, 2 * padding - effective + stride), stride)


def pool_out(size: Dim, kernel: int, stride: int, padding: int = 0, dilation: int = 1, ceil_mode: bool = False) -> Dim:
    """Output length of max/avg pooling, including PyTorch's ceil_mode rule.

    >>> pool_out(28, 2, 2)
    14
    >>> pool_out(55, 3, 2)
    27
    >>> pool_out(5, 2, 2, ceil_mode=True)
    3
    >>> pool_out("h", 2, 2, ceil_mode=True), pool_out("h", 2, 2)
    ('(h+1)//2', 'h//2')
    >>> pool_out("h", 1, 2, ceil_mode=True)
    'min((h+2)//2, (h+1)//2)'
    """
    effective = dilation * (kernel - 1) + 1
    if not isinstance(size, int):
        if not ceil_mode or stride == 1:  # ceil_mode changes nothing at stride 1
            return conv_out(size, kernel, stride, padding, dilation)
        # torch: round up, but drop a last window starting in the right padding;
        # equal to min(ceil formula, (size + padding - 1) // stride + 1) when
        # padding <= kernel // 2, which the pooling ops enforce.
        rounded_up = dim_floordiv(dim_add(size, 2 * padding - effective + 2 * stride - 1), stride)
        last_start = dim_floordiv(dim_add(size, padding - 1 + stride), stride)
        return rounded_up if rounded_up == last_start else f"min({rounded_up}, {last_start})"
    span = size + 2 * padding - effective
    if ceil_mode:
        out = math.ceil(span / stride) + 1
        # PyTorch: the last window must start inside the input or left padding
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def conv_transpose_out(size: Dim, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1) -> Dim:
    """Output length of a transposed convolution.

    >>> conv_transpose_out(1, 4, 1, 0)
    4
    >>> conv_transpose_out(4, 4, 2, 1)
    8
    >>> conv_transpose_out("h", 4, 2, 1), conv_transpose_out("h", 3, 1, 1)
    ('h*2', 'h')
    """
    if isinstance(size, int):
        return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    # written size*stride + c rather than (size-1)*stride + c'
    return dim_add(dim_mul(size, stride), dilation * (kernel - 1) + output_padding + 1 - 2 * padding - stride)


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Symmetric padding for ``padding='same'`` at stride 1 (odd effective kernels).

    >>> same_padding(3), same_padding(5, dilation=2)
    (1, 4)
    """
    return dilation * (kernel - 1) // 2


def check_positive(sizes, what: str, received: str) -> None:
    for s in sizes:
        if isinstance(s, int) and s <= 0:
            raise ShapeError(
                f"{what}: output size would be zero or negative. Received: {received}",
                code="shape-nonpositive",
                hint="use a larger input, a smaller kernel/stride, or more padding",
            )
