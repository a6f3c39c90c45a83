"""GigQ: a fast, reliable job queue whose whole state lives in one SQLite file."""

import logging
from importlib.metadata import PackageNotFoundError, version

from .db_utils import close_connections
from .decorators import task
from .errors import (
    DatabaseBusyError,
    DatabaseFileError,
    DiskFullError,
    GigQError,
    JobDefinitionError,
    JobSubmissionError,
    SettingsError,
)
from .job import Job
from .job_queue import JobQueue
from .job_status import JobStatus
from .storage import SQLiteSettings, durability_class
from .utils import setup_logging
from .worker import Worker
from .workflow import Workflow

_logger = logging.getLogger("gigq")
_logger.addHandler(logging.NullHandler())
_logger.propagate = False

try:
    __version__ = version("gigq")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "1.0.0.dev0"

__all__ = [
    "DatabaseBusyError",
    "DatabaseFileError",
    "DiskFullError",
    "GigQError",
    "Job",
    "JobDefinitionError",
    "JobQueue",
    "JobStatus",
    "JobSubmissionError",
    "SQLiteSettings",
    "SettingsError",
    "Worker",
    "Workflow",
    "close_connections",
    "durability_class",
    "setup_logging",
    "task",
]
