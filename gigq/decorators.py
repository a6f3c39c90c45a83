"""The ``@task`` decorator: plain functions that know how to become jobs."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .job import DEFAULT_QUEUE, Job

_JOB_DEFAULTS: dict[str, Any] = {
    "priority": 0,
    "max_attempts": 3,
    "timeout": 300,
    "description": "",
    "retry_delay": 0,
}
# Options added after 0.5.x; shown in repr only when set, so 0.5.x reprs stay the same.
_OPTIONAL = {"queue": DEFAULT_QUEUE, "retry_backoff": 1.0}
_VALID_OPTIONS = frozenset({"name", *_JOB_DEFAULTS, *_OPTIONAL})


class TaskWrapper:
    """A function decorated with ``@task``: still callable, plus ``submit``/``to_job``."""

    __wrapped__: Callable[..., Any]  # set by functools.update_wrapper

    def __init__(self, fn: Callable[..., Any], **options: Any) -> None:
        unknown = set(options) - _VALID_OPTIONS
        if unknown:
            raise TypeError(
                f"@task got unexpected option(s): {', '.join(sorted(unknown))}. "
                f"Valid options are: {', '.join(sorted(_VALID_OPTIONS))}"
            )
        self._validate(fn)
        self._options = {**_JOB_DEFAULTS, **options}
        self._options.setdefault("name", fn.__name__)
        functools.update_wrapper(self, fn)
        self.to_job()  # bad option values fail at the decorator, not at the first submit

    @staticmethod
    def _validate(fn: Any) -> None:
        if isinstance(fn, TaskWrapper):
            raise TypeError("@task cannot be applied twice to the same function")
        if not callable(fn):
            raise TypeError(f"@task expected a callable, got {type(fn).__name__}")
        if not hasattr(fn, "__module__") or not hasattr(fn, "__name__"):
            raise TypeError(
                "@task can only decorate named functions with __module__ and __name__"
            )
        if "<lambda>" in fn.__name__:
            raise TypeError("@task cannot decorate lambdas — use a named function instead")
        if inspect.iscoroutinefunction(fn):
            raise TypeError("@task does not support async functions")
        if inspect.isgeneratorfunction(fn):
            raise TypeError("@task does not support generator functions")
        qualname = getattr(fn, "__qualname__", "")
        if ".<locals>." in qualname:
            raise TypeError(
                "@task cannot decorate closures or nested functions — "
                "the function must be defined at module level so the worker can import it"
            )
        if "." in qualname:
            raise TypeError(
                "@task cannot decorate methods — "
                "the function must be defined at module level so the worker can import it"
            )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def to_job(self, **params: Any) -> Job:
        """A Job for this function with ``params``, not submitted."""
        o = self._options
        return Job(
            name=o["name"],
            function=self.__wrapped__,
            params=params,
            priority=o["priority"],
            max_attempts=o["max_attempts"],
            timeout=o["timeout"],
            description=o["description"],
            retry_delay=o["retry_delay"],
            queue=o.get("queue", DEFAULT_QUEUE),
            retry_backoff=o.get("retry_backoff", 1.0),
        )

    def submit(self, queue: Any, /, **params: Any) -> str:
        """Submit this function with ``params`` to ``queue``; returns the job id."""
        return queue.submit(self.to_job(**params))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(self._options.items()) if k != "name")
        return f"<TaskWrapper '{self._options['name']}' ({opts})>"


def task(
    fn: Callable[..., Any] | None = None, **options: Any
) -> TaskWrapper | Callable[[Callable[..., Any]], TaskWrapper]:
    """Make a module-level function submittable: ``@task``, ``@task()`` or ``@task(**options)``.

    Options: ``name, priority, max_attempts, timeout, description, retry_delay,
    retry_backoff, queue``.
    """
    if fn is not None:
        return TaskWrapper(fn, **options)

    def decorator(fn: Callable[..., Any]) -> TaskWrapper:
        return TaskWrapper(fn, **options)

    return decorator
