"""The states a job can be in."""

from enum import Enum


class JobStatus(Enum):
    """Lifecycle state of a job, stored as its lower-case value."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
