"""Job functions used by the tests; importable by worker subprocesses (tests/ is on PYTHONPATH)."""

import os
import time

from gigq import task


def noop():
    return None


def add(a, b):
    return a + b


def echo(**kwargs):
    return kwargs


def fail(message="boom"):
    raise RuntimeError(message)


def record(job_key, out_dir):
    """Append this job's key to a per-process file: the side channel for exactly-once checks."""
    with open(os.path.join(out_dir, f"ran-{os.getpid()}.txt"), "a") as f:
        f.write(f"{job_key}\n")
    return job_key


def record_slow(job_key, out_dir, seconds):
    time.sleep(seconds)
    return record(job_key, out_dir)


def flaky(marker_dir, fail_times):
    """Fail the first ``fail_times`` calls (counted in files), then succeed."""
    os.makedirs(marker_dir, exist_ok=True)
    n = len(os.listdir(marker_dir))
    open(os.path.join(marker_dir, f"call-{n}-{os.getpid()}-{time.time_ns()}"), "w").close()
    if n < fail_times:
        raise ValueError(f"attempt {n + 1} fails")
    return n + 1


def sleep_then(seconds, value=None, marker=None):
    if marker:
        open(marker, "w").close()
    time.sleep(seconds)
    return value


def wait_for_file(path, marker=None, limit=60):
    """Block until ``path`` exists (tests release the job by creating it)."""
    if marker:
        open(marker, "w").close()
    deadline = time.time() + limit
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    return "released"


def returns_set():
    return {1, 2}


def takes_parents(parent_results):
    return parent_results


def takes_kwargs(**kwargs):
    return sorted(kwargs)


def no_parents():
    return "plain"


def raise_keyboard_interrupt():
    raise KeyboardInterrupt


def exit_hard(code=3):
    os._exit(code)


def crash_segv():
    import ctypes

    ctypes.string_at(0)


@task(name="double", max_attempts=2)
def double(x):
    return x * 2


@task
def produce():
    return {"items": [1, 2, 3]}


@task()
def consume(parent_results):
    (first,) = parent_results.values()
    return len(first["items"])


def flaky_record(job_key, out_dir, marker_dir, fail_times):
    """Fail the first ``fail_times`` attempts, then record the side effect once."""
    flaky(marker_dir, fail_times)
    return record(job_key, out_dir)


class BadStr(Exception):
    """An exception whose message cannot be shown."""

    def __str__(self):
        raise RuntimeError("str fails")


def raise_bad_str():
    raise BadStr()


class NotAnException(BaseException):
    """Neither Exception, SystemExit nor KeyboardInterrupt: not caught as a job error."""


def raise_base_exception():
    raise NotAnException("escapes the job's error handling")


# Set by a test: the in-process Worker a job closes from inside.
WORKER = None


def close_own_worker():
    WORKER.close()
    return "closed"
