"""Figure functions: colour scale, pooling, file formats, no pyplot state."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.reports.brain import _scale, _Volume, pool_to_resolution, slice_mosaic
from bids_lrp.reports.figures import (
    RELEVANCE_CMAP,
    RELEVANCE_POSITIVE_CMAP,
    bar_chart,
    relevance_scale,
    save_figure,
    violin_plot,
)
from tests.reports.conftest import AFFINE, RAW_AFFINE, SHAPE, brain, relevance_map, to_raw_grid


def test_relevance_scale():
    assert relevance_scale(np.zeros((4, 4, 4))) == (0.0, 0.0)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((20, 20, 20))
    vmax, threshold = relevance_scale(data)
    assert 0 < threshold < vmax < np.abs(data).max()
    hidden = np.mean(np.abs(data) < threshold)
    assert 0.79 < hidden < 0.81


def test_pooling_keeps_the_maximum_intensity_projection():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((16, 18, 14)).astype(np.float32)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = (-8, -9, -7)
    pooled = pool_to_resolution(nib.Nifti1Image(data, affine), 2.0)
    assert pooled.shape == (8, 9, 7)
    assert np.allclose(np.diag(pooled.affine)[:3], 2.0)
    # block centres: the first pooled voxel sits between the first two original voxels
    assert np.allclose(pooled.affine[:3, 3], np.array([-8, -9, -7]) + 0.5)
    signed_max = data.flat[np.abs(data).argmax()]
    assert np.asarray(pooled.dataobj).flat[np.abs(pooled.dataobj).argmax()] == signed_max


def test_signed_maps_get_the_diverging_scale():
    positive = _Volume(nib.Nifti1Image(relevance_map(0), AFFINE))
    signed = _Volume(nib.Nifti1Image(relevance_map(0, signed=True), AFFINE))
    assert _scale(positive, 1.0, 0.1)[:2] == (RELEVANCE_POSITIVE_CMAP, 0.0)
    assert _scale(signed, 1.0, 0.1)[:2] == (RELEVANCE_CMAP, -1.0)


def test_overlay_on_another_grid(tmp_path):
    background = nib.Nifti1Image(to_raw_grid(brain(SHAPE, AFFINE)), RAW_AFFINE)
    overlay = nib.Nifti1Image(relevance_map(0, signed=True), AFFINE)
    vmax, threshold = relevance_scale(overlay.dataobj)
    path = slice_mosaic(
        background, tmp_path / "x.png", overlay=overlay, vmax=vmax, threshold=threshold
    )
    assert path.read_bytes().startswith(b"\x89PNG")


def test_figures_leave_no_pyplot_state(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    bar_chart(
        ["a", "b"], {"AD": [1, 2], "HC": [2, 1]}, tmp_path / "bars.svg", title="t", xlabel="x"
    )
    violin_plot(
        {"area": {"AD": [1.0], "HC": [1.0, 2.0, 3.0]}}, tmp_path / "v.svg", title="t", ylabel="y"
    )
    assert plt.get_fignums() == before
    assert (tmp_path / "bars.svg").read_bytes().rstrip().endswith(b"</svg>")


def test_bad_figure_requests_fail_early(tmp_path):
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        save_figure(Figure(), tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="at least one bar"):
        bar_chart([], {}, tmp_path / "x.svg", title="t", xlabel="x")
    assert list(tmp_path.iterdir()) == []


def test_a_focus_spreads_the_slices_over_the_brain_not_the_head(tmp_path, monkeypatch):
    """A whole-head scan (neck, face) with relevance in its brain: every cut goes through it."""
    import re

    from matplotlib.figure import Figure

    shown: list[str] = []
    savefig = Figure.savefig

    def record(fig, *args, **kwargs):
        shown.extend(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -100.0
    head = np.full((100, 100, 100), 300, np.float32)  # bright from the neck to the crown
    rel = np.zeros(head.shape, np.float32)
    rel[40:60, 45:65, 60:80] = 1e-4  # the "brain": x, y in [-20, 30), z in [20, 60) mm
    relevance = nib.Nifti1Image(rel, affine)
    slice_mosaic(
        nib.Nifti1Image(head, affine),
        tmp_path / "m.png",
        overlay=relevance,
        vmax=1e-4,
        threshold=1e-5,
        focus=relevance,
    )
    cuts = {
        axis: [float(v) for v in re.findall(rf"{axis}=(-?\d+)", " ".join(shown))] for axis in "xyz"
    }
    bounds = {"x": (-20, 28), "y": (-10, 38), "z": (20, 58)}
    for axis, (low, high) in bounds.items():
        assert len(cuts[axis]) == 6, cuts
        assert all(low - 1 <= c <= high + 1 for c in cuts[axis]), (axis, cuts[axis])
