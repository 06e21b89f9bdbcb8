"""Relevance rules for linear layers (convolutions and dense layers).

All rules are configurations of one mechanism: a custom autograd function whose forward pass
computes the layer (and saves the denominators the rule needs) and whose backward pass maps
the relevance of the outputs to the relevance of the inputs. The whole explanation is then one
forward and one backward pass through the network ("relevance as gradient").

Notation: ``z_ij = x_i w_ij``; ``+``/``-`` parts of inputs and weights are ``clamp(min=0)`` and
``clamp(max=0)``; ``op`` is the layer (``LinearOp``) and ``op^T`` its transpose.

References
----------
Bach et al. (2015), PLoS ONE 10:e0130140 (epsilon and alpha-beta rules).
Montavon et al. (2017), Pattern Recognition 65:211-222 (z+ and z^B rules).
Böhle et al. (2019), Front. Aging Neurosci. 11:194 (the beta rule as the authors computed it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from bids_lrp.lrp.ops import LinearOp


def stabilize(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)`` with ``sign(0) = +1``, so the result is never zero.

    Built in a single new buffer (no full-size temporaries), ``z`` is left unchanged.
    """
    result = torch.full_like(z, epsilon)
    return torch.copysign(result, z, out=result).add_(z)


def _channel_view(bias: Tensor, like: Tensor) -> Tensor:
    """Broadcast a per-channel vector over (N, C, *spatial)."""
    return bias.view(1, -1, *([1] * (like.dim() - 2)))


def _channel_dim(op: LinearOp) -> int:
    return 1 if op.spatial_dims else -1


class Rule(ABC):
    """Base class of relevance rules for a linear layer ``op``.

    ``forward(op, x, weight, bias)`` returns the layer output, the tensors the backward pass
    needs and a small non-tensor ``info``; ``backward(op, relevance, x, weight, saved, info)``
    returns the relevance of the inputs. The backward pass may reuse ``saved`` buffers in place.
    """

    @abstractmethod
    def forward(self, op: LinearOp, x: Tensor, weight: Tensor, bias: Tensor | None):
        """Return ``(output, saved tensors, info)``."""

    @abstractmethod
    def backward(self, op, relevance: Tensor, x: Tensor, weight: Tensor, saved, info) -> Tensor:
        """Return the relevance of the inputs."""


@dataclass(frozen=True)
class Gradient(Rule):
    """The plain gradient of a linear layer (``W^T g``), through the engine's fast transpose."""

    def forward(self, op, x, weight, bias):
        return op.forward(x, weight, bias), (), None

    def backward(self, op, relevance, x, weight, saved, info):
        return op.transpose(relevance, weight, x)


@dataclass(frozen=True)
class Epsilon(Rule):
    """Epsilon rule: ``R_i = sum_j z_ij / (z_j + eps sign z_j) R_j`` with ``z_j`` incl. bias."""

    epsilon: float = 1e-6

    def forward(self, op, x, weight, bias):
        out = op.forward(x, weight, bias)
        return out, (out,), None

    def backward(self, op, relevance, x, weight, saved, info):
        (out,) = saved
        denominator = stabilize(out, self.epsilon)  # out may be the caller's: not in place
        s = torch.div(relevance, denominator, out=denominator)
        return x * op.transpose(s, weight, x)


class SignedRule(Rule):
    """Rules that split contributions into a positive and a negative part.

    ``z+_j = sum_i x+_i w+_ij + x-_i w-_ij`` and ``z-_j = sum_i x+_i w-_ij + x-_i w+_ij``.
    Subclasses turn the output relevance into ``s+ = f(R, z+)`` and ``s- = g(R, z-)`` (in
    place, in the buffer holding ``z+`` and ``z-``); then
    ``R_i = x+_i (W+ s+ + W- s-)_i + x-_i (W- s+ + W+ s-)_i``. When the input has no negative
    values (after ReLU and pooling) the ``x-`` terms vanish, and the rule costs one extra
    forward convolution and a few in-place element-wise passes over a plain gradient.
    """

    uses_negative_part: bool = False

    @abstractmethod
    def scales_(self, relevance: Tensor, z: Tensor, bias: Tensor | None, dim: int) -> Tensor:
        """Turn ``z`` (``z+``, or ``z+`` and ``z-`` stacked along ``dim``) into ``s`` in place."""

    def forward(self, op, x, weight, bias):
        wp, wn = weight.clamp(min=0), weight.clamp(max=0)
        dim = _channel_dim(op)
        nonnegative = bool((x >= 0).all())
        if nonnegative and not self.uses_negative_part:
            z = op.forward(x, wp)
            out = op.forward(x, weight, bias)
        elif nonnegative:
            # one convolution with [W+; W-] writes z+ and z- into a single buffer
            z = op.forward(x, torch.cat([wp, wn])) if op.groups == 1 else None
            if z is None:
                z = torch.cat([op.forward(x, wp), op.forward(x, wn)], dim)
            zp, zn = z.chunk(2, dim)
            out = zp + zn if bias is None else zp + zn + _channel_view(bias, zp)
        else:
            xp, xn = x.clamp(min=0), x.clamp(max=0)
            z = op.forward(xp, wp) + op.forward(xn, wn)
            if self.uses_negative_part:
                z = torch.cat([z, op.forward(xp, wn) + op.forward(xn, wp)], dim)
            out = op.forward(x, weight, bias)
        return out, (z, bias), nonnegative

    def backward(self, op, relevance, x, weight, saved, nonnegative):
        z, bias = saved
        dim = _channel_dim(op)
        s = self.scales_(relevance, z, bias, dim)
        wp, wn = weight.clamp(min=0), weight.clamp(max=0)
        if not self.uses_negative_part:
            if nonnegative:
                return x * op.transpose(s, wp, x)
            return x.clamp(min=0) * op.transpose(s, wp, x) + x.clamp(max=0) * op.transpose(
                s, wn, x
            )
        sp, sn = s.chunk(2, dim)
        if nonnegative:
            if op.groups == 1:
                return x * op.transpose(s, torch.cat([wp, wn]), x)
            return x * (op.transpose(sp, wp, x) + op.transpose(sn, wn, x))
        cp = op.transpose(sp, wp, x) + op.transpose(sn, wn, x)
        cn = op.transpose(sp, wn, x) + op.transpose(sn, wp, x)
        return x.clamp(min=0) * cp + x.clamp(max=0) * cn


@dataclass(frozen=True)
class AlphaBeta(SignedRule):
    """Alpha-beta rule (Bach et al. 2015): ``R_i = sum_j (a z+_ij / z+_j - b z-_ij / z-_j) R_j``.

    With ``bias=True`` (as Bach et al. 2015 and zennit) the positive part of the bias joins
    ``z+_j`` and the negative part ``z-_j``, so the bias absorbs some relevance; with
    ``bias=False`` biases are ignored and relevance is conserved up to the stabilizer.
    ``AlphaBeta(1, 0, bias=False)`` is the z+ rule of Montavon et al. (2017). As ``z+ >= 0``
    and ``z- <= 0``, the stabilizer is ``+eps`` and ``-eps``; a denominator that is exactly
    zero has only zero contributions, so its value does not matter as long as it is finite.
    """

    alpha: float = 1.0
    beta: float = 0.0
    bias: bool = True
    stabilizer: float = 1e-6

    @property
    def uses_negative_part(self) -> bool:  # type: ignore[override]
        return self.beta != 0

    def scales_(self, relevance, z, bias, dim):
        parts = z.chunk(2, dim) if self.uses_negative_part else (z,)
        # (factor, sign of the denominator, part of the bias) for z+ and z-
        settings = ((self.alpha, 1.0, dict(min=0)), (-self.beta, -1.0, dict(max=0)))
        for part, (factor, sign, clamp) in zip(parts, settings, strict=False):
            if self.bias and bias is not None:
                part.add_(_channel_view(bias.clamp(**clamp), part))
            part.add_(sign * self.stabilizer)
            if factor != 1.0:
                part.div_(factor)
            torch.div(relevance, part, out=part)
        return z


@dataclass(frozen=True)
class Boehle2019Beta(SignedRule):
    """The beta rule exactly as Böhle et al. (2019) computed it (alpha = 1 + beta).

    Biases are ignored. A denominator that is zero (or subnormal) is replaced by 1 (its
    contributions are zero, or subnormal, too). "Rare" neurons, whose positive or negative
    denominator is zero, send all relevance through the non-zero part: their denominators are
    pre-multiplied by ``1 + beta`` and ``-beta`` so those factors cancel. Finally
    ``1e-6 * sign(d)`` is added to each denominator. This reproduces ``inverter_util.py``
    (b-rule) of the authors' code. For beta = 0 this is ``s = R / (z+ + 1e-6)``: where
    ``z+ = 0`` every contribution is zero, so replacing it by 1 first changes no result.
    """

    beta: float = 0.0
    stabilizer: float = 1e-6

    @property
    def uses_negative_part(self) -> bool:  # type: ignore[override]
        return self.beta != 0

    def scales_(self, relevance, z, bias, dim):
        alpha = 1.0 + self.beta
        if not self.uses_negative_part:
            z.add_(self.stabilizer)
            return torch.div(relevance, z, out=z)
        zp_all, zn_all = z.chunk(2, dim)
        tiny = torch.finfo(z.dtype).tiny  # the smallest normal number
        # one channel at a time keeps the masks and temporaries small on full volumes
        slices = range(zp_all.shape[1]) if dim == 1 else [slice(None)]
        for c in slices:
            index = (slice(None), c)
            zp, zn, r = zp_all[index], zn_all[index], relevance[index]
            # Subnormal sums count as zero: vectorized kernels may flush them to zero (sign()
            # of 1e-40 gave 0 here, the division then r / 1e-40 = inf and 0 * inf = NaN),
            # while == 0 does not; their contributions are subnormal too.
            zero_p, zero_n = zp <= tiny, zn >= -tiny
            rare = zero_p | zero_n
            one = z.new_tensor(1.0)
            zp.masked_fill_(zero_p, 1.0).mul_(torch.where(rare, z.new_tensor(alpha), one))
            zn.masked_fill_(zero_n, 1.0).mul_(torch.where(rare, z.new_tensor(-self.beta), one))
            zp.add_(torch.sign(zp), alpha=self.stabilizer)
            zn.add_(torch.sign(zn), alpha=self.stabilizer)
            torch.div(r, zp, out=zp).mul_(alpha)
            torch.div(r, zn, out=zn).mul_(-self.beta)
        return z


@dataclass(frozen=True)
class ZBox(Rule):
    """z^B (box) rule for inputs bounded by ``low <= x <= high`` (Montavon et al. 2017).

    ``R_i = sum_j (z_ij - l w+_ij - h w-_ij) / sum_i (z_ij - l w+_ij - h w-_ij) R_j``, biases
    ignored. ``low``/``high`` of ``None`` take each image's own minimum/maximum.
    """

    low: float | None = None
    high: float | None = None
    stabilizer: float = 1e-6

    def _bound(self, x: Tensor, value: float | None, reduce) -> Tensor:
        if value is None:
            return reduce(x.flatten(1), dim=1)
        return x.new_full((x.shape[0],), float(value))

    def forward(self, op, x, weight, bias):
        low = self._bound(x, self.low, torch.amin)
        high = self._bound(x, self.high, torch.amax)
        z = op.forward(x, weight)
        z = z - op.constant_response(weight.clamp(min=0), low, x)
        z = z - op.constant_response(weight.clamp(max=0), high, x)
        out = op.forward(x, weight, bias)
        return out, (z, low, high), None

    def backward(self, op, relevance, x, weight, saved, info):
        z, low, high = saved
        denominator = stabilize(z, self.stabilizer)
        s = torch.div(relevance, denominator, out=denominator)
        shape = (-1, *([1] * (x.dim() - 1)))
        result = x * op.transpose(s, weight, x)
        result = result - low.view(shape) * op.transpose(s, weight.clamp(min=0), x)
        return result - high.view(shape) * op.transpose(s, weight.clamp(max=0), x)


class _RuleFunction(torch.autograd.Function):
    """Forward: the layer; backward: the rule. Weights enter detached (no parameter grads)."""

    @staticmethod
    def forward(ctx, x, rule, op, weight, bias, post):
        out, saved, info = rule.forward(op, x, weight, bias)
        ctx.rule, ctx.op, ctx.info = rule, op, info
        ctx.save_for_backward(x, weight, *saved)
        inplace = not any(t is out for t in saved)  # never overwrite what backward needs
        for layer in post:
            out = layer(out, inplace)
            inplace = True
        return out

    @staticmethod
    def backward(ctx, relevance):
        x, weight, *saved = ctx.saved_tensors
        relevance_in = ctx.rule.backward(
            ctx.op, relevance.contiguous(), x, weight, tuple(saved), ctx.info
        )
        return relevance_in, None, None, None, None, None


def apply_rule(
    rule: Rule, op: LinearOp, x: Tensor, weight: Tensor, bias: Tensor | None, post=()
) -> Tensor:
    """Run a linear layer whose backward pass propagates relevance by ``rule``.

    ``post`` are element-wise layers that follow it and pass relevance through unchanged.
    """
    return _RuleFunction.apply(x, rule, op, weight, bias, tuple(post))


class _PassThrough(torch.autograd.Function):
    """Forward ``fn(x)``; backward hands the relevance on unchanged (one-to-one layers)."""

    @staticmethod
    def forward(ctx, x, fn):
        return fn(x)

    @staticmethod
    def backward(ctx, relevance):
        return relevance, None


def pass_through(fn, x: Tensor) -> Tensor:
    """Apply an element-wise layer ``fn`` whose relevance passes through unchanged."""
    return _PassThrough.apply(x, fn)


class _GuidedReLU(torch.autograd.Function):
    """ReLU whose backward keeps only positive gradients at active units (Springenberg 2015)."""

    @staticmethod
    def forward(ctx, x):
        inactive = x <= 0  # a bool mask is all the backward pass needs
        ctx.save_for_backward(inactive)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (inactive,) = ctx.saved_tensors
        return grad.clamp(min=0).masked_fill_(inactive, 0.0)


def guided_relu(x: Tensor) -> Tensor:
    return _GuidedReLU.apply(x)


class _ProportionalSum(torch.autograd.Function):
    """``a + b`` whose backward splits relevance by contribution: ``R_a = a / z * R`` (the LRP
    epsilon rule of a sum without weights, as zennit's residual canonizers apply it)."""

    @staticmethod
    def forward(ctx, a, b, stabilizer):
        z = a + b
        ctx.save_for_backward(a, b, z)
        ctx.stabilizer = stabilizer
        return z

    @staticmethod
    def backward(ctx, relevance):
        a, b, z = ctx.saved_tensors
        sign = torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
        share = relevance / (z + ctx.stabilizer * sign)
        return a * share, b * share, None


def proportional_sum(a: Tensor, b: Tensor, stabilizer: float = 1e-9) -> Tensor:
    """The sum of a residual block's two branches for relevance methods (`_ProportionalSum`)."""
    return _ProportionalSum.apply(a, b, stabilizer)


class _ProportionalPool(torch.autograd.Function):
    """Average pooling whose backward splits each output's relevance over its inputs by their
    contribution: ``R_i = x_i / sum_j x_j * R`` (the z-rule of a layer with equal weights)."""

    @staticmethod
    def forward(ctx, x, pool, stabilizer):
        ctx.save_for_backward(x)
        ctx.pool, ctx.stabilizer = pool, stabilizer
        return pool(x)

    @staticmethod
    def backward(ctx, relevance):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            z = ctx.pool(leaf)
            sign = torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
            (grad,) = torch.autograd.grad(
                z, leaf, relevance / (z.detach() + ctx.stabilizer * sign)
            )
        return x * grad, None, None


def proportional_pool(x: Tensor, pool, stabilizer: float = 1e-9) -> Tensor:
    """Average pooling for relevance methods (`_ProportionalPool`)."""
    return _ProportionalPool.apply(x, pool, stabilizer)
