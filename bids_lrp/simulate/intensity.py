"""Intensity effects: contrast, partial-volume grey-matter loss, head, bias field, Rician noise."""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

__all__ = ["HEAD_PROFILE", "add_rician_noise", "bias_field", "contrast", "head_intensity"]

#: Synthetic head around the brain: (distance from the brain in mm, intensity relative to WM).
#: Thin CSF, dark skull, bright scalp fat, then air.
HEAD_PROFILE: tuple[tuple[float, float], ...] = (
    (0.0, 0.25),
    (2.5, 0.12),
    (3.5, 0.05),
    (7.0, 0.05),
    (8.5, 0.8),
    (12.0, 0.7),
    (13.0, 0.0),
)


def contrast(intensity: np.ndarray, gamma: float) -> np.ndarray:
    """Monotonic contrast change ``I ** gamma`` (WM stays at 1)."""
    return np.power(intensity, np.float32(gamma), dtype=np.float32)


def head_intensity(distance: np.ndarray) -> np.ndarray:
    """Intensity of the synthetic head at a distance (mm) from the brain (0 inside the brain)."""
    d, v = (np.array(x, np.float32) for x in zip(*HEAD_PROFILE, strict=True))
    out = np.interp(distance, d, v, right=0.0).astype(np.float32)
    out[distance <= 0] = 0.0
    return out


def bias_field(
    rng: np.random.Generator, shape: tuple[int, int, int], *, strength: float
) -> np.ndarray:
    """Smooth multiplicative intensity non-uniformity, ``exp`` of a degree-3 Legendre series.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the coefficients.
    shape : tuple of int
        Image shape.
    strength : float
        Standard deviation of the log-field (e.g. 0.1 for about +-20 % across the image).

    Returns
    -------
    numpy.ndarray
        float32 field of ``shape``, geometric mean about 1.
    """
    degree = 3
    coefs = rng.standard_normal((degree + 1,) * 3)
    total = np.add.outer(np.add.outer(np.arange(degree + 1), np.arange(degree + 1)), np.arange(4))
    coefs[(total > degree) | (total == 0)] = 0.0
    coefs /= 1.0 + total
    axes = [legendre.legvander(np.linspace(-1, 1, n), degree).astype(np.float32) for n in shape]
    xy = np.einsum("ia,jb,abc->ijc", axes[0], axes[1], coefs.astype(np.float32))
    log = xy @ axes[2].T
    log *= np.float32(strength / max(float(log.std()), 1e-6))
    return np.exp(log, dtype=np.float32)


def add_rician_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of standard deviation ``sigma``."""
    real = image + np.float32(sigma) * rng.standard_normal(image.shape, dtype=np.float32)
    imag = np.float32(sigma) * rng.standard_normal(image.shape, dtype=np.float32)
    return np.hypot(real, imag, dtype=np.float32)
