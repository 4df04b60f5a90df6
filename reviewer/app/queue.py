"""The App's durable queue: deliveries and review jobs in SQLite (one machine) or PostgreSQL (many).

    queue = Queue.open("./lgtm-575-app.sqlite3")                      # LGTM575_DB, the default
    queue = Queue.open("postgresql://lgtm575:pw@db:5432/lgtm575")     # several web and worker machines
    new, job_id = queue.record_delivery(delivery_id, "pull_request", "opened", "queued", spec)
    job = queue.claim(owner, lease=60)  ...  queue.finish(job.id, owner, "done", result)

Two tables. ``lgtm575_deliveries`` has one row per ``X-GitHub-Delivery``: a redelivered delivery
hits its primary key and is answered without a job (and without any GitHub request). The row
and its job are written in one transaction, so a delivery is either recorded with its job or not
at all. ``lgtm575_jobs`` holds the work: queued -> running -> done, failed, skipped; or
superseded, when a newer push to the same PR arrives while the older job is still queued.

Claiming takes the next ready job in one transaction: in PostgreSQL ``SELECT ... FOR UPDATE SKIP
LOCKED`` (claimers on other machines skip each other's rows instead of waiting); in SQLite under
``BEGIN IMMEDIATE`` (one writer at a time). Among ready jobs it picks the installation with the
fewest jobs running (each installation gets its fair share of the workers), then the oldest.
A partial unique index allows one running job per PR, so two workers never post on one PR at
once; a racing claimer that loses gets a unique violation and looks again.

A running job holds a lease that its worker renews (``heartbeat``). A worker killed mid-review
stops renewing; once the lease runs out the job is ready again and the next claim takes it (its
``attempts`` count the lost run). Every write of a worker names its lease (``owner``), so a
worker that lost its job cannot finish it. Times are the database's own clock, so machines need
not agree on the time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

RUNNING_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "skipped", "superseded")
LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class QueueError(Exception):
    """The queue's database cannot be opened or used; one line, no password."""


@dataclass(frozen=True)
class JobSpec:
    """What a delivery asks for. kind: review (a push) or command (``/haiku`` from ``sender``)."""

    kind: str
    installation_id: int  # 0: not in the delivery; the worker asks GitHub
    repo: str
    number: int
    head_sha: str = ""
    sender: str = ""


@dataclass(frozen=True)
class Job:
    id: int
    delivery_id: str
    spec: JobSpec
    state: str
    attempts: int
    error: str = ""
    result: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    lease_owner: str | None = None  # host:pid:...: which worker runs it

    @property
    def outcome(self) -> dict[str, Any]:
        return json.loads(self.result) if self.result else {}


_COLUMNS = ("id, delivery_id, kind, installation_id, repo, number, head_sha, sender, state, attempts, error, "
            "result, created_at, started_at, finished_at, lease_owner")


def _job(row: Any) -> Job:
    (id_, delivery, kind, installation, repo, number, head, sender, state, attempts, error, result,
     created, started, finished, owner) = row
    return Job(int(id_), delivery, JobSpec(kind, int(installation), repo, int(number), head, sender), state,
               int(attempts), error, result, created, started, finished, owner)


class _Dialect:
    name = ""
    now = ""
    serial = ""
    skip_locked = ""

    def connect(self, url: str) -> Any:
        raise NotImplementedError

    def sql(self, text: str) -> str:
        return text.replace("{now}", self.now).replace("{skip_locked}", self.skip_locked)

    def is_conflict(self, err: BaseException) -> bool:
        raise NotImplementedError


class _SQLite(_Dialect):
    name = "sqlite"
    now = "((julianday('now') - 2440587.5) * 86400.0)"
    serial = "INTEGER"

    def connect(self, url: str) -> Any:
        conn = sqlite3.connect(url, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def is_conflict(self, err: BaseException) -> bool:
        return isinstance(err, sqlite3.IntegrityError)


class _Postgres(_Dialect):
    name = "postgresql"
    now = "extract(epoch from clock_timestamp())::double precision"
    serial = "BIGSERIAL"
    skip_locked = "FOR UPDATE OF j SKIP LOCKED"

    def connect(self, url: str) -> Any:
        import psycopg

        return psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="lgtm-575")

    def sql(self, text: str) -> str:
        return super().sql(text).replace("?", "%s")

    def is_conflict(self, err: BaseException) -> bool:
        import psycopg

        return isinstance(err, psycopg.errors.UniqueViolation)


SCHEMA = """
CREATE TABLE IF NOT EXISTS lgtm575_deliveries (
    delivery_id TEXT PRIMARY KEY, event TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,
    job_id BIGINT, received_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS lgtm575_jobs (
    id {serial} PRIMARY KEY, delivery_id TEXT NOT NULL, kind TEXT NOT NULL, installation_id BIGINT NOT NULL,
    repo TEXT NOT NULL, number INTEGER NOT NULL, head_sha TEXT NOT NULL, sender TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, run_after DOUBLE PRECISION NOT NULL,
    lease_owner TEXT, lease_until DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, error TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS lgtm575_jobs_ready ON lgtm575_jobs (state, run_after);
CREATE INDEX IF NOT EXISTS lgtm575_jobs_pr ON lgtm575_jobs (repo, number, state);
CREATE UNIQUE INDEX IF NOT EXISTS lgtm575_jobs_one_running_per_pr ON lgtm575_jobs (repo, number)
    WHERE state = 'running'
"""

# The next job: ready (queued and due, or running with a lapsed lease), on a PR nobody else is
# reviewing, from the installation with the fewest running jobs, oldest first.
CLAIM = """
SELECT j.id FROM lgtm575_jobs j
WHERE ((j.state = 'queued' AND j.run_after <= {now}) OR (j.state = 'running' AND j.lease_until < {now}))
  AND NOT EXISTS (SELECT 1 FROM lgtm575_jobs r WHERE r.state = 'running' AND r.repo = j.repo
                  AND r.number = j.number AND r.id <> j.id)
ORDER BY (SELECT count(*) FROM lgtm575_jobs r WHERE r.state = 'running' AND r.lease_until >= {now}
          AND r.installation_id = j.installation_id), j.id
LIMIT 1 {skip_locked}
"""


MAX_IDLE = 4  # connections kept open between transactions


class Queue:
    """One queue over one database. Each transaction borrows a connection from a small pool, so a
    burst of webhooks on many threads does not leave a connection open per thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect: _Dialect = _Postgres() if url.startswith(("postgresql://", "postgres://")) else _SQLite()
        self._idle: list[Any] = []
        self._pool_lock = threading.Lock()

    @classmethod
    def open(cls, url: str) -> "Queue":
        queue = cls(url)
        try:
            with queue._tx() as cur:
                if queue.dialect.name == "postgresql":
                    cur.execute("SELECT pg_advisory_xact_lock(575575)")  # several processes may start at once
                for statement in SCHEMA.replace("{serial}", queue.dialect.serial).split(";"):
                    cur.execute(statement)
        except QueueError:
            raise
        except Exception as err:  # noqa: BLE001 - sqlite3 or psycopg: one line naming the database
            raise QueueError(f"cannot open the queue at {queue.where}: {_one_line(err)}") from None
        return queue

    @property
    def where(self) -> str:
        """The URL without its password, for messages."""
        if self.dialect.name != "postgresql" or "@" not in self.url:
            return self.url
        scheme, rest = self.url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"

    # ------------------------------------------------------------------ connections

    def _borrow(self) -> Any:
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()
        try:
            return self.dialect.connect(self.url)
        except Exception as err:  # noqa: BLE001
            raise QueueError(f"cannot connect to the queue at {self.where}: {_one_line(err)}") from None

    def _give_back(self, conn: Any, broken: bool) -> None:
        with self._pool_lock:
            if not broken and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a connection that is already gone
            pass

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        conn = self._borrow()
        broken = False
        try:
            if self.dialect.name == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _Cursor(conn.cursor(), self.dialect)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction():
                    yield _Cursor(conn.cursor(), self.dialect)
        except Exception as err:
            if self.dialect.is_conflict(err) or not _is_db_error(err):
                raise
            broken = True  # a fresh connection next time (a restarted server, a lost socket)
            raise QueueError(f"queue at {self.where}: {_one_line(err)}") from None
        finally:
            self._give_back(conn, broken)

    def close(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ------------------------------------------------------------------ the web side

    def record_delivery(self, delivery_id: str, event: str, action: str, outcome: str,
                        spec: JobSpec | None) -> tuple[bool, int | None]:
        """(new, job id). A delivery id seen before: (False, None), nothing written. A review job
        supersedes the PR's jobs still queued: the newer push is what matters."""
        with self._tx() as cur:
            cur.execute("INSERT INTO lgtm575_deliveries (delivery_id, event, action, outcome, received_at) "
                        "VALUES (?, ?, ?, ?, {now}) ON CONFLICT (delivery_id) DO NOTHING",
                        (delivery_id, event, action, outcome))
            if cur.rowcount == 0:
                return False, None
            if spec is None:
                return True, None
            if spec.kind == "review":
                cur.execute("UPDATE lgtm575_jobs SET state = 'superseded', finished_at = {now}, error = ? "
                            "WHERE repo = ? AND number = ? AND state = 'queued'",
                            (f"superseded by delivery {delivery_id}", spec.repo, spec.number))
            cur.execute("INSERT INTO lgtm575_jobs (delivery_id, kind, installation_id, repo, number, head_sha, "
                        "sender, state, run_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', {now}, {now}) "
                        "RETURNING id", (delivery_id, spec.kind, spec.installation_id, spec.repo, spec.number,
                                         spec.head_sha, spec.sender))
            job_id = int(cur.fetchone()[0])
            cur.execute("UPDATE lgtm575_deliveries SET job_id = ? WHERE delivery_id = ?", (job_id, delivery_id))
            return True, job_id

    def delivery(self, delivery_id: str) -> dict[str, Any] | None:
        with self._tx() as cur:
            cur.execute("SELECT event, action, outcome, job_id FROM lgtm575_deliveries WHERE delivery_id = ?",
                        (delivery_id,))
            row = cur.fetchone()
        return None if row is None else dict(zip(("event", "action", "outcome", "job_id"), row))

    # ------------------------------------------------------------------ the worker side

    def claim(self, owner: str, lease: float) -> Job | None:
        """The next job for ``owner``, now running under a lease of ``lease`` seconds; None when
        nothing is ready."""
        for _ in range(5):
            try:
                with self._tx() as cur:
                    cur.execute(CLAIM)
                    row = cur.fetchone()
                    if row is None:
                        return None
                    cur.execute("UPDATE lgtm575_jobs SET state = 'running', attempts = attempts + 1, "
                                "lease_owner = ?, lease_until = {now} + ?, started_at = {now} WHERE id = ?",
                                (owner, lease, row[0]))
                    cur.execute(f"SELECT {_COLUMNS} FROM lgtm575_jobs WHERE id = ?", (row[0],))
                    return _job(cur.fetchone())
            except Exception as err:
                if not self.dialect.is_conflict(err):
                    raise
                # another claimer took a job of the same PR in the meantime: look again
        return None

    def heartbeat(self, owner: str, job_id: int, lease: float) -> bool:
        """Renews the lease; False when the job is no longer ``owner``'s."""
        with self._tx() as cur:
            cur.execute("UPDATE lgtm575_jobs SET lease_until = {now} + ? WHERE id = ? AND lease_owner = ? "
                        "AND state = 'running'", (lease, job_id, owner))
            return cur.rowcount == 1

    def finish(self, job_id: int, owner: str, state: str, result: dict[str, Any] | None = None,
               error: str = "") -> bool:
        assert state in FINAL_STATES
        with self._tx() as cur:
            cur.execute("UPDATE lgtm575_jobs SET state = ?, finished_at = {now}, result = ?, error = ?, "
                        "lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND state = 'running'",
                        (state, json.dumps(result or {}, sort_keys=True), error, job_id, owner))
            return cur.rowcount == 1

    def retry(self, job_id: int, owner: str, delay: float, error: str) -> bool:
        with self._tx() as cur:
            cur.execute("UPDATE lgtm575_jobs SET state = 'queued', run_after = {now} + ?, error = ?, "
                        "lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND state = 'running'",
                        (delay, error, job_id, owner))
            return cur.rowcount == 1

    def running(self) -> list[tuple[int, str]]:
        """(job id, lease owner) of every running job."""
        with self._tx() as cur:
            cur.execute("SELECT id, lease_owner FROM lgtm575_jobs WHERE state = 'running'")
            return [(int(i), owner or "") for i, owner in cur.fetchall()]

    def expire(self, job_id: int, owner: str) -> bool:
        """Ends the lease of a job whose worker is known to be dead: the next claim takes it."""
        with self._tx() as cur:
            cur.execute("UPDATE lgtm575_jobs SET lease_until = {now} - 1 WHERE id = ? AND lease_owner = ? "
                        "AND state = 'running'", (job_id, owner))
            return cur.rowcount == 1

    # ------------------------------------------------------------------ reading

    def job(self, job_id: int) -> Job | None:
        with self._tx() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM lgtm575_jobs WHERE id = ?", (job_id,))
            row = cur.fetchone()
        return None if row is None else _job(row)

    def jobs(self) -> list[Job]:
        with self._tx() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM lgtm575_jobs ORDER BY id")
            return [_job(row) for row in cur.fetchall()]

    def stats(self) -> dict[str, Any]:
        """Jobs per state, deliveries recorded, and the latency histogram of done jobs (from the
        delivery to the review posted): what /metrics shows, for every worker of the queue."""
        sums = ", ".join(f"SUM(CASE WHEN finished_at - created_at <= {b} THEN 1 ELSE 0 END)" for b in LATENCY_BUCKETS)
        with self._tx() as cur:
            cur.execute("SELECT state, count(*) FROM lgtm575_jobs GROUP BY state")
            states = {state: int(count) for state, count in cur.fetchall()}
            cur.execute(f"SELECT {sums}, count(*), COALESCE(SUM(finished_at - created_at), 0) FROM lgtm575_jobs "
                        "WHERE state = 'done'")
            row = cur.fetchone()
        buckets = [(bound, int(count or 0)) for bound, count in zip(LATENCY_BUCKETS, row)]
        return {"states": states, "latency_buckets": buckets, "latency_count": int(row[-2] or 0),
                "latency_sum": float(row[-1] or 0.0)}


class _Cursor:
    """A DB-API cursor whose SQL is written once: ``?`` parameters and ``{now}``."""

    def __init__(self, cur: Any, dialect: _Dialect) -> None:
        self.cur, self.dialect = cur, dialect

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.cur.execute(self.dialect.sql(sql), params)

    @property
    def rowcount(self) -> int:
        return self.cur.rowcount

    def fetchone(self) -> Any:
        return self.cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self.cur.fetchall()


def _is_db_error(err: BaseException) -> bool:
    if isinstance(err, sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(err, psycopg.Error)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__
