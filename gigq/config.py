"""Worker configuration, merged in one place for ``Worker.from_config`` and ``gigq worker``.

Layers, lowest first (a higher one wins, key by key):

1. the Worker's own defaults;
2. the ``GIGQ_*`` environment: read by the ``gigq`` command only (the Python API
   reads no environment);
3. values the caller holds without insisting on them: the command's option
   defaults, or the attributes of an args object written for GigQ 0.5.x;
4. the config file (its ``[worker]`` table, e.g. from ``gigq-bench tune --write``);
5. explicit values: flags given on the command line, ``from_config``'s overrides.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import validation
from .errors import SettingsError
from .storage import ENV_SETTINGS, SQLiteSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no TOML reader; the core stays standard-library only
    tomllib = None

# The Worker keyword arguments a config file may set.
WORKER_KEYS = (
    "worker_id", "polling_interval", "concurrency", "isolation", "lease_timeout",
    "shutdown_timeout", "allowed_modules", "queues", "min_priority", "max_priority", "burst",
)
# The storage settings (SQLiteSettings fields), in their documented order.
STORAGE_KEYS = tuple(ENV_SETTINGS)
# Config-file keys about how many processes run, not about one Worker.
DEPLOYMENT_KEYS = frozenset({"processes"})
# Worker processes one supervisor runs: each is a whole interpreter (tens of MB); far
# more than any machine's cores, and small enough that a typo is not a fork bomb.
MAX_PROCESSES = 256
# The worker defaults the ``gigq`` command reads from the environment.
WORKER_ENV = {"worker_id": "GIGQ_WORKER_ID", "polling_interval": "GIGQ_POLLING_INTERVAL"}


@dataclass(frozen=True)
class WorkerConfig:
    """The effective settings of one worker, as the layers above merge them.

    ``options`` holds the Worker keyword arguments some layer set (the others keep
    the Worker's defaults); ``settings`` is None when no layer set a storage value.
    ``processes`` is the config file's process count (validated), for a supervisor.
    """

    options: Mapping[str, Any]
    settings: SQLiteSettings | None
    processes: int | None = None


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The worker settings of a TOML file: its ``[worker]`` table if it has one,
    else its top-level keys (tables other than ``[worker]`` are ignored)."""
    if tomllib is None:
        raise SettingsError("reading a TOML config file needs Python 3.11+ (tomllib)")

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.get("worker", data)
    if not isinstance(section, dict):
        raise SettingsError(f"config file {path}: [worker] must be a table of settings")
    return {k: v for k, v in section.items() if not isinstance(v, dict)}


def check_processes(value: Any, where: str) -> int:
    """A process count from 1 to MAX_PROCESSES, or SettingsError naming ``where``."""
    return validation.integer(value, where, 1, MAX_PROCESSES, error=SettingsError)


def merge(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    explicit: Mapping[str, Any] | None = None,
    *,
    held: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> WorkerConfig:
    """Merge the layers (see the module docstring) into one :class:`WorkerConfig`.

    ``config`` is a mapping of settings or the path of a TOML file of them;
    ``explicit`` and ``held`` hold Worker keyword arguments and storage settings
    (layers 5 and 3); ``environ`` is the environment to read (None: none, as in
    the Python API). Unknown keys, a bad process count and bad values of the
    environment raise :class:`SettingsError` naming them.
    """
    source = None
    if isinstance(config, (str, os.PathLike)):
        source = os.fspath(config)
        config = load_config(config)
    config = dict(config or {})
    explicit = dict(explicit or {})
    held = dict(held or {})
    prefix = f"{source}: " if source else ""
    unknown = set(config) - set(WORKER_KEYS) - set(STORAGE_KEYS) - DEPLOYMENT_KEYS
    if unknown:
        valid = sorted({*WORKER_KEYS, *STORAGE_KEYS, *DEPLOYMENT_KEYS})
        raise SettingsError(
            f"{prefix}unknown worker setting(s) {', '.join(sorted(unknown))}; valid: "
            f"{', '.join(valid)}"
        )
    processes = None
    if "processes" in config:
        processes = check_processes(config["processes"], f"{prefix}processes")
    env = _environment(environ, {**held, **explicit}) if environ is not None else {}

    def layered(keys: tuple[str, ...], base: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for layer in (held, config, explicit):
            merged.update((k, v) for k, v in layer.items() if k in keys)
        return merged

    options = layered(WORKER_KEYS, env)
    storage = layered(STORAGE_KEYS, {})
    settings = None
    if environ is not None:
        settings = SQLiteSettings.from_env(environ)
    if storage:
        base = settings.as_dict() if settings is not None else {}
        settings = SQLiteSettings.from_mapping({**base, **storage})
    return WorkerConfig(options, settings, processes)


def _environment(environ: Mapping[str, str], given: Mapping[str, Any]) -> dict[str, Any]:
    """The worker defaults ``environ`` holds; a variable whose key the caller already
    ``given`` is not read (a bad value in it does not matter then)."""
    values: dict[str, Any] = {}
    if "worker_id" not in given and environ.get(WORKER_ENV["worker_id"]) is not None:
        values["worker_id"] = environ[WORKER_ENV["worker_id"]]
    name = WORKER_ENV["polling_interval"]
    raw = environ.get(name)
    if "polling_interval" not in given and raw:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
        values["polling_interval"] = validation.seconds(value, name, error=SettingsError)
    return values
