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

from . import validation
from .errors import JobDefinitionError
from .utils import iso_time

DEFAULT_QUEUE = "default"
# Each retry waits at most this many times the one before.
MAX_RETRY_BACKOFF = 1000


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
        self.dependencies = dependency_ids(dependencies)
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


def validate_options(job: Job) -> None:
    """Raise :class:`JobDefinitionError` for option values no worker could honour."""
    where = f"job {job.name!r}"
    if not isinstance(job.name, str) or not job.name:
        raise JobDefinitionError(f"job name must be a non-empty string, got {job.name!r}")
    if not isinstance(job.params, dict):
        raise JobDefinitionError(
            f"{where}: params must be a dict of keyword arguments, got {type(job.params).__name__}"
        )
    err = JobDefinitionError
    validation.integer(job.priority, f"{where}: priority", error=err)
    validation.integer(job.max_attempts, f"{where}: max_attempts (1 = no retries)", 1,
                       error=err)
    if job.timeout is not None:
        validation.seconds(job.timeout, f"{where}: timeout (0 or None = no timeout)",
                           error=err)
    validation.seconds(job.retry_delay, f"{where}: retry_delay", error=err)
    validation.number(job.retry_backoff, f"{where}: retry_backoff (1 = constant delay)",
                      1, MAX_RETRY_BACKOFF, error=err)
    longest = validation.longest_retry_delay(job.retry_delay, job.retry_backoff,
                                             job.max_attempts)
    if longest > validation.MAX_SECONDS:
        raise JobDefinitionError(
            f"{where}: the last retry would wait retry_delay × retry_backoff^"
            f"(max_attempts − 2) = {job.retry_delay:g} × {job.retry_backoff:g}^"
            f"{job.max_attempts - 2} seconds, more than the 1-year maximum; lower "
            "retry_delay, retry_backoff or max_attempts"
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


def dependency_ids(dependencies: Iterable[str | Job] | None) -> list[Any]:
    """The parent ids of ``dependencies`` (ids or Jobs); a lone string is refused, since
    iterating it would read each character as an id."""
    if isinstance(dependencies, (str, bytes)):
        raise JobDefinitionError(
            f"dependencies must be a list of job ids or Job objects, got the string "
            f"{dependencies!r}; wrap a single id in a list: [{dependencies!r}]"
        )
    return [d.id if isinstance(d, Job) else d for d in dependencies or ()]


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


def encode_json(value: Any, what: str, *, string_keys: bool = False) -> str:
    """Serialise ``value`` to strict JSON or raise :class:`JobDefinitionError` naming ``what``.

    NaN and infinities are refused (they are not JSON: other readers reject them).
    With ``string_keys`` a dict key that is not a string is refused too, instead of
    being rewritten as one (``{1: "x"}`` would come back as ``{"1": "x"}``).
    """
    if string_keys:
        key = _non_string_key(value)
        if key is not _NO_KEY:
            raise JobDefinitionError(
                f"{what}: the dict key {key!r} is a {type(key).__name__}, and JSON keys are "
                f"strings, so it would come back as {str(key)!r}; use string keys"
            )
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        if "JSON compliant" in str(exc):
            raise JobDefinitionError(
                f"{what}: NaN and infinities are not JSON (other readers reject them); "
                "use None or a string instead"
            ) from None
        raise JobDefinitionError(
            f"{what} must be JSON-serialisable ({exc}); convert such values first "
            "(sets to lists, datetimes to ISO strings, objects to dicts)"
        ) from None


_NO_KEY = object()
_CONTAINERS = (dict, list, tuple)


def _non_string_key(value: Any) -> Any:
    """The first dict key anywhere in ``value`` that is not a string, else ``_NO_KEY``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                return key
            if isinstance(inner, _CONTAINERS):
                found = _non_string_key(inner)
                if found is not _NO_KEY:
                    return found
    elif isinstance(value, (list, tuple)):
        for inner in value:
            if isinstance(inner, _CONTAINERS):
                found = _non_string_key(inner)
                if found is not _NO_KEY:
                    return found
    return _NO_KEY
