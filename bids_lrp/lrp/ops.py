"""Functional forms of the layers the engine interprets.

Each op computes its layer from explicit (detached) weights, so the engine never calls the
model's modules, registers no hooks and leaves parameter gradients untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CONV_FORWARD = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
# oneDNN needs working buffers about twice the size of a convolution's output on CPU; large
# stride-1 3D convolutions therefore run in slabs of about this many output elements.
SLAB_ELEMENTS = 1 << 22
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


@dataclass(frozen=True)
class LinearOp:
    """A convolution or dense layer as a pair of linear maps: ``forward`` and its transpose.

    ``transpose(s, w, x)`` is the input gradient of ``forward(x, w)`` for an output gradient
    ``s``, computed by the same kernel that autograd uses, so rules cost what a gradient costs.
    """

    spatial_dims: int  # 0 for a dense layer
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    groups: int = 1

    @classmethod
    def from_module(cls, module: nn.Module) -> LinearOp:
        if isinstance(module, nn.Linear):
            return cls(spatial_dims=0)
        if getattr(module, "padding_mode", "zeros") != "zeros" or isinstance(module.padding, str):
            raise ValueError(
                f"{type(module).__name__} with padding={module.padding!r} and padding_mode="
                f"{module.padding_mode!r} is not supported; use explicit zero padding"
            )
        return cls(
            spatial_dims=len(module.kernel_size),
            stride=tuple(module.stride),
            padding=tuple(module.padding),
            dilation=tuple(module.dilation),
            groups=module.groups,
        )

    def forward(self, x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        if self.spatial_dims == 0:
            return F.linear(x, weight, bias)
        if self._slabs_allowed(x) and not (torch.is_grad_enabled() and x.requires_grad):
            return conv3d_in_slabs(x, weight, bias, self.padding)
        conv = _CONV_FORWARD[self.spatial_dims]
        return conv(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def _slabs_allowed(self, x: Tensor) -> bool:
        return (
            self.spatial_dims == 3
            and x.device.type == "cpu"
            and self.groups == 1
            and all(v == 1 for v in (*self.stride, *self.dilation))
        )

    def transpose(self, s: Tensor, weight: Tensor, x: Tensor) -> Tensor:
        """Return ``W^T s`` shaped like ``x`` (the input gradient for output gradient ``s``)."""
        if self.spatial_dims == 0:
            return s @ weight
        if self._as_flipped_correlation(weight, s):
            # W^T s of a stride-1 convolution is a correlation of s with the flipped kernel.
            # For single-channel inputs (the first layer of every T1w network) oneDNN's
            # forward kernel does this about 2x faster on CPU than its backward-data kernel.
            kernel = weight.shape[2:]
            flipped = weight.flip(tuple(range(2, weight.dim()))).transpose(0, 1).contiguous()
            padding = tuple(k - 1 - p for k, p in zip(kernel, self.padding, strict=True))
            if self._slabs_allowed(s):
                return conv3d_in_slabs(s, flipped, None, padding)
            return _CONV_FORWARD[self.spatial_dims](s, flipped, None, 1, padding)
        grad_input, _, _ = torch.ops.aten.convolution_backward(
            s,
            x,
            weight,
            None,
            self.stride,
            self.padding,
            self.dilation,
            False,
            [0] * self.spatial_dims,
            self.groups,
            [True, False, False],
        )
        return grad_input

    def _as_flipped_correlation(self, weight: Tensor, s: Tensor) -> bool:
        return (
            s.device.type == "cpu"
            and weight.shape[1] == 1
            and self.groups == 1
            and all(v == 1 for v in (*self.stride, *self.dilation))
            and all(k - 1 >= p for k, p in zip(weight.shape[2:], self.padding, strict=True))
        )

    def constant_response(self, weight: Tensor, value: Tensor, x: Tensor) -> Tensor:
        """``forward(value * ones_like(x), weight)`` for a per-sample scalar ``value`` (N,)."""
        filled = value.view(-1, *([1] * (x.dim() - 1))).expand_as(x)
        return self.forward(filled, weight)


def conv3d_in_slabs(
    x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, ...]
) -> Tensor:
    """A stride-1 ``conv3d`` computed in slabs along the first spatial axis.

    Same result as ``F.conv3d(x, weight, bias, 1, padding)`` (each output slab is one call on
    the input rows it needs, zero-padded at the volume's edges), with working memory bounded by
    the slab size instead of the whole output.
    """
    kernel = weight.shape[2:]
    pd, ph, pw = padding
    n, _, depth, height, width = x.shape
    out_shape = [depth + 2 * pd - kernel[0] + 1]
    out_shape += [height + 2 * ph - kernel[1] + 1, width + 2 * pw - kernel[2] + 1]
    # bound both the output and the input rows of a slab (oneDNN reorders both)
    per_row = max(weight.shape[0], weight.shape[1]) * out_shape[1] * out_shape[2] * n
    rows = max(1, SLAB_ELEMENTS // max(per_row, 1))
    if rows >= out_shape[0]:
        return F.conv3d(x, weight, bias, 1, padding)
    out = x.new_empty((n, weight.shape[0], *out_shape))
    for start in range(0, out_shape[0], rows):
        stop = min(out_shape[0], start + rows)
        low, high = start - pd, stop + kernel[0] - 1 - pd  # input rows, unpadded coordinates
        piece = x[:, :, max(low, 0) : min(high, depth)]
        if low < 0 or high > depth:
            piece = F.pad(piece, (0, 0, 0, 0, max(0, -low), max(0, high - depth)))
        out[:, :, start:stop] = F.conv3d(piece, weight, bias, 1, (0, ph, pw))
    return out


class _MaxPoolWinner(torch.autograd.Function):
    """Max pooling whose backward routes everything to the winning input (winner-take-all).

    This is both the gradient of max pooling and the paper's relevance rule for it. Only the
    indices are kept for the backward pass (not the input), which saves memory on full volumes.
    """

    @staticmethod
    def forward(ctx, x: Tensor, pool: nn.Module, spatial_dims: int) -> Tensor:
        out, indices = _MAX_POOL[spatial_dims](
            x,
            pool.kernel_size,
            pool.stride,
            pool.padding,
            pool.dilation,
            ceil_mode=pool.ceil_mode,
            return_indices=True,
        )
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        (indices,) = ctx.saved_tensors
        n, c = ctx.input_shape[:2]
        grad_in = grad.new_zeros((n, c, ctx.input_shape[2:].numel()))
        grad_in.scatter_add_(2, indices.flatten(2), grad.flatten(2))
        return grad_in.view(ctx.input_shape), None, None


def max_pool(x: Tensor, pool: nn.Module) -> Tensor:
    """Apply ``pool`` (an ``nn.MaxPoolNd``) with winner-take-all backward."""
    return _MaxPoolWinner.apply(x, pool, x.dim() - 2)


def batch_norm(x: Tensor, module: nn.Module) -> Tensor:
    """BatchNorm with running statistics (inference semantics), from detached parameters."""
    weight = None if module.weight is None else module.weight.detach()
    bias = None if module.bias is None else module.bias.detach()
    return F.batch_norm(
        x, module.running_mean, module.running_var, weight, bias, False, 0.0, module.eps
    )


def batch_norm_scale_shift(module: nn.Module) -> tuple[Tensor, Tensor]:
    """Per-channel ``scale, shift`` with ``BN(z) = scale * z + shift`` at inference."""
    scale = torch.rsqrt(module.running_var + module.eps)
    if module.weight is not None:
        scale = scale * module.weight.detach()
    shift = -module.running_mean * scale
    if module.bias is not None:
        shift = shift + module.bias.detach()
    return scale, shift


def relu(t: Tensor, inplace: bool) -> Tensor:
    """ReLU as a pass-through post-op (see ``Step.post``)."""
    return t.clamp_(min=0) if inplace else t.clamp(min=0)


def batch_norm_affine(module: nn.Module):
    """Inference BatchNorm as a per-channel affine post-op ``t * scale + shift``."""
    scale, shift = batch_norm_scale_shift(module)

    def apply(t: Tensor, inplace: bool) -> Tensor:
        shape = (1, -1, *([1] * (t.dim() - 2)))
        s, b = scale.to(t.dtype).view(shape), shift.to(t.dtype).view(shape)
        return t.mul_(s).add_(b) if inplace else torch.addcmul(b, t, s)

    return apply
