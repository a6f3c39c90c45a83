"""The 0.5.x import surface and the shapes existing code relies on.

The contract: docs/architecture.md, "Compatibility promises".
"""

import importlib
import logging

import jobfns
import pytest

import gigq
from gigq import Job, JobQueue, JobStatus, Worker, Workflow, task
from gigq.decorators import TaskWrapper
from gigq.table_formatter import format_table, simple_table


def test_public_names_and_version():
    for name in ("Job", "JobQueue", "JobStatus", "Worker", "Workflow", "task",
                 "close_connections", "setup_logging"):
        assert hasattr(gigq, name)
    assert isinstance(gigq.__version__, str) and gigq.__version__


@pytest.mark.parametrize("path", [
    "gigq.job:Job", "gigq.job_status:JobStatus", "gigq.job_queue:JobQueue",
    "gigq.worker:Worker", "gigq.workflow:Workflow", "gigq.decorators:task",
    "gigq.decorators:TaskWrapper", "gigq.db_utils:get_connection",
    "gigq.db_utils:close_connection", "gigq.db_utils:close_connections",
    "gigq.table_formatter:format_table", "gigq.table_formatter:simple_table",
    "gigq.utils:setup_logging", "gigq.utils:format_timestamp", "gigq.cli:main",
    "gigq.cli:cmd_submit", "gigq.cli:cmd_status", "gigq.cli:cmd_list", "gigq.cli:cmd_cancel",
    "gigq.cli:cmd_requeue", "gigq.cli:cmd_clear", "gigq.cli:cmd_stats", "gigq.cli:cmd_worker",
    "gigq.cli:format_time",
])
def test_module_paths(path):
    module, name = path.split(":")
    assert hasattr(importlib.import_module(module), name)


def test_logging_is_opt_in():
    import subprocess
    import sys

    probe = (
        "import logging, gigq; lg = logging.getLogger('gigq'); "
        "print([type(h).__name__ for h in lg.handlers], logging.getLogger().handlers)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
    assert out.strip() == "['NullHandler'] []"
    logger = logging.getLogger("gigq")
    gigq.setup_logging(logging.DEBUG)
    try:
        handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
        assert len(handlers) == 1
        assert handlers[0].formatter._fmt == "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.addHandler(logging.NullHandler())
        logger.setLevel(logging.NOTSET)


def test_job_status_values_in_order():
    assert [s.value for s in JobStatus] == [
        "pending", "running", "completed", "failed", "cancelled", "timeout"]
    with pytest.raises(ValueError):
        JobStatus("bogus")


def test_job_defaults():
    job = Job("n", jobfns.noop)
    assert job.params == {} and job.dependencies == []
    assert (job.priority, job.max_attempts, job.timeout, job.description) == (0, 3, 300, "")
    assert job.pass_parent_results is None and job.retry_delay == 0
    assert len(job.id) == 36 and job.created_at
    other = Job("n", jobfns.noop)
    assert other.params is not job.params and other.id != job.id


def test_task_decorator_forms_and_repr():
    assert isinstance(jobfns.double, TaskWrapper)
    assert jobfns.double(4) == 8
    assert jobfns.double.__name__ == "double" and jobfns.double.__wrapped__.__name__ == "double"
    assert repr(jobfns.produce) == (
        "<TaskWrapper 'produce' (description='', max_attempts=3, priority=0, "
        "retry_delay=0, timeout=300)>")
    job = jobfns.double.to_job(x=3)
    assert job.name == "double" and job.max_attempts == 2 and job.params == {"x": 3}
    assert job.function is jobfns.double.__wrapped__


@pytest.mark.parametrize("fn, word", [
    (lambda: 1, "lambda"),
    (42, "callable"),
    (jobfns.double, "twice"),
])
def test_task_rejects(fn, word):
    with pytest.raises(TypeError, match=word):
        task(fn)


def test_task_rejects_async_generator_nested_method_and_unknown_option():
    async def coro():
        pass

    def gen():
        yield 1

    def nested():
        pass

    class C:
        def m(self):
            pass

    with pytest.raises(TypeError, match="async"):
        task(coro)
    with pytest.raises(TypeError, match="generator"):
        task(gen)
    with pytest.raises(TypeError, match="closures or nested"):
        task(nested)
    C.m.__qualname__ = "C.m"
    with pytest.raises(TypeError, match="methods"):
        task(C.m)
    with pytest.raises(TypeError, match="bogus"):
        task(bogus=1)(jobfns.noop)


def test_task_submit_calls_queue_once(db_path):
    class Recorder:
        def __init__(self):
            self.jobs = []

        def submit(self, job):
            self.jobs.append(job)
            return job.id

    rec = Recorder()
    job_id = jobfns.double.submit(rec, x=2)
    assert len(rec.jobs) == 1 and rec.jobs[0].id == job_id


def test_workflow_add_task_requires_task(db_path):
    wf = Workflow("w")
    with pytest.raises(TypeError, match="@task"):
        wf.add_task(jobfns.noop)
    a = wf.add_task(jobfns.produce)
    b = wf.add_task(jobfns.consume, depends_on=[a])
    assert b.dependencies == [a.id] and wf.job_map[a.id] is a
    assert wf.submit_all(JobQueue(db_path)) == [a.id, b.id]


def test_format_table_shape():
    assert format_table([]) == "No data to display."
    out = format_table([["a", 1], ["bbb", 22]], headers=["X", "Y"])
    assert out.splitlines() == [
        "+-----+----+",
        "| X   | Y  |",
        "+-----+----+",
        "| a   | 1  |",
        "| bbb | 22 |",
        "+-----+----+",
    ]
    assert format_table([["a"]]).splitlines() == ["+---+", "| a |", "+---+"]


def test_simple_table_shape():
    assert simple_table([["a", 1]], headers=["Xy", "Y"]).splitlines() == [
        "Xy Y", "---", "a  1"]


def test_format_time():
    from gigq.cli import format_time

    assert format_time(None) == "-" and format_time("") == "-"
    assert format_time("2026-01-02T03:04:05.123456") == "2026-01-02 03:04:05"
    assert format_time("yesterday") == "yesterday"


def test_db_utils_connection_cached(db_path):
    from gigq import db_utils

    JobQueue(db_path)
    a = db_utils.get_connection(db_path)
    assert a is db_utils.get_connection(db_path)
    assert a.row_factory is __import__("sqlite3").Row
    db_utils.close_connection(db_path)
    assert db_utils.get_connection(db_path) is not a
    db_utils.close_connections()
    db_utils.close_connections()  # no-op when nothing is open


def test_worker_attributes(db_path):
    w = Worker(db_path, polling_interval=0.5, concurrency=2)
    assert w.worker_id.startswith("worker-") and w.polling_interval == 0.5
    assert w.concurrency == 2 and w.running is False and w.current_job_id is None
    with pytest.raises(ValueError):
        Worker(db_path, concurrency=0)
