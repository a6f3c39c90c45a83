"""REF resolution for A/B runs (the building itself is covered by the ab integration test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from gigq.bench.gate.ab import ABRun
from gigq.bench.gate.versions import (
    GIT,
    INTERPRETER,
    PATH,
    PYPI,
    SELF,
    Version,
    VersionBuilder,
    VersionError,
    classify,
    git_root,
)
from gigq.bench.results import Results

REPO = git_root(Path(__file__).parent)


@pytest.mark.parametrize(("ref", "kind"), [
    ("gigq==0.5.1", PYPI), ("gigq>=0.5", PYPI), ("gigq[bench]==1.0", PYPI), (".", SELF),
    ("current", SELF),
])
def test_classify_simple(ref: str, kind: str) -> None:
    assert classify(ref, REPO) == kind


def test_classify_paths(tmp_path: Path) -> None:
    assert classify(sys.executable, None) == INTERPRETER
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    assert classify(str(tmp_path), None) == PATH
    with pytest.raises(VersionError, match="not a Python project"):
        classify(str(tmp_path.parent), None)


@pytest.mark.skipif(REPO is None, reason="not running from a git checkout")
def test_classify_git_revisions() -> None:
    assert classify("HEAD", REPO) == GIT
    with pytest.raises(VersionError, match="no commit"):
        classify("no-such-branch-xyz", REPO)


def test_unknown_ref_outside_git_says_why() -> None:
    with pytest.raises(VersionError, match="not inside a git checkout"):
        classify("HEAD~1", None)


def test_builder_uses_this_interpreter_for_self_and_cleans_up() -> None:
    with VersionBuilder(repo=REPO) as builder:
        version = builder.build(".", "current")
        root = builder.root
        assert root is not None and root.exists()
    assert version.python == sys.executable
    assert version.info["burst"] and version.info["settings"]
    assert version.missing == []
    assert not root.exists()


def _version(label: str, **kw) -> Version:
    info = {"gigq_version": "1.0", "settings": True, "burst": True, "lock_stats": True,
            "submit_many": True}
    info.update(kw.pop("info", {}))
    base = {"ref": "x", "kind": GIT, "python": f"/venv-{label}/bin/python",
            "description": label, "commit": None}
    base.update(kw)
    return Version(label=label, info=info, **base)


def test_ab_notes_say_what_an_old_version_lacks() -> None:
    old = _version("baseline", kind="pypi", info={"gigq_version": "0.5.1", "settings": False,
                                                  "burst": False, "lock_stats": False,
                                                  "submit_many": False})
    run = ABRun(old, _version("current", kind=SELF), Results(pd.DataFrame()), Path("."),
                None)  # type: ignore[arg-type]
    notes = run.notes()
    assert not run.is_aa
    assert len(notes) == 1
    assert "0.5.1" in notes[0] and "storage settings" in notes[0] and "defaults" in notes[0]


def test_ab_recognises_an_aa_run() -> None:
    head = "a" * 40
    run = ABRun(_version("baseline", commit=head),
                _version("current", kind=SELF, commit=head, description="working tree"),
                Results(pd.DataFrame()), Path("."), None)  # type: ignore[arg-type]
    assert run.is_aa
    assert any("A/A" in n for n in run.notes())
    dirty = ABRun(_version("baseline", commit=head),
                  _version("current", kind=SELF, commit=head,
                           description="working tree + uncommitted changes"),
                  Results(pd.DataFrame()), Path("."), None)  # type: ignore[arg-type]
    assert not dirty.is_aa
    assert any("uncommitted" in n for n in dirty.notes())


def test_self_is_described_by_the_tree_it_imports_not_the_current_directory(
        tmp_path: Path) -> None:
    import subprocess

    import gigq

    other = tmp_path / "other-repo"
    other.mkdir()
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    logged: list[str] = []
    with VersionBuilder(repo=other, log=logged.append) as builder:
        version = builder.build(".", "current")
    source = Path(gigq.__file__).resolve().parent.parent
    assert str(source) in version.description and str(other) not in version.description
    assert any("not the repository here" in line for line in logged)


def test_the_gate_asks_a_version_what_its_trials_will_find() -> None:
    # One capability probe: the gate runs the trial worker's own check, by path.
    from gigq.bench.gate.versions import probe
    from gigq.bench.sweep import trial_worker

    assert probe(sys.executable) == trial_worker.capabilities()


def test_an_interpreter_without_gigq_is_a_version_error(tmp_path: Path) -> None:
    from gigq.bench.gate.versions import probe

    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'no gigq here' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(VersionError, match=r"cannot run GigQ trials.*no gigq here"):
        probe(str(fake))
