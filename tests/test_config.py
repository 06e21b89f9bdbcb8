"""Settings: TOML round trip, no surprises."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from bids_lrp.config import Settings, dumps_toml, load_settings


def _settings(**kw) -> Settings:
    base = dict(
        bids_dir=Path("/d/b"),
        output_dir=Path("/d/o"),
        analysis_level="participant",
        work_dir=Path("/d/w"),
        model=Path("/m.safetensors"),
    )
    return Settings(**{**base, **kw})


def test_toml_round_trip(tmp_path):
    settings = _settings(
        output_dir=tmp_path,
        participant_label=("01", "02"),
        bids_filters={"acquisition": ["mprage", None][:1], "run": 1},
        plugin_args={"n_procs": 2, "memory_gb": 3.5},
        mem_gb=3.5,
        run_uuid=Settings.new_run_uuid(),
        target_class='A"D\\',
    )
    path = settings.save()
    assert path.parent == tmp_path / "logs"
    assert load_settings(path) == settings


def test_none_left_out_and_unknown_refused():
    text = _settings().to_toml()
    assert "registration" not in text and "mem_gb" not in text
    with pytest.raises(ValueError, match="unknown settings"):
        Settings.from_dict({**_settings().to_dict(), "bogus": 1})


def test_dumps_toml_is_valid_toml():
    data = {"t": {"a": [1, 2.5, "x"], "b": {"k": True}, "c": "é\n"}}
    assert tomllib.loads(dumps_toml(data)) == data
    with pytest.raises(ValueError):
        dumps_toml({"t": {"a": float("nan")}})
