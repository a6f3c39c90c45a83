"""Settings (a configuration's or tune's) in every form a GigQ worker takes them.

Which dimensions are worker or storage settings, and which option each sets, is
said once, by ``Dimension.worker_option`` in ``sweep/space.py``. This module turns a
settings mapping into the ``gigq worker`` command line, the ``GIGQ_*`` environment,
the Python call and the ``[worker]`` TOML table; the variable names and config keys
are GigQ's own (``gigq.config``, ``gigq.storage.ENV_SETTINGS``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from gigq.cli import _WORKER_FLAGS
from gigq.config import STORAGE_KEYS, WORKER_ENV, WORKER_KEYS
from gigq.storage import ENV_SETTINGS

from .numbers import plain_value
from .sweep.space import DIMENSIONS, format_value


def options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The worker options ``settings`` sets, by config key: worker options first,
    then storage settings, each in dimension order.

    A missing or None value is left out, and so is a quiet dimension at its default
    (a setting GigQ already has unless told otherwise: ``isolation=thread``).
    """
    found: dict[str, Any] = {}
    for dim in DIMENSIONS.values():
        # Results rows hold pandas values: 4.0 for 4, NaN for missing.
        raw = plain_value(settings.get(dim.name))
        if dim.worker_option is None or raw is None:
            continue
        value = dim.parse(raw)
        if dim.quiet and value == dim.default:
            continue
        if dim.worker_value is not None:
            value = dim.worker_value(value)
        if value is not None:
            found[dim.worker_option] = value
    storage = {k: v for k, v in found.items() if k in STORAGE_KEYS}
    return {**{k: v for k, v in found.items() if k not in storage}, **storage}


def _text(value: Any) -> str:
    return format_value(value) if isinstance(value, float) else str(value)


def _flags(opts: Mapping[str, Any]) -> list[str]:
    parts: list[str] = []
    for key, value in opts.items():
        # gigq/cli.py's own table of keywords whose flag has another name.
        flag = "--" + _WORKER_FLAGS.get(key, key).replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            parts += [flag, _text(item)]
    return parts


def _command(flags: list[str], db: str | None) -> str:
    head = ["gigq", "worker"] if db is None else ["gigq", "--db", db, "worker"]
    return " ".join(shlex.quote(p) for p in [*head, *flags])


def worker_command(settings: Mapping[str, Any], db: str | None = None) -> str:
    """``gigq [--db DB] worker …`` with every setting as a flag.

    Storage flags follow ``worker``: ``gigq worker`` accepts them there as well as
    before it, and its supervisor hands them on to its processes.
    """
    return _command(_flags(options(settings)), db)


def env_name(key: str) -> str | None:
    """The ``GIGQ_*`` variable ``gigq worker`` reads for option ``key`` (None: none)."""
    return ENV_SETTINGS.get(key) or WORKER_ENV.get(key)


def environment(settings: Mapping[str, Any]) -> dict[str, str]:
    """The ``GIGQ_*`` variables for the settings that have one (storage ones first)."""
    opts = options(settings)
    ordered = [k for k in opts if k in STORAGE_KEYS] + [k for k in opts if k not in STORAGE_KEYS]
    return {name: _text(opts[key]) for key in ordered if (name := env_name(key)) is not None}


def environment_command(settings: Mapping[str, Any], db: str = "jobs.db") -> str:
    """``VAR=value … gigq --db DB worker`` plus flags for the settings without a variable."""
    opts = options(settings)
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment(settings).items())
    rest = _command(_flags({k: v for k, v in opts.items() if env_name(k) is None}), db)
    return f"{env} {rest}" if env else rest


def _python(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value) if isinstance(value, (str, list)) else str(value)


def python_code(settings: Mapping[str, Any], db: str = "jobs.db") -> str:
    """The settings as Python: Worker keyword arguments and SQLiteSettings."""
    opts = options(settings)
    storage = ", ".join(f"{k}={_python(v)}" for k, v in opts.items() if k in STORAGE_KEYS)
    worker = "".join(f", {k}={_python(v)}" for k, v in opts.items() if k in WORKER_KEYS)
    lines = [
        "from gigq import SQLiteSettings, Worker",
        "",
        f"settings = SQLiteSettings({storage})",
        f"worker = Worker({json.dumps(db)}{worker}, settings=settings)",
    ]
    processes = opts.get("processes")
    if processes:
        lines.append(f"worker.start()  # in each of {processes} processes "
                     f"(or: gigq worker --processes {processes})")
    else:
        lines.append("worker.start()")
    return "\n".join(lines)


def worker_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[worker]`` table ``gigq worker --config`` and ``Worker.from_config`` read."""
    return options(settings)

