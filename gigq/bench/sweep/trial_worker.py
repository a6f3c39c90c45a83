"""The process side of a trial: submit, produce or work, then report counters.

Run by :mod:`gigq.bench.sweep.trial` as ``PYTHON path/to/trial_worker.py SPEC_JSON``
(any interpreter, any GigQ version). It uses the standard library and GigQ's public
API only (``JobQueue.submit``, ``Worker(...).start()/stop()``) and detects optional
capabilities (storage settings, ``burst``, ``lock_stats``, ``submit_many``,
``backup``), so the same driver measures this tree and GigQ releases such as
0.5.1 — which is what ``gigq-bench`` A/B runs rely on. Never import click,
pandas or other gigq.bench modules here.

Roles (``spec["role"]``):

``submit``  drain mode: submit ``jobs`` jobs, report the submit time, exit.
``work``    build a Worker, say ``ready``, wait for ``go`` on stdin, run until the
            queue is drained (drain mode with ``burst``) or until ``stop`` arrives
            (the trial watches the database from its own process), report counters.
``produce`` steady mode: say ``ready``, wait for ``go``, submit at
            ``arrival_rate`` jobs/s for ``duration`` s, report.
``solo``    in-memory database: submitter/producer and worker threads in one
            process (a ``:memory:`` database cannot be shared across processes);
            at the end the database is copied to ``backup_to`` for the trial.

Messages to the trial are JSON lines on stdout (``ready``, ``done``, ``error``);
commands from it are lines on stdin (``go``, ``stop``). End of stdin means the
trial is gone: the process stops at once, so nothing outlives its trial.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import resource
import sys
import threading
import time
import traceback
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
# Started by path, Python put this directory first on sys.path, where the other
# gigq.bench modules would shadow top-level names; nothing is imported from it.
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    del sys.path[0]


def load_workloads(path: str | None, name: str) -> Any:
    """Load workloads.py under ``name``, the module name the submitted jobs refer to.

    The trial sends the name in its spec (``workloads_module``: workloads.MODULE_NAME),
    so it is defined once; this file can import nothing from gigq.bench.
    """
    if name in sys.modules:
        return sys.modules[name]
    file = path or os.path.join(_HERE, "workloads.py")
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the workloads module from {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def spec_workloads(spec: dict[str, Any]) -> Any:
    """The workloads module a trial's spec names."""
    return load_workloads(spec.get("workloads_path"), spec["workloads_module"])


def emit(event: str, **data: Any) -> None:
    """One JSON message to the trial."""
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# What this GigQ can do


def capabilities() -> dict[str, Any]:
    """Optional features of the installed GigQ, detected from its public API."""
    import gigq
    from gigq import JobQueue, Worker

    worker_params = inspect.signature(Worker.__init__).parameters
    queue_params = inspect.signature(JobQueue.__init__).parameters
    version = getattr(gigq, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version("gigq")
        except Exception:
            version = "unknown"
    return {
        "gigq_version": version,
        "gigq_path": os.path.dirname(os.path.abspath(gigq.__file__)),
        "settings": "settings" in worker_params and "settings" in queue_params,
        "burst": "burst" in worker_params,
        "concurrency": "concurrency" in worker_params,
        "lock_stats": hasattr(Worker, "lock_stats"),
        "submit_many": hasattr(JobQueue, "submit_many"),
        "backup": hasattr(JobQueue, "backup"),
        # connections=per_call closes the thread's connection after every operation.
        "close_connections": hasattr(gigq, "close_connections") and hasattr(JobQueue, "close"),
        # lease_timeout: leases renewed by a heartbeat.
        "lease_timeout": "lease_timeout" in worker_params,
        # isolation=process: each job runs in a child process the worker can kill.
        "isolation": "isolation" in worker_params,
        # queues > 1: jobs carry a queue name and workers serve chosen queues.
        "queues": "queues" in worker_params
        and "queue" in inspect.signature(gigq.Job).parameters,
        "python": sys.version.split()[0],
        "sqlite_version": __import__("sqlite3").sqlite_version,
    }


def make_settings(spec: dict[str, Any], caps: dict[str, Any]) -> Any:
    """SQLiteSettings for the spec, or None when this GigQ has no settings."""
    if not caps["settings"] or not spec.get("settings"):
        return None
    from gigq.storage import SQLiteSettings

    values = {k: v for k, v in spec["settings"].items() if v is not None}
    return SQLiteSettings(**values)


def queue_kwargs(settings: Any) -> dict[str, Any]:
    """Keyword arguments for JobQueue (empty for versions without settings)."""
    return {} if settings is None else {"settings": settings}


def build_jobs(spec: dict[str, Any], start: int, count: int) -> list[Any]:
    """``count`` Job objects numbered from ``start``."""
    from gigq import Job

    workloads = spec_workloads(spec)
    func = getattr(workloads, spec["job_type"])
    sizes = spec.get("sizes") or {}
    payload = int(spec.get("payload_bytes") or 0)
    custom_job = spec.get("custom_job")
    queues = int(spec.get("queues") or 1)

    def routing(n: int) -> dict[str, Any]:
        # Only versions with named queues get the argument (checked by check_queues).
        return {"queue": queue_name(n % queues)} if queues > 1 else {}

    return [
        Job("bench", func, workloads.job_params(spec["job_type"], n, sizes, payload,
                                                custom_job), **routing(n))
        for n in range(start, start + count)
    ]


def queue_name(i: int) -> str:
    """Name of the i-th queue when a trial spreads jobs over several."""
    return f"q{i}"


def served_queues(spec: dict[str, Any]) -> list[str] | None:
    """The queues this worker process serves (None: all of them).

    With W workers and Q queues, worker i serves queue i mod Q when W >= Q, else the
    queues j with j mod W = i: every queue has a worker, and none serves them all.
    """
    queues = int(spec.get("queues") or 1)
    index, count = spec.get("worker_index"), spec.get("worker_count")
    if queues == 1 or index is None or not count:
        return None
    if count >= queues:
        return [queue_name(index % queues)]
    return [queue_name(j) for j in range(queues) if j % count == index]


def check_queues(spec: dict[str, Any], caps: dict[str, Any]) -> None:
    """Refuse queues > 1 on a GigQ without named queues."""
    if int(spec.get("queues") or 1) > 1 and not caps["queues"]:
        raise RuntimeError(f"GigQ {caps['gigq_version']} has no named queues: "
                           "queues > 1 cannot run")


def check_worker_options(spec: dict[str, Any], caps: dict[str, Any]) -> None:
    """Refuse isolation=process, or a lease other than the default, on a GigQ that
    runs jobs only in threads, or has no leases."""
    if spec.get("isolation", "thread") != "thread" and not caps["isolation"]:
        raise RuntimeError(f"GigQ {caps['gigq_version']} has no isolation option: "
                           "isolation=process cannot run")
    if spec.get("lease_timeout") is not None and not caps["lease_timeout"]:
        raise RuntimeError(f"GigQ {caps['gigq_version']} has no leases: "
                           f"lease_timeout={spec['lease_timeout']:g} cannot run")


def per_call(spec: dict[str, Any]) -> bool:
    """Whether the trial emulates a connection opened per operation."""
    return spec.get("connections") == "per_call"


def check_connections(spec: dict[str, Any], caps: dict[str, Any]) -> None:
    """Refuse connections=per_call on a GigQ that cannot close a thread's connection."""
    if per_call(spec) and not caps["close_connections"]:
        raise RuntimeError(f"GigQ {caps['gigq_version']} has no close_connections()/"
                           "JobQueue.close(): connections=per_call cannot be emulated")


def submit_jobs(queue: Any, jobs: list[Any], batch: bool, batch_size: int,
                close_each: bool = False) -> float:
    """Submit ``jobs``; returns the seconds spent inside the submit calls.

    ``close_each`` (connections=per_call) closes the connection after every submit
    call, so the next one opens a fresh connection — the cost of connecting per call.
    """
    start = time.perf_counter()
    if batch and hasattr(queue, "submit_many"):
        for i in range(0, len(jobs), batch_size):
            queue.submit_many(jobs[i : i + batch_size])
            if close_each:
                queue.close()
    else:
        for job in jobs:
            queue.submit(job)
            if close_each:
                queue.close()
    return time.perf_counter() - start


def submit_notes(spec: dict[str, Any], caps: dict[str, Any]) -> list[str]:
    """Why this version ran differently from the configuration, if it did."""
    notes = []
    if spec.get("settings") and not caps["settings"]:
        notes.append(f"GigQ {caps['gigq_version']} has no storage settings; ran with its "
                     "defaults")
    if spec.get("submit") == "batch" and not caps["submit_many"]:
        notes.append(f"GigQ {caps['gigq_version']} has no submit_many; submitted one by one")
    return notes


# ---------------------------------------------------------------------------
# Counters


def lock_snapshot(worker: Any) -> dict[str, Any] | None:
    """The worker's lock-wait counters as a dict, or None if this GigQ has none."""
    if not hasattr(worker, "lock_stats"):
        return None
    return worker.lock_stats().as_dict()


def lock_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> Any:
    """Counters accumulated between two snapshots (max wait: the later maximum)."""
    if before is None or after is None:
        return None
    # Every counter that adds up (including per-site ones where the version has them);
    # not the maximum, the histogram or the derived percentiles.
    derived = ("lock_wait_max_s", "histogram", "lock_wait_p50_ms", "lock_wait_p99_ms")
    delta = {k: v - before.get(k, 0) for k, v in after.items() if k not in derived}
    delta["lock_wait_max_s"] = after["lock_wait_max_s"]
    pairs = zip(after["histogram"], before["histogram"], strict=True)
    delta["histogram"] = [a - b for a, b in pairs]
    return delta


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children so far.

    With ``isolation=process`` the jobs run in child processes; the worker kills
    and waits for them when it stops, so once ``Worker.start()`` has returned
    their CPU is in RUSAGE_CHILDREN (the kernel adds a child's usage when it is
    reaped, however it ended). Without children that term stays 0.
    """
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


# ---------------------------------------------------------------------------
# Worker side


def make_worker(spec: dict[str, Any], caps: dict[str, Any], settings: Any, burst: bool) -> Any:
    """A Worker for the spec, using only the arguments this GigQ accepts."""
    from gigq import Worker

    kwargs: dict[str, Any] = {
        "worker_id": f"bench-{os.getpid()}",
        "polling_interval": spec["polling_interval"],
    }
    if caps["concurrency"]:
        kwargs["concurrency"] = spec["concurrency"]
    if settings is not None:
        kwargs["settings"] = settings
    if burst:
        kwargs["burst"] = True
    if spec.get("isolation", "thread") != "thread":
        kwargs["isolation"] = spec["isolation"]
    if spec.get("lease_timeout") is not None:
        kwargs["lease_timeout"] = spec["lease_timeout"]
    served = served_queues(spec)
    if served is not None:
        kwargs["queues"] = served
    return Worker(spec["db"], **kwargs)


def queue_drained(queue: Any) -> bool:
    """No job pending or running (the public ``stats()`` of every version)."""
    counts = queue.stats()
    return not counts.get("pending", 0) and not counts.get("running", 0)


class Stopper:
    """Stops the worker when the trial says so, or when the trial goes away.

    A thread reads stdin: ``stop`` (the trial saw the queue drained, reading the
    database from its own process) stops the worker; end of input (the trial is
    gone) stops it at once. Watching the queue is the trial's job, so this process
    spends nothing on it — except ``watch`` (the ``solo`` role: an in-memory
    database no other process can read), polled once the producer is done.
    """

    def __init__(self, worker: Any, watch: Any = None,
                 producer: threading.Thread | None = None) -> None:
        self.worker = worker
        self.watch = watch
        self.producer = producer
        self.done = False
        self._stop = threading.Event()
        threading.Thread(target=self._read_commands, daemon=True).start()
        threading.Thread(target=self._supervise, daemon=True).start()

    def _read_commands(self) -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        self._stop.set()

    def _supervise(self) -> None:
        if self.watch is not None:
            if self.producer is not None:
                self.producer.join()
            # A count query every 20 ms, only where nothing outside can watch.
            while not self._stop.is_set() and not self.done and not self.watch():
                time.sleep(0.02)
        else:
            self._stop.wait()
        # stop() before start() has begun would be undone by start(): wait for it.
        while not self.worker.running and not self.done:
            time.sleep(0.005)
        if not self.done:
            self.worker.stop()


def run_worker(spec: dict[str, Any], caps: dict[str, Any], settings: Any,
               producer_factory: Any = None) -> dict[str, Any]:
    """Build the worker, pass the barrier, run it, return its counters."""
    from gigq import JobQueue

    drain = spec["mode"] == "drain"
    use_burst = drain and caps["burst"]
    worker = make_worker(spec, caps, settings, use_burst)
    workloads = spec_workloads(spec)
    if per_call(spec):
        import gigq

        # The job runs in the worker's thread: closing that thread's connection
        # after each job makes the worker's next operation (record the outcome and
        # claim the next job, one transaction) open a new connection.
        workloads.set_after_job(gigq.close_connections)
    return_data: dict[str, Any] = {}
    emit("ready", capabilities=caps)
    command = sys.stdin.readline().strip()
    if command != "go":
        raise SystemExit(3)  # the trial was abandoned before it began
    t_go = time.time()
    cpu0 = cpu_seconds()
    lock0 = lock_snapshot(worker)
    producer = producer_factory(return_data) if producer_factory else None
    watch = None
    if spec["role"] == "solo" and not use_burst:
        queue = JobQueue(spec["db"], **queue_kwargs(settings))
        watch = lambda: queue_drained(queue)  # noqa: E731
    stopper = Stopper(worker, watch, producer)
    try:
        worker.start()
    finally:
        stopper.done = True
    t_end = time.time()
    return {
        "t_go": t_go,
        "t_end": t_end,
        "cpu_s": cpu_seconds() - cpu0,
        "lock": lock_delta(lock0, lock_snapshot(worker)),
        "threads": spec["concurrency"] if caps["concurrency"] else 1,
        **return_data,
    }


# ---------------------------------------------------------------------------
# Producer side


def produce(queue: Any, spec: dict[str, Any], caps: dict[str, Any]) -> dict[str, Any]:
    """Submit at ``arrival_rate`` jobs/s for ``duration`` s, evenly spaced.

    When the producer falls behind, the jobs already due go in together: one
    ``submit_many`` in batch mode, one by one in single mode.
    """
    rate = float(spec["arrival_rate"])
    total = max(1, round(rate * float(spec["duration"])))
    interval = 1.0 / rate
    batch = spec.get("submit") == "batch" and caps["submit_many"]
    submitted, busy = 0, 0.0
    t0 = time.perf_counter()
    while submitted < total:
        due = t0 + submitted * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
            now = time.perf_counter()
        ready = min(total, int((now - t0) / interval) + 1) - submitted
        jobs = build_jobs(spec, submitted, max(1, ready))
        busy += submit_jobs(queue, jobs, batch, len(jobs), per_call(spec))
        submitted += len(jobs)
    return {"submitted": submitted, "submit_s": busy,
            "produce_s": time.perf_counter() - t0}


# ---------------------------------------------------------------------------
# Roles


def role_submit(spec: dict[str, Any], caps: dict[str, Any]) -> None:
    from gigq import JobQueue

    settings = make_settings(spec, caps)
    queue = JobQueue(spec["db"], **queue_kwargs(settings))
    jobs = build_jobs(spec, 0, int(spec["jobs"]))
    seconds = submit_jobs(queue, jobs, spec.get("submit") == "batch",
                          int(spec.get("batch_size", 500)), per_call(spec))
    emit("done", submitted=len(jobs), submit_s=seconds, capabilities=caps,
         notes=submit_notes(spec, caps))


def role_work(spec: dict[str, Any], caps: dict[str, Any]) -> None:
    settings = make_settings(spec, caps)
    emit("done", **run_worker(spec, caps, settings))


def role_produce(spec: dict[str, Any], caps: dict[str, Any]) -> None:
    from gigq import JobQueue

    settings = make_settings(spec, caps)
    queue = JobQueue(spec["db"], **queue_kwargs(settings))
    spec_workloads(spec)
    emit("ready", capabilities=caps)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(3)
    emit("done", **produce(queue, spec, caps), notes=submit_notes(spec, caps))


def role_solo(spec: dict[str, Any], caps: dict[str, Any]) -> None:
    from gigq import JobQueue

    if spec.get("backup_to") and not caps["backup"]:
        # Without backup() the database would die with this process unread; and
        # such versions have no shared in-memory database for threads either.
        raise RuntimeError(f"GigQ {caps['gigq_version']} cannot run the in-memory location "
                           "(no JobQueue.backup to hand the database back)")
    settings = make_settings(spec, caps)
    queue = JobQueue(spec["db"], **queue_kwargs(settings))
    extra: dict[str, Any] = {"notes": submit_notes(spec, caps)}
    producer_factory = None
    if spec["mode"] == "drain":
        jobs = build_jobs(spec, 0, int(spec["jobs"]))
        extra["submitted"] = len(jobs)
        extra["submit_s"] = submit_jobs(queue, jobs, spec.get("submit") == "batch",
                                        int(spec.get("batch_size", 500)), per_call(spec))
    else:
        def producer_factory(out: dict[str, Any]) -> threading.Thread:
            thread = threading.Thread(
                target=lambda: out.update(produce(queue, spec, caps)), daemon=True)
            thread.start()
            return thread
    counters = run_worker(spec, caps, settings, producer_factory)
    # The in-memory database dies with this process: hand the trial a file copy.
    if spec.get("backup_to"):
        queue.backup(spec["backup_to"])
    emit("done", **counters, **extra)


ROLES = {"submit": role_submit, "work": role_work, "produce": role_produce, "solo": role_solo}


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``trial_worker.py SPEC_JSON`` (or ``--capabilities``)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--capabilities":
        # Asked before a run: can this interpreter drive a GigQ, and which one?
        emit("capabilities", capabilities=capabilities())
        return 0
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        spec = json.loads(args[0])
        if spec.get("custom_job") and spec.get("job_path") and spec["job_path"] not in sys.path:
            # The user's job module is found where gigq-bench was started, as
            # `gigq worker` finds modules in its current directory.
            sys.path.insert(0, spec["job_path"])
        if spec.get("module_dir"):
            # On sys.path, so job child processes (isolation=process) import the
            # workloads by the name the jobs refer to.
            sys.path.insert(0, spec["module_dir"])
        caps = capabilities()
        check_connections(spec, caps)
        check_queues(spec, caps)
        check_worker_options(spec, caps)
        ROLES[spec["role"]](spec, caps)
    except SystemExit:
        raise
    except BaseException as exc:
        traceback.print_exc()
        emit("error", message=f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
