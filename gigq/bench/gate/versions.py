"""The code versions an A/B run measures: resolve a REF, build it, clean up after.

A REF is one of:

* a **git revision** of the repository we run in (``HEAD``, ``HEAD~1``, ``main``, a
  commit id): checked out into a temporary ``git worktree`` and installed into a
  temporary virtualenv;
* a **PyPI requirement** (``gigq==0.5.1``, ``gigq>=0.5``): installed into a temporary
  virtualenv;
* a **source tree** (a directory holding ``pyproject.toml``): installed into a
  temporary virtualenv, like a git revision but with whatever the directory holds;
* a **Python interpreter** (path to an executable): used as it is;
* ``.`` / ``current``: the interpreter running gigq-bench (this working tree).

Virtualenvs are made without pip (fast) and filled by this interpreter's pip with
``--python``. Everything lives under one temporary directory that
:class:`VersionBuilder` removes on exit, worktrees included, even after an error or
Ctrl-C.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..sweep.trial import TrialFailure, interpreter_capabilities

GIT, PYPI, PATH, INTERPRETER, SELF = "git", "pypi", "path", "interpreter", "self"

# A requirement names a distribution, optionally with extras, a version specifier or
# a direct reference; git revisions never contain these operators.
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*(==|>=|<=|~=|!=|<|>|@)")
class VersionError(Exception):
    """A REF that cannot be resolved or built; the message says why."""


class CurrentVersionError(VersionError):
    """The version under test (not the baseline) cannot be resolved, built or started:
    for a gate that is a failure of the change, never a reason to skip."""


@dataclass
class Version:
    """A code version ready to measure: its interpreter and what it is."""

    label: str
    ref: str
    kind: str
    python: str
    description: str
    commit: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """What this version is, in a few words: ``HEAD~1 (3f2a9c1d0e)``, ``gigq==0.5.1``,
        ``source tree /tmp/x``, ``working tree at 9c1d2e3f4a + uncommitted changes``.

        This labels the side on every page, not the interpreter that ran it, nor the
        label ``baseline``/``current``.
        """
        gigq = self.info.get("gigq_version")
        if self.kind == GIT and self.commit:
            short = self.commit[:10]
            return short if self.commit.startswith(self.ref) else f"{self.ref} ({short})"
        if self.kind == PYPI:
            return self.ref if not gigq or gigq in self.ref else f"{self.ref} (gigq {gigq})"
        if self.kind == PATH:
            return f"source tree {self.ref}"
        if self.kind == SELF and self.commit:
            dirty = " + uncommitted changes" if "uncommitted" in self.description else ""
            return f"working tree at {self.commit[:10]}{dirty}"
        where = self.info.get("gigq_path")
        what = f"gigq {gigq}" if gigq else "gigq"
        return f"{what} at {where}" if where else self.description

    def identity(self) -> dict[str, Any]:
        """What the results record of this version beside its interpreter (spec.versions)."""
        return {"name": self.name, "kind": self.kind, "ref": self.ref, "commit": self.commit}

    @property
    def missing(self) -> list[str]:
        """Capabilities the version lacks (its trials run with its defaults instead)."""
        names = {"settings": "storage settings (journal_mode, synchronous, cache_size)",
                 "burst": "burst mode", "lock_stats": "lock-wait counters",
                 "submit_many": "submit_many"}
        return [text for key, text in names.items() if self.info.get(key) is False]


def run(cmd: list[str], cwd: str | Path | None = None, timeout: float = 600,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing output; raises VersionError with its stderr on failure."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VersionError(f"{' '.join(cmd[:3])}…: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise VersionError(f"`{' '.join(cmd)}` failed:\n  " + "\n  ".join(tail))
    return proc


def git_root(start: str | Path = ".") -> Path | None:
    """The top of the git checkout holding ``start`` (None outside one)."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start,
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def self_source() -> Path:
    """The directory holding the ``gigq`` package this interpreter imports."""
    import gigq

    return Path(gigq.__file__).resolve().parent.parent


def git_commit(repo: Path, ref: str) -> str | None:
    """The full commit id ``ref`` names in ``repo``, or None."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                              cwd=repo, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def worktree_dirty(repo: Path) -> bool:
    """Whether tracked files differ from HEAD (so 'current' is not exactly HEAD)."""
    proc = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def classify(ref: str, repo: Path | None) -> str:
    """Which kind of REF this is (see the module docstring); VersionError if none."""
    if ref in (".", "current", "self"):
        return SELF
    path = Path(ref).expanduser()
    if path.is_dir():
        if (path / "pyproject.toml").exists() or (path / "setup.py").exists():
            return PATH
        raise VersionError(f"{ref} is a directory but not a Python project (no pyproject.toml)")
    if path.is_file() and os.access(path, os.X_OK):
        return INTERPRETER
    if _REQUIREMENT.match(ref):
        return PYPI
    if repo is not None and git_commit(repo, ref):
        return GIT
    hint = (f"no commit {ref!r} in {repo}" if repo is not None else
            "not inside a git checkout, so git revisions cannot be used")
    raise VersionError(
        f"cannot use {ref!r} as a version: {hint}. Give a git revision (HEAD~1, a commit "
        "id), a requirement (gigq==0.5.1), a source directory or a Python interpreter."
    )


class VersionBuilder:
    """Builds versions into one temporary directory; a context manager that cleans up."""

    def __init__(self, repo: Path | None = None, log: Any = None,
                 workdir: str | Path | None = None) -> None:
        self.repo = repo if repo is not None else git_root(Path.cwd())
        self._log = log or (lambda message: None)
        self._parent = workdir
        self.root: Path | None = None
        self._worktrees: list[Path] = []
        # Built environments by what they were built from, so that an A/A run of one
        # source (or one requirement) builds it once.
        self._built: dict[tuple[str, str], Version] = {}

    def __enter__(self) -> VersionBuilder:
        self.root = Path(tempfile.mkdtemp(prefix="gigq-ab-", dir=self._parent))
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Remove worktrees and virtualenvs (safe to call twice)."""
        for tree in self._worktrees:
            if self.repo is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)],
                               cwd=self.repo, capture_output=True, timeout=120)
        if self._worktrees and self.repo is not None:
            subprocess.run(["git", "worktree", "prune"], cwd=self.repo, capture_output=True,
                           timeout=120)
        self._worktrees.clear()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- building ------------------------------------------------------------------

    def build(self, ref: str, label: str) -> Version:
        """Resolve ``ref`` and make it runnable; raises VersionError when it cannot."""
        if self.root is None:
            raise RuntimeError("use VersionBuilder as a context manager")
        kind = classify(ref, self.repo)
        key = (kind, self._identity(ref, kind))
        if key in self._built:
            twin = self._built[key]
            return Version(label, ref, kind, twin.python, twin.description, twin.commit,
                           dict(twin.info))
        version = self._build(ref, label, kind)
        self._built[key] = version
        return version

    def _identity(self, ref: str, kind: str) -> str:
        if kind in (PATH, INTERPRETER):
            return str(Path(ref).expanduser().resolve())
        if kind == GIT and self.repo is not None:
            return git_commit(self.repo, ref) or ref
        return ref

    def _build(self, ref: str, label: str, kind: str) -> Version:
        commit = None
        if kind == SELF:
            # "." is the GigQ this interpreter imports, wherever that lives: describe
            # that tree, not the directory the command happens to run in.
            python = sys.executable
            source = self_source()
            head = commit = git_commit(source, "HEAD") if (source / ".git").exists() else None
            if head:
                dirty = " + uncommitted changes" if worktree_dirty(source) else ""
                description = f"working tree {source} at {head[:10]}{dirty}"
            else:
                description = f"installed gigq at {source}"
            if self.repo is not None and self.repo.resolve() != source:
                self._log(f"{label}: '.' is the GigQ this gigq-bench runs ({source}), not "
                          f"the repository here ({self.repo}); pass a path to measure that")
        elif kind == INTERPRETER:
            python, description = str(Path(ref).expanduser()), f"interpreter {ref}"
        elif kind == PATH:
            self._log(f"{label}: installing source tree {ref} into a virtualenv")
            python = self._venv(label, [str(Path(ref).resolve())], deps=False)
            description = f"source tree {ref}"
        elif kind == PYPI:
            self._log(f"{label}: installing {ref} from the package index into a virtualenv")
            python = self._venv(label, [ref], deps=True)
            description = f"{ref} (package index)"
        else:
            assert self.repo is not None and self.root is not None
            commit = git_commit(self.repo, ref)
            if commit is None:  # classify() resolved it; the ref went since
                raise VersionError(f"{ref} no longer names a commit in {self.repo}")
            tree = self.root / f"src-{label}"
            self._log(f"{label}: checking out {ref} ({commit[:10]}) into a temporary worktree")
            run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=self.repo)
            self._worktrees.append(tree)
            python = self._venv(label, [str(tree)], deps=False)
            subject = run(["git", "log", "-1", "--format=%s", commit], cwd=self.repo)
            description = f"git {ref} = {commit[:10]} ({subject.stdout.strip()[:60]})"
        info = probe(python)
        return Version(label, ref, kind, python, description, commit, info)

    def _venv(self, label: str, targets: list[str], deps: bool) -> str:
        assert self.root is not None
        env_dir = self.root / f"venv-{label}"
        # Without pip: this interpreter's pip fills it (--python), which is much faster
        # than bootstrapping pip into every throwaway environment.
        venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
        python = str(env_dir / "bin" / "python")
        cmd = [sys.executable, "-m", "pip", "--python", python, "install",
               "--disable-pip-version-check", "-q"]
        if not deps:
            cmd.append("--no-deps")  # GigQ itself needs nothing but the standard library
        run(cmd + targets, timeout=900)
        return python


def probe(python: str) -> dict[str, Any]:
    """Ask an interpreter which GigQ it has and what that version can do: the trial
    worker's own capability check (``trial_worker.py --capabilities``), so the gate
    knows exactly what its trials will find."""
    try:
        return interpreter_capabilities(python, timeout=120)
    except TrialFailure as exc:
        raise VersionError(str(exc)) from None
