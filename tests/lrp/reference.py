"""Plain float64 matrix forms of the rules, written independently of the engine.

A linear layer is a dense matrix ``M`` (outputs x inputs); for a convolution ``M`` is built by
applying it to every basis image. Contributions are ``z_ij = M_ji x_i`` written out in full.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def layer_matrix(layer: nn.Module, in_shape: tuple[int, ...]) -> tuple[Tensor, Tensor, tuple]:
    """Matrix ``M`` (out x in), bias vector (per output) and output shape of a linear layer."""
    n_in = int(torch.tensor(in_shape).prod())
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            columns = F.linear(basis, layer.weight)
        else:
            conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(layer.kernel_size)]
            columns = conv(basis, layer.weight, None, layer.stride, layer.padding)
        out_shape = tuple(columns.shape[1:])
        matrix = columns.reshape(n_in, -1).T.contiguous()
        zeros = torch.zeros(1, *in_shape, dtype=torch.float64)
        bias = layer(zeros).reshape(-1) if layer.bias is not None else None
    return matrix, bias, out_shape


def contributions(matrix: Tensor, x: Tensor) -> Tensor:
    """``z[j, i] = M[j, i] * x[i]``."""
    return matrix * x.reshape(1, -1)


def epsilon(matrix, bias, x, relevance, eps):
    z = contributions(matrix, x)
    total = z.sum(1) + (0 if bias is None else bias)
    sign = torch.where(total >= 0, 1.0, -1.0).to(total.dtype)
    return (z / (total + eps * sign)[:, None] * relevance.reshape(-1, 1)).sum(0)


def alpha_beta(matrix, bias, x, relevance, alpha, beta, use_bias, eps):
    z = contributions(matrix, x)
    zp, zn = z.clamp(min=0), z.clamp(max=0)
    total_p, total_n = zp.sum(1), zn.sum(1)
    if use_bias and bias is not None:
        total_p = total_p + bias.clamp(min=0)
        total_n = total_n + bias.clamp(max=0)
    r = relevance.reshape(-1, 1)
    out = alpha * zp / (total_p + eps)[:, None] * r
    if beta:
        out = out - beta * zn / (total_n - eps)[:, None] * r
    return out.sum(0)


def boehle2019(matrix, x, relevance, beta, eps=1e-6):
    """The authors' b-rule, step by step as in their inverter_util.py (matrix form)."""
    z = contributions(matrix, x)
    norm_p, norm_n = z.clamp(min=0).sum(1), z.clamp(max=0).sum(1)
    mask_p, mask_n = norm_p == 0, norm_n == 0
    norm_p = torch.where(mask_p, 1.0, norm_p)
    norm_n = torch.where(mask_n, 1.0, norm_n)
    rare = mask_p | mask_n
    norm_p = torch.where(rare, norm_p * (1 + beta), norm_p)
    if beta != 0:
        norm_n = torch.where(rare, norm_n * -beta, norm_n)
    norm_p = norm_p + eps * torch.sign(norm_p)
    norm_n = norm_n + eps * torch.sign(norm_n)
    r = relevance.reshape(-1, 1)
    out = (1 + beta) * z.clamp(min=0) / norm_p[:, None] * r
    out = out + (-beta) * z.clamp(max=0) / norm_n[:, None] * r
    return out.sum(0)


def zbox(matrix, x, relevance, low, high, eps=1e-6):
    z = contributions(matrix, x)
    z = z - matrix.clamp(min=0) * low - matrix.clamp(max=0) * high
    total = z.sum(1)
    sign = torch.where(total >= 0, 1.0, -1.0).to(total.dtype)
    return (z / (total + eps * sign)[:, None] * relevance.reshape(-1, 1)).sum(0)


def winner_take_all(x: Tensor, relevance: Tensor, kernel: int) -> Tensor:
    """Max-pool relevance to the first maximal input of each (non-overlapping) window."""
    out = torch.zeros_like(x)
    n, c, *size = x.shape
    pooled = [s // kernel for s in size]
    for b in range(n):
        for ch in range(c):
            for i in range(pooled[0]):
                for j in range(pooled[1]):
                    for k in range(pooled[2]):
                        sl = (
                            slice(i * kernel, (i + 1) * kernel),
                            slice(j * kernel, (j + 1) * kernel),
                            slice(k * kernel, (k + 1) * kernel),
                        )
                        window = x[b, ch][sl]
                        flat = int(torch.argmax(window.reshape(-1)))
                        index = torch.unravel_index(torch.tensor(flat), window.shape)
                        target = tuple(s.start + int(t) for s, t in zip(sl, index, strict=True))
                        out[(b, ch, *target)] += relevance[b, ch, i, j, k]
    return out
