"""Job: what to run, validated when it is made so a bad job fails at the caller."""

from __future__ import annotations

import inspect
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import JobDefinitionError
from .utils import iso_time

DEFAULT_QUEUE = "default"


class Job:
    """A unit of work: an importable function, its JSON params and how to run it.

    ``timeout`` is in seconds; ``0`` or ``None`` means no timeout. ``retry_delay`` is
    the pause before a failed attempt is retried, multiplied by ``retry_backoff`` for
    every further attempt (``1.0`` = constant delay). ``dependencies`` may hold job
    ids or ``Job`` objects.
    """

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        params: dict[str, Any] | None = None,
        priority: int = 0,
        dependencies: Iterable[str | Job] | None = None,
        max_attempts: int = 3,
        timeout: float | None = 300,
        description: str = "",
        pass_parent_results: bool | None = None,
        retry_delay: float = 0,
        *,
        queue: str = DEFAULT_QUEUE,
        retry_backoff: float = 1.0,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.function = function
        self.params = {} if params is None else params
        self.priority = priority
        self.dependencies = [d.id if isinstance(d, Job) else d for d in dependencies or ()]
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.description = description
        self.pass_parent_results = pass_parent_results
        self.retry_delay = retry_delay
        self.queue = queue
        self.retry_backoff = retry_backoff
        self.created_epoch = time.time()
        self.created_at = iso_time(self.created_epoch)
        validate_options(self)
        function_reference(function)

    def __repr__(self) -> str:
        return f"<Job {self.name!r} {self.id}>"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_options(job: Job) -> None:
    """Raise :class:`JobDefinitionError` for option values no worker could honour."""
    where = f"job {job.name!r}"
    if not isinstance(job.name, str) or not job.name:
        raise JobDefinitionError(f"job name must be a non-empty string, got {job.name!r}")
    if not isinstance(job.params, dict):
        raise JobDefinitionError(
            f"{where}: params must be a dict of keyword arguments, got {type(job.params).__name__}"
        )
    if not isinstance(job.priority, int) or isinstance(job.priority, bool):
        raise JobDefinitionError(f"{where}: priority must be an integer, got {job.priority!r}")
    if not isinstance(job.max_attempts, int) or job.max_attempts < 1:
        raise JobDefinitionError(
            f"{where}: max_attempts must be an integer >= 1 (1 = no retries), "
            f"got {job.max_attempts!r}"
        )
    if job.timeout is not None and (not _is_number(job.timeout) or job.timeout < 0):
        raise JobDefinitionError(
            f"{where}: timeout must be a number of seconds >= 0 (0 or None = no timeout), "
            f"got {job.timeout!r}"
        )
    if not _is_number(job.retry_delay) or job.retry_delay < 0:
        raise JobDefinitionError(
            f"{where}: retry_delay must be a number of seconds >= 0, got {job.retry_delay!r}"
        )
    if not _is_number(job.retry_backoff) or job.retry_backoff < 1:
        raise JobDefinitionError(
            f"{where}: retry_backoff must be a number >= 1 (1 = constant delay), "
            f"got {job.retry_backoff!r}"
        )
    if job.pass_parent_results not in (None, True, False):
        raise JobDefinitionError(
            f"{where}: pass_parent_results must be True, False or None, "
            f"got {job.pass_parent_results!r}"
        )
    if not isinstance(job.queue, str) or not job.queue:
        raise JobDefinitionError(f"{where}: queue must be a non-empty string, got {job.queue!r}")
    for dep in job.dependencies:
        if not isinstance(dep, str):
            raise JobDefinitionError(
                f"{where}: dependencies must be job ids (str) or Job objects, got {dep!r}"
            )


def function_reference(function: Any) -> tuple[str, str]:
    """Return ``(module, name)`` for a function a worker can import by that path.

    Raises :class:`JobDefinitionError` for lambdas, nested functions, methods and
    objects without a module-level name: a worker could never import them.
    """
    target = inspect.unwrap(function) if callable(function) else function
    if not callable(target):
        raise JobDefinitionError(
            f"a job's function must be callable, got {type(function).__name__}"
        )
    module = getattr(target, "__module__", None)
    name = getattr(target, "__name__", None)
    qualname = getattr(target, "__qualname__", name) or ""
    if not module or not name:
        raise JobDefinitionError(
            f"{function!r} has no module-level name (partials and callable objects "
            "cannot be imported by a worker); wrap the call in a module-level function"
        )
    if name == "<lambda>":
        raise JobDefinitionError(
            f"a lambda from module {module!r} cannot be a job: workers import functions "
            "by 'module.name'; define a named function at module level instead"
        )
    if "<locals>" in qualname:
        raise JobDefinitionError(
            f"{qualname!r} is a nested function (closures or nested functions cannot be "
            "imported by a worker); move it to module level"
        )
    if "." in qualname:
        raise JobDefinitionError(
            f"{qualname!r} is a method; workers can only import module-level functions, "
            "so move it to module level (or call the method from one)"
        )
    return module, name


_main_module_cache: dict[tuple[int, str | None, tuple[str, ...]], str | None] = {}


def main_script_module() -> str | None:
    """Name under which the running ``__main__`` script can be imported, if any.

    ``python -m pkg.mod`` gives ``pkg.mod``; ``python path/script.py`` gives
    ``script`` when the script's directory is on ``sys.path``; an interactive
    session or ``python -c`` gives ``None``.
    """
    main = sys.modules.get("__main__")
    key = (id(main), getattr(main, "__file__", None), tuple(sys.path))
    if key not in _main_module_cache:  # resolving paths is slow; submits call this a lot
        _main_module_cache[key] = _resolve_main_module(main)
    return _main_module_cache[key]


def _resolve_main_module(main: object) -> str | None:
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return spec.name.removesuffix(".__main__")
    path = getattr(main, "__file__", None)
    if not path or not path.endswith(".py"):
        return None
    script = Path(path).resolve()
    for entry in sys.path:
        try:
            if Path(entry or ".").resolve() == script.parent:
                return script.stem
        except OSError:
            continue
    return None


_reference_cache: dict[tuple[Any, bool], tuple[str, str]] = {}


def importable_reference(function: Any, in_process_only: bool) -> tuple[str, str]:
    """Like :func:`function_reference`, resolving ``__main__`` for other processes.

    A function defined in the running script is stored under the script's module
    name, so a worker in another process can import it. When the script cannot be
    imported (an interactive session) only an in-process queue accepts it.
    """
    try:
        cached = _reference_cache.get((function, in_process_only))
    except TypeError:  # an unhashable callable: resolve it every time
        cached = None
    if cached is not None:
        return cached
    module, name = function_reference(function)
    if module != "__main__":
        try:
            _reference_cache[(function, in_process_only)] = (module, name)
        except TypeError:
            pass
        return module, name
    resolved = main_script_module()
    if resolved is not None:
        return resolved, name
    if in_process_only:
        return module, name
    raise JobDefinitionError(
        f"function {name!r} is defined in __main__ (an interactive session or "
        "'python -c'), which a worker in another process cannot import; define it in "
        "a module (a .py file on the workers' sys.path) and import it from there"
    )


def encode_json(value: Any, what: str) -> str:
    """Serialise ``value`` to JSON or raise :class:`JobDefinitionError` naming ``what``."""
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise JobDefinitionError(
            f"{what} must be JSON-serialisable ({exc}); convert such values first "
            "(sets to lists, datetimes to ISO strings, objects to dicts)"
        ) from None
