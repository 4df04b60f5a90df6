"""Workers: threads that claim jobs from the queue, run them, and record how each ended.

    pool = WorkerPool(queue, ctx, workers=2); pool.start() ... pool.stop()
    python -m reviewer.app --worker          # a process with workers only (another machine)

Concurrency is bounded by ``workers`` per process (LGTM575_WORKERS) times the processes sharing
the queue; the queue's claim gives each installation its fair share. One heartbeat thread renews
the lease of every job the process holds; a killed process renews nothing, so its jobs return to
the queue when their leases lapse and another worker (or this one, restarted) runs them again:
fingerprints make that second run post only what the first did not.

Leases cover a machine that dies; a process that dies on a machine that lives is noticed sooner.
Every lease owner names its host, process id and pid namespace (``host:pid:ns:token:index``); a
worker that starts, and every heartbeat after, ends the leases of owners on its own host and
namespace whose process is gone (``kill -9`` and a restart, or a sibling worker process killed),
so their jobs are taken again at once instead of when the lease would lapse.

A job that raises is retried after ``retry_seconds * 2**(attempt-1)`` (at most 15 minutes) until
``max_attempts``, then recorded as failed with its reason; a ``Final`` error is recorded at
once. A job whose lease another worker took is dropped without a word to the queue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from reviewer.app.job import Final, JobContext, LeaseLost, run_job
from reviewer.app.queue import Job, Queue, QueueError
from reviewer.backends.base import BackendError
from reviewer.github import GitHubError

LOG = logging.getLogger("lgtm575.app.worker")
MAX_BACKOFF = 900.0
POLL_SECONDS = 0.25


class WorkerPool:
    def __init__(self, queue: Queue, ctx: JobContext, workers: int) -> None:
        self.queue, self.ctx, self.workers = queue, ctx, workers
        self.stopping = threading.Event()
        self.lease = ctx.settings.lease_seconds
        self.host, self.namespace = socket.gethostname().replace(":", "_"), _namespace()
        self.prefix = f"{self.host}:{os.getpid()}:{self.namespace}:{uuid.uuid4().hex[:6]}"
        self._held: dict[int, str] = {}  # job id -> owner, for the heartbeat
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.release_orphans()
        for index in range(self.workers):
            thread = threading.Thread(target=self._loop, args=(f"{self.prefix}:{index}",),
                                      name=f"lgtm575-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        beat = threading.Thread(target=self._heartbeat, name="lgtm575-heartbeat", daemon=True)
        beat.start()
        self._threads.append(beat)
        LOG.info("%d workers started (%s), lease %.0f s", self.workers, self.prefix, self.lease)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; wait a while for running jobs. Those still running keep their lease
        and return to the queue when it lapses."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ the loops

    def _loop(self, owner: str) -> None:
        self.ctx.model.loaded.wait()
        while not self.stopping.is_set():
            try:
                job = self.queue.claim(owner, self.lease)
            except QueueError as err:
                LOG.error("claim failed: %s", err)
                self.stopping.wait(2.0)
                continue
            if job is None:
                self.stopping.wait(POLL_SECONDS)
                continue
            self._run(job, owner)

    def _run(self, job: Job, owner: str) -> None:
        where = f"job {job.id} ({job.spec.kind} {job.spec.repo}#{job.spec.number}, attempt {job.attempts})"
        if job.attempts > self.ctx.settings.max_attempts:
            self._record(job, owner, "failed", error=job.error or "the worker running it stopped (killed or lost)")
            return
        with self._lock:
            self._held[job.id] = owner
        started = time.monotonic()
        LOG.info("%s: started", where)
        try:
            outcome = run_job(job, self.ctx, lambda: self._still_mine(job.id, owner))
        except LeaseLost as err:
            LOG.warning("%s: %s", where, err)
        except Final as err:
            LOG.error("%s: failed: %s", where, err)
            self._record(job, owner, "failed", error=str(err))
        except Exception as err:  # noqa: BLE001 - any other failure is retried, then recorded
            self._failed(job, owner, where, err)
        else:
            LOG.info("%s: %s in %.1f s", where, outcome.state, time.monotonic() - started)
            self._record(job, owner, outcome.state, outcome.result)
        finally:
            with self._lock:
                self._held.pop(job.id, None)

    def _failed(self, job: Job, owner: str, where: str, err: BaseException) -> None:
        reason = self.ctx.redact(_reason(err))
        if isinstance(err, GitHubError) and err.kind == "auth":
            self.ctx.tokens.forget(job.spec.installation_id)
        if job.attempts >= self.ctx.settings.max_attempts:
            LOG.error("%s: failed for good: %s", where, reason)
            self._record(job, owner, "failed", error=f"after {job.attempts} attempts: {reason}")
            return
        delay = min(MAX_BACKOFF, self.ctx.settings.retry_seconds * 2 ** (job.attempts - 1))
        LOG.warning("%s: %s; retrying in %.0f s", where, reason, delay)
        try:
            self.queue.retry(job.id, owner, delay, reason)
        except QueueError as qerr:
            LOG.error("%s: could not requeue: %s", where, qerr)

    def _record(self, job: Job, owner: str, state: str, result: dict[str, Any] | None = None, error: str = "") -> None:
        try:
            if not self.queue.finish(job.id, owner, state, result, self.ctx.redact(error)):
                LOG.warning("job %d: finished here, but its lease had passed to another worker", job.id)
        except QueueError as err:
            LOG.error("job %d: could not record %s: %s (the lease will lapse and it runs again)", job.id, state, err)

    def _still_mine(self, job_id: int, owner: str) -> bool:
        try:
            return self.queue.heartbeat(owner, job_id, self.lease)
        except QueueError:
            return False

    def release_orphans(self) -> None:
        """Ends the leases of jobs whose worker process on this host is gone."""
        if not self.namespace:
            return
        try:
            for job_id, owner in self.queue.running():
                if self._orphaned(owner) and self.queue.expire(job_id, owner):
                    LOG.warning("job %d: its worker (%s) is gone; it runs again", job_id, owner.rsplit(":", 2)[0])
        except QueueError as err:
            LOG.error("looking for orphaned jobs failed: %s", err)

    def _orphaned(self, owner: str) -> bool:
        parts = owner.split(":")
        if len(parts) != 5 or parts[0] != self.host or parts[2] != self.namespace or not parts[1].isdigit():
            return False
        if owner.startswith(self.prefix + ":"):
            return False  # ours
        pid = int(parts[1])
        return pid == os.getpid() or not _alive(pid)  # our pid with another token: our former self

    def _heartbeat(self) -> None:
        while not self.stopping.wait(max(0.2, self.lease / 3)):
            self.release_orphans()
            with self._lock:
                held = dict(self._held)
            for job_id, owner in held.items():
                try:
                    if not self.queue.heartbeat(owner, job_id, self.lease):
                        LOG.warning("job %d: lease lost to another worker", job_id)
                except QueueError as err:
                    LOG.error("heartbeat failed: %s", err)


def _namespace() -> str:
    """This boot of this kernel and this pid namespace: where a process id means one process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        return hashlib.sha1(f"{boot}{os.readlink('/proc/self/ns/pid')}".encode()).hexdigest()[:8]
    except OSError:
        return ""  # not Linux: leases alone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reason(err: BaseException) -> str:
    if isinstance(err, (GitHubError, BackendError, QueueError)):
        return " ".join(str(err).split())
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:500]
