"""Runs the App as it is deployed, for tests/test_app.py: real processes, real HTTP, real queue.

    with Deployment(gh, tmp_path, "sqlite") as app:          # one process: web + 2 workers
    with Deployment(gh, tmp_path, "postgresql", pg_url):     # a web process + two worker processes
        status, answer = app.deliver("pull_request", pr_event("octo/one", 7, 11))
        jobs = app.wait_idle()

``python -m reviewer.app`` is started with the LGTM575_* variables (LGTM575_BACKEND=fake) and a
``sitecustomize`` that makes ``import torch`` fail, so every scenario also shows that the App's
unit of work needs no torch. Each PostgreSQL deployment gets its own schema. Logs go to files
that ``logs()`` reads back, for the search for secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from reviewer.app.queue import Job, Queue

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec-lgtm575-test-0123456789"
VALID = "the loop never ends\nwhen the list is left empty\nguard the index first"
NO_TORCH = '''import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "peft", "bitsandbytes"):
            raise ImportError(name + " is blocked: the App's fake backend must run without torch")
        return None
sys.meta_path.insert(0, _NoTorch())
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pr_event(repo: str, number: int, installation: int | None, action: str = "opened", head: str = "a" * 40,
             draft: bool = False) -> dict[str, Any]:
    event = {"action": action, "number": number, "repository": {"full_name": repo},
             "pull_request": {"number": number, "draft": draft, "head": {"sha": head}},
             "sender": {"login": "someone", "type": "User"}}
    if installation is not None:
        event["installation"] = {"id": installation}
    return event


def comment_event(repo: str, number: int, installation: int, login: str, body: str = "/haiku") -> dict[str, Any]:
    return {"action": "created", "repository": {"full_name": repo}, "installation": {"id": installation},
            "issue": {"number": number, "pull_request": {"url": "x"}},
            "comment": {"id": 5, "body": body, "user": {"login": login, "type": "User"}},
            "sender": {"login": login, "type": "User"}}


class Deployment:
    def __init__(self, gh: Any, tmp: Path, kind: str, pg_url: str = "", workers: int = 2, lease: float = 3.0,
                 **settings: str) -> None:
        self.gh, self.tmp, self.kind, self.workers = gh, tmp, kind, workers
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.log_files: list[Path] = []
        self.schema = ""
        if kind == "postgresql":
            self.schema = "t_" + uuid.uuid4().hex[:12]
            self._admin(pg_url, f"CREATE SCHEMA {self.schema}")
            self.db = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{self.schema}"
            self.pg_url = pg_url
        else:
            self.db = str(tmp / "lgtm-575-app.sqlite3")
        site = tmp / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(NO_TORCH)
        outputs = tmp / "fake_outputs.json"
        outputs.write_text(json.dumps([VALID]))
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LGTM575_", "GITHUB_"))},
                    "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "PYTHONUNBUFFERED": "1",
                    "LGTM575_APP_ID": str(gh.app_id), "LGTM575_APP_PRIVATE_KEY": gh.private_key_pem,
                    "LGTM575_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": gh.base_url, "LGTM575_DB": self.db,
                    "LGTM575_BACKEND": "fake", "LGTM575_FAKE_OUTPUTS": str(outputs),
                    "LGTM575_WORKERS": str(workers), "LGTM575_LEASE_SECONDS": str(lease),
                    "LGTM575_GITHUB_THROTTLE": "false", "LGTM575_RETRY_SECONDS": "0.2", "LGTM575_LOG_LEVEL": "debug",
                    **{f"LGTM575_{k.upper()}": v for k, v in settings.items()}}
        self.queue = Queue.open(self.db)

    # ------------------------------------------------------------------ processes

    def start(self) -> "Deployment":
        if self.kind == "postgresql":  # the multi-machine shape: stateless web, two worker processes
            self.spawn("web", "--port", str(self.port), LGTM575_WORKERS="0")
            self.spawn("worker1", "--worker")
            self.spawn("worker2", "--worker")
        else:
            self.spawn("app", "--port", str(self.port))
        self.wait_healthy()
        return self

    def spawn(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        log = self.tmp / f"{name}-{len(self.log_files)}.log"
        self.log_files.append(log)
        with open(log, "wb") as handle:
            proc = subprocess.Popen([sys.executable, "-m", "reviewer.app", *args], cwd=self.tmp,
                                    env={**self.env, **env}, stdout=handle, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited {proc.returncode}:\n{self.logs()}")
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the App never became healthy:\n{self.logs()}")

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no cleanup, leases left as they were."""
        proc = self.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def kill_pid(self, pid: int) -> str:
        name = next(n for n, p in self.procs.items() if p.pid == pid)
        self.kill(name)
        return name

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()
        self.queue.close()
        if self.schema:
            self._admin(self.pg_url, f"DROP SCHEMA {self.schema} CASCADE")

    def __enter__(self) -> "Deployment":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _admin(url: str, sql: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)

    def logs(self) -> str:
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in self.log_files if p.exists())

    # ------------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                timeout: float = 10.0) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        try:
            return answer.status, json.loads(data)
        except ValueError:
            return answer.status, data.decode("utf-8", "replace")

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path, timeout=2.0)

    def deliver(self, event: str, payload: Any, delivery: str | None = None, *, secret: str | None = SECRET,
                signature: str | None = None) -> tuple[int, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                   "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "User-Agent": "GitHub-Hookshot/test"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = sign(body, secret)
        return self.request("POST", "/webhook", body, headers)

    def metrics(self) -> dict[str, float]:
        status, text = self.get("/metrics")
        assert status == 200
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    # ------------------------------------------------------------------ the queue

    def jobs(self) -> list[Job]:
        return self.queue.jobs()

    def wait_idle(self, count: int | None = None, timeout: float = 40.0) -> list[Job]:
        """Every job ended (and at least ``count`` exist); the jobs in order."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.jobs()
            if (count is None or len(jobs) >= count) and all(j.state not in ("queued", "running") for j in jobs):
                return jobs
            time.sleep(0.1)
        raise AssertionError(f"jobs did not drain: {[(j.id, j.state, j.error) for j in self.jobs()]}\n{self.logs()}")

    def wait_for(self, check: Any, timeout: float = 20.0, what: str = "a condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")
