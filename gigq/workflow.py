"""Workflow: a graph of dependent jobs, submitted at once."""

from __future__ import annotations

from typing import Any

from .errors import JobDefinitionError
from .job import Job
from .job_queue import JobQueue


class Workflow:
    """Jobs and their dependencies, built step by step and submitted together."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs: list[Job] = []
        self.job_map: dict[str, Job] = {}

    def add_job(self, job: Job, depends_on: list[Job] | None = None) -> Job:
        """Add ``job``; with ``depends_on`` it runs after those jobs completed."""
        if depends_on:
            if isinstance(depends_on, Job) or not all(isinstance(j, Job) for j in depends_on):
                raise JobDefinitionError(
                    f"depends_on of job {job.name!r} must be a list of Job objects, got "
                    f"{depends_on!r}"
                )
            job.dependencies = [j.id for j in depends_on]
        self.jobs.append(job)
        self.job_map[job.id] = job
        return job

    def add_task(
        self,
        decorated_fn: Any,
        params: dict[str, Any] | None = None,
        depends_on: list[Job] | None = None,
        pass_parent_results: bool | None = None,
    ) -> Job:
        """Add a ``@task`` function as a job and return that job."""
        from .decorators import TaskWrapper

        if not isinstance(decorated_fn, TaskWrapper):
            raise TypeError(
                "add_task() requires a @task-decorated function. "
                "Use add_job() for plain Job objects."
            )
        job = decorated_fn.to_job(**(params or {}))
        if pass_parent_results is not None:
            job.pass_parent_results = pass_parent_results
        return self.add_job(job, depends_on=depends_on)

    def submit_all(self, queue: JobQueue) -> list[str]:
        """Submit every job in one transaction; returns their ids in insertion order."""
        return queue.submit_many(self.jobs)
