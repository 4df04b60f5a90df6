"""The GitHub App end to end: ``python -m reviewer.app`` under uvicorn on loopback, signed deliveries
over HTTP, the loopback fake GitHub with the App's endpoints (tests/fake_github_app.py: JWTs
checked against the App's public key, tokens scoped to their installation), LGTM575_BACKEND=fake
and torch blocked in every process (tests/app_harness.py).

    .venv/bin/python -m pytest -q tests/test_app.py
    LGTM575_TEST_DATABASE_URL=postgresql://... .venv/bin/python -m pytest -q tests/test_app.py

Scenarios: opened posts one review; a bad or missing signature (and a body over 25 MB) queues
nothing; the same delivery twice posts one review and makes no GitHub request; synchronize posts
only new hunks; a newer push supersedes a queued one; kill -9 mid-job (after the review was
created) and a restart complete the job once; three repositories under two installations use
their own tokens; tokens are cached and refreshed; a burst of 20 drains with bounded concurrency
and fair shares; /haiku from a writer and from anyone else; retries then a recorded failure; one
OpenAI-compatible server for every installation; no key or token in any log, answer or body.

Every scenario runs on both queues: SQLite with one process (web + 2 workers), and the real
PostgreSQL server (.ci/postgres.sh installs and starts it; .ci/run calls it) with a web process
and two worker processes, the multi-machine shape. The PostgreSQL runs skip, saying why, only
when no server answers and CI is not set; under CI a missing server fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from reviewer.app.events import route
from reviewer.app.web import signature_ok
from reviewer.github import MARKER_RE
from tests.app_harness import ROOT, SECRET, VALID, Deployment, comment_event, pr_event, sign
from tests.fake_github import FakeFile
from tests.fake_github_app import FakeGitHubApp

OLD = [f"value_{i} = {i}" for i in range(60)]
PG_DEFAULT = "postgresql://lgtm575:lgtm575@127.0.0.1:5432/lgtm575_test"


def edited(path: str, *changes: int, text: str = "+ 1") -> FakeFile:
    new = list(OLD)
    for line in changes:
        new[line] = f"value_{line} = {line} {text}"
    return FakeFile.edit(path, OLD, new)


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("LGTM575_TEST_DATABASE_URL", PG_DEFAULT)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as err:  # noqa: BLE001
        message = f"no PostgreSQL server at {url.split('@')[-1]} ({type(err).__name__}); run .ci/postgres.sh"
        if os.environ.get("CI"):
            pytest.fail(message + " - .ci/run must start it")
        pytest.skip(message)
    return url


@pytest.fixture
def gh():
    with FakeGitHubApp(app_id=575) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def make(gh, tmp_path, kind, request):
    """Starts deployments of the parametrized kind; stops them and searches their logs for secrets."""
    started: list[Deployment] = []

    def start(**settings: str) -> Deployment:
        pg = request.getfixturevalue("pg_url") if kind == "postgresql" else ""
        folder = tmp_path / f"d{len(started)}"
        folder.mkdir()
        deployment = Deployment(gh, folder, kind, pg, **settings)
        started.append(deployment)
        return deployment.start()

    yield start
    for deployment in started:
        deployment.stop()
        assert_no_secrets(gh, deployment.logs())


def assert_no_secrets(gh: FakeGitHubApp, text: str) -> None:
    key_lines = [line for line in gh.private_key_pem.splitlines() if not line.startswith("-----")]
    assert not any(line in text for line in key_lines), "a line of the private key is in a log"
    assert SECRET not in text, "the webhook secret is in a log"
    leaked = [t for t in gh.issued if t in text]
    assert not leaked, f"{len(leaked)} installation tokens are in a log"


def bodies(repo) -> list[str]:
    return [c["body"] for c in repo.posted()]


# ----------------------------------------------------------------------------- the scenarios


def test_opened_posts_one_review(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5, 40), edited("lib/util.py", 10)], head_sha="f" * 40)
    app = make()
    status, answer = app.deliver("pull_request", pr_event("octo/one", 7, 11, head="f" * 40))
    assert status == 202 and answer["status"] == "queued"
    (job,) = app.wait_idle(1)
    assert job.state == "done" and job.outcome["posted"] == 3, job.error
    assert len(repo.reviews) == 1 and repo.reviews[0]["commit_id"] == "f" * 40
    posts = [r for r in gh.requests_of("octo/one") if r["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["body"]["event"] == "COMMENT" and len(posts[0]["body"]["comments"]) == 3
    assert all(b.startswith(VALID) and MARKER_RE.search(b) for b in bodies(repo))
    metrics = app.metrics()
    assert metrics['lgtm575_deliveries_total{event="pull_request",outcome="queued"}'] == 1
    assert metrics['lgtm575_reviews_total{outcome="done"}'] == 1
    assert metrics['lgtm575_queue_depth{state="queued"}'] == 0
    assert metrics["lgtm575_review_latency_seconds_count"] == 1


def test_a_bad_or_missing_signature_gets_401_and_queues_nothing(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5)])
    app = make()
    event = pr_event("octo/one", 7, 11)
    assert app.deliver("pull_request", event, secret=None)[0] == 401
    assert app.deliver("pull_request", event, secret="not-the-secret")[0] == 401
    assert app.deliver("pull_request", event, signature="sha256=" + "0" * 64)[0] == 401
    assert app.deliver("pull_request", event, signature="sha1=abc")[0] == 401
    huge = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    assert app.deliver("pull_request", huge, signature=sign(huge))[0] == 413
    time.sleep(0.5)
    assert app.jobs() == [] and app.queue.delivery("x") is None and gh.requests == []
    assert app.metrics()['lgtm575_deliveries_total{event="unverified",outcome="bad_signature"}'] == 4


def test_ping_drafts_and_other_events_queue_no_review(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5)])
    app = make()
    assert app.deliver("ping", {"zen": "Keep it logically awesome.", "hook_id": 1}) == (202, {"status": "pong"})
    assert app.deliver("installation", {"action": "created", "installation": {"id": 11}})[1]["status"] == "logged"
    assert app.deliver("pull_request", pr_event("octo/one", 7, 11, draft=True))[1]["status"] == "skipped_draft"
    assert app.deliver("pull_request", pr_event("octo/one", 7, 11, action="closed"))[1]["status"] == "ignored"
    assert app.deliver("issue_comment", comment_event("octo/one", 7, 11, "octocat", "nice"))[1]["status"] == "ignored"
    assert app.deliver("push", {"ref": "refs/heads/main"})[1]["status"] == "ignored"
    assert app.deliver("pull_request", b"not json")[0] == 400
    assert app.jobs() == [] and gh.requests == []


def test_the_same_delivery_twice_posts_one_review(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5, 40)])
    app = make()
    event = pr_event("octo/one", 7, 11)
    assert app.deliver("pull_request", event, "delivery-1")[1]["status"] == "queued"
    app.wait_idle(1)
    before = len(gh.requests)
    assert app.deliver("pull_request", event, "delivery-1") == (202, {"status": "duplicate"})
    time.sleep(1.0)
    assert len(gh.requests) == before  # a redelivered delivery makes no GitHub request at all
    assert len(app.jobs()) == 1 and len(repo.reviews) == 1 and len(repo.posted()) == 2


def test_synchronize_posts_only_new_hunks(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5, 40), edited("old.py", 20)])
    app = make()
    app.deliver("pull_request", pr_event("octo/one", 7, 11))
    app.wait_idle(1)
    first = repo.posted()
    repo.push(7, [edited("app.py", 5, 40, text="+ 2"), edited("old.py", 20)], head_sha="e" * 40)
    app.deliver("pull_request", pr_event("octo/one", 7, 11, action="synchronize", head="e" * 40))
    jobs = app.wait_idle(2)
    assert [j.state for j in jobs] == ["done", "done"]
    assert jobs[1].outcome["posted"] == 2 and jobs[1].outcome["already_posted"] == 1
    second = [r for r in gh.requests_of("octo/one") if r["method"] == "POST"][1]["body"]
    assert second["commit_id"] == "e" * 40 and {c["path"] for c in second["comments"]} == {"app.py"}
    assert sorted(c["path"] for c in repo.posted()) == ["app.py", "app.py", "old.py"]
    assert [c for c in first if c["path"] == "old.py"][0] in repo.posted()


def test_a_newer_push_supersedes_a_queued_older_one(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5)])
    app = make()
    gh.stall("GET", r"/repos/octo/one/pulls/7$", 1.5, after_write=False)  # the first job is slow
    app.deliver("pull_request", pr_event("octo/one", 7, 11))
    app.wait_for(lambda: any(j.state == "running" for j in app.jobs()), what="the first job to run")
    app.deliver("pull_request", pr_event("octo/one", 7, 11, action="synchronize", head="b" * 40))
    app.deliver("pull_request", pr_event("octo/one", 7, 11, action="synchronize", head="c" * 40))
    jobs = app.wait_idle(3)
    assert [j.state for j in jobs] == ["done", "superseded", "done"]
    assert len(repo.reviews) == 1 and len(repo.posted()) == 1


def test_killing_the_worker_mid_job_and_restarting_it_completes_the_job_once(gh, make, kind):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5, 40), edited("b.py", 7)])
    app = make(lease_seconds="60")  # the restarted worker sees its former self is gone: no 60 s wait
    # the review is created on GitHub's side, its answer is late: the worker dies waiting for it
    gh.stall("POST", r"/repos/octo/one/pulls/7/reviews$", 10.0, after_write=True)
    app.deliver("pull_request", pr_event("octo/one", 7, 11), "delivery-kill")
    app.wait_for(lambda: len(repo.reviews) == 1, what="the review to be created")
    (running,) = app.jobs()
    assert running.state == "running"
    if kind == "postgresql":
        killed = app.kill_pid(int(running.lease_owner.split(":")[1]))
        app.spawn(killed, "--worker")
    else:
        app.kill("app")
        app.spawn("app", "--port", str(app.port))
        app.wait_healthy()
    (job,) = app.wait_idle(1, timeout=30)
    assert job.state == "done" and job.attempts == 2, job.error
    assert job.outcome["posted"] == 0 and job.outcome["already_posted"] == 3
    assert len(repo.reviews) == 1 and len(repo.posted()) == 3
    fingerprints = [MARKER_RE.search(b).group(1) for b in bodies(repo)]
    assert len(set(fingerprints)) == 3
    assert app.deliver("pull_request", pr_event("octo/one", 7, 11), "delivery-kill")[1]["status"] == "duplicate"


def test_three_repositories_under_two_installations_each_use_their_own_token(gh, make):
    repos = {"acme/one": 11, "acme/two": 11, "other/three": 22}
    for name, installation in repos.items():
        gh.add_repo(name, installation).add_pull(3, [edited("app.py", 5)])
    app = make()
    for name, installation in repos.items():
        app.deliver("pull_request", pr_event(name, 3, installation if name != "acme/two" else None))
    jobs = app.wait_idle(3)
    assert all(j.state == "done" for j in jobs), [j.error for j in jobs]
    for name, installation in repos.items():
        requests = [r for r in gh.requests_of(name) if not r["path"].endswith("/installation")]
        assert requests and all(r["auth"] == "token" and r["installation"] == installation for r in requests)
        assert len(gh.repos[name].posted()) == 1
    # acme/two's delivery named no installation: the App asked GitHub with its JWT
    lookups = [r for r in gh.requests if r["path"].endswith("/repos/acme/two/installation")]
    assert len(lookups) == 1 and lookups[0]["auth"] == "jwt"
    grants = [r for r in gh.requests if r["path"].endswith("/access_tokens")]
    assert all(r["auth"] == "jwt" for r in grants)
    processes = 2 if app.kind == "postgresql" else 1  # each process caches its own tokens
    assert 2 <= len(grants) <= 2 * processes
    assert {i for i, _ in gh.issued.values()} == {11, 22}


def test_installation_tokens_are_cached_until_shortly_before_they_expire(tmp_path, kind, request):
    with FakeGitHubApp(app_id=575, token_ttl=4.0) as gh:  # GitHub grants an hour; this fake, 4 s
        for n in range(3):
            gh.add_repo(f"octo/r{n}", 11).add_pull(1, [edited("app.py", 5)])
        pg = request.getfixturevalue("pg_url") if kind == "postgresql" else ""
        with Deployment(gh, tmp_path, kind, pg, workers=1) as app:
            app.deliver("pull_request", pr_event("octo/r0", 1, 11))
            app.wait_idle(1)
            app.deliver("pull_request", pr_event("octo/r1", 1, 11))
            app.wait_idle(2)
            processes = 2 if kind == "postgresql" else 1
            assert len(gh.issued) <= processes  # the second job reused the token (each process has its own)
            time.sleep(3.2)  # past three quarters of its life: the token is replaced, not used to its end
            app.deliver("pull_request", pr_event("octo/r2", 1, 11))
            jobs = app.wait_idle(3)
        assert all(j.state == "done" for j in jobs) and len(gh.issued) >= 2
        assert all(r["token_expires"] - r["time"] > 0.9 for r in gh.requests_of("octo/r2"))
        assert_no_secrets(gh, app.logs())


def test_a_burst_of_20_deliveries_drains_with_bounded_concurrency_and_fair_shares(gh, make, kind):
    big = [f"big/r{n:02}" for n in range(16)]
    small = [f"small/r{n}" for n in range(4)]
    for name in big + small:
        gh.add_repo(name, 11 if name in big else 22).add_pull(1, [edited("app.py", 5)])
    gh.stall("GET", r"/repos/[^/]+/[^/]+/pulls/1$", 0.3, times=40, after_write=False)  # each job takes a while
    app = make()
    limit = 2 * app.workers if kind == "postgresql" else app.workers  # two worker processes, or one
    started = time.monotonic()
    answers = [app.deliver("pull_request", pr_event(name, 1, 11)) for name in big]
    # installation 11 has a backlog and every worker busy; then installation 22's four arrive
    app.wait_for(lambda: sum(j.state == "running" for j in app.jobs()) >= 2, what="the workers to be busy")
    answers += [app.deliver("pull_request", pr_event(name, 1, 22)) for name in small]
    answered = time.monotonic() - started
    assert all(status == 202 and answer["status"] == "queued" for status, answer in answers)
    jobs = app.wait_idle(20, timeout=90)
    assert answered < 10 and all(j.state == "done" for j in jobs)
    assert all(len(gh.repos[n].posted()) == 1 for n in big + small)
    events = sorted([(j.started_at, 1) for j in jobs] + [(j.finished_at, -1) for j in jobs])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert 2 <= peak <= limit
    # fair shares: installation 22 does not wait behind installation 11's backlog (FIFO would
    # start all 16 of 11's first); its first job starts before most of 11's queued ones
    first_small = min(j.started_at for j in jobs if j.spec.repo in small)
    assert sum(j.started_at > first_small for j in jobs if j.spec.repo in big) >= 6


def test_haiku_from_a_writer_re_reviews_and_from_anyone_else_posts_nothing(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5, 40)])
    repo.files_in_repo[".github/lgtm-575.yml"] = "max_comments: 1\n"
    repo.permissions.update({"maintainer": "write", "visitor": "read"})
    app = make()
    app.deliver("pull_request", pr_event("octo/one", 7, 11))
    app.wait_idle(1)
    assert len(repo.posted()) == 1  # the repository's file caps a run at one
    before = len(gh.requests_of("octo/one"))
    assert app.deliver("issue_comment", comment_event("octo/one", 7, 11, "visitor"))[1]["status"] == "queued"
    jobs = app.wait_idle(2)
    assert jobs[1].state == "skipped" and "visitor" in jobs[1].outcome["reason"]
    after = gh.requests_of("octo/one")[before:]
    assert after and all(r["method"] == "GET" for r in after)  # no review, no reply comment, nothing
    assert any(r["path"].endswith("/collaborators/visitor/permission") for r in after)
    assert app.deliver("issue_comment", comment_event("octo/one", 7, 11, "maintainer", "/haiku please"))[0] == 202
    jobs = app.wait_idle(3)
    assert jobs[2].state == "done" and jobs[2].outcome["posted"] == 1 and len(repo.posted()) == 2


def test_a_failing_job_is_retried_with_backoff_then_recorded_as_failed(gh, make):
    flaky = gh.add_repo("octo/flaky", installation=11)
    flaky.add_pull(1, [edited("app.py", 5)])
    broken = gh.add_repo("octo/broken", installation=11)
    broken.add_pull(1, [edited("app.py", 5)])
    gh.fail("GET", r"/repos/octo/flaky/pulls/1$", 401, times=2, message="Bad credentials")
    gh.fail("GET", r"/repos/octo/broken/pulls/1$", 401, times=50, message="Bad credentials")
    app = make(max_attempts="3")
    app.deliver("pull_request", pr_event("octo/flaky", 1, 11))
    app.deliver("pull_request", pr_event("octo/broken", 1, 11))
    jobs = {j.spec.repo: j for j in app.wait_idle(2)}
    assert jobs["octo/flaky"].state == "done" and jobs["octo/flaky"].attempts == 3
    assert len(flaky.posted()) == 1
    failed = jobs["octo/broken"]
    assert failed.state == "failed" and failed.attempts == 3
    assert "after 3 attempts" in failed.error and "HTTP 401" in failed.error and broken.posted() == []
    assert app.metrics()['lgtm575_reviews_total{outcome="failed"}'] == 1


def test_one_model_server_serves_every_installation_through_the_openai_backend(gh, make):
    from tests.fake_openai import FakeOpenAI

    key = "sk-test-0123456789abcdefLGTM"
    for name, installation in (("acme/one", 11), ("other/two", 22)):
        gh.add_repo(name, installation).add_pull(2, [edited("app.py", 5, 40)])
    with FakeOpenAI(lambda messages, k: VALID, api_key=key, models=("reviewer",)) as llm:
        # one pass from hunk to haiku: this scenario is about serving, not about how haiku are written
        # (LGTM575_TWO_STAGE, where the generation settings have it, would otherwise ask for a finding)
        app = make(backend="openai", openai_base_url=llm.base_url, model="reviewer", openai_api_key=key,
                   two_stage="off")
        app.deliver("pull_request", pr_event("acme/one", 2, 11))
        app.deliver("pull_request", pr_event("other/two", 2, 22))
        jobs = app.wait_idle(2)
        assert all(j.state == "done" and j.outcome["posted"] == 2 for j in jobs), [j.error or j.result for j in jobs]
        chats = [r for r in llm.requests if r["path"].endswith("/chat/completions")]
        assert len(chats) >= 4 and all(r["body"]["model"] == "reviewer" for r in chats)
    assert key not in app.logs() and all(key not in b for n in ("acme/one", "other/two") for b in bodies(gh.repos[n]))


def test_the_private_key_and_the_tokens_appear_in_no_log_response_or_body(gh, make):
    repo = gh.add_repo("octo/one", installation=11)
    repo.add_pull(7, [edited("app.py", 5)])
    locked = gh.add_repo("octo/locked", installation=22)
    locked.add_pull(1, [edited("app.py", 5)])
    locked.read_only = True  # the App lacks pull requests: write there
    app = make()
    answers = [app.deliver("pull_request", pr_event("octo/one", 7, 11)),
               app.deliver("pull_request", pr_event("octo/locked", 1, 22)),
               app.deliver("pull_request", pr_event("octo/one", 7, 11), secret="wrong"), app.get("/metrics")]
    jobs = {j.spec.repo: j for j in app.wait_idle(2)}
    assert jobs["octo/one"].state == "done"
    assert jobs["octo/locked"].state == "failed" and "may not post" in jobs["octo/locked"].error
    assert gh.issued  # tokens were handed out; the fixture searches every log for them and the key
    texts = [str(a) for a in answers] + bodies(repo) + [j.error + j.result for j in jobs.values()]
    assert_no_secrets(gh, "\n".join(texts))


# ----------------------------------------------------------------------------- start-up and pure parts


@pytest.mark.parametrize("env, expected", [
    ({"LGTM575_WEBHOOK_SECRET": ""}, "LGTM575_WEBHOOK_SECRET is missing"),
    ({"LGTM575_APP_ID": None}, "LGTM575_APP_ID is missing"),
    ({"LGTM575_APP_ID": "abc"}, "LGTM575_APP_ID: expected a whole number"),
    ({"LGTM575_APP_PRIVATE_KEY": "/no/such.pem"}, "LGTM575_APP_PRIVATE_KEY: neither PEM text nor a readable"),
    ({"LGTM575_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----"},
     "LGTM575_APP_PRIVATE_KEY: not an unencrypted PEM private key"),
    ({"LGTM575_WORKERS": "-1"}, "LGTM575_WORKERS: expected a whole number from 0 to 256"),
    ({"LGTM575_BACKEND": "gpt"}, "LGTM575_BACKEND: backend must be one of"),
    ({"LGTM575_FAKE_OUTPUTS": "/no/such.json"}, "LGTM575_FAKE_OUTPUTS: cannot read"),
    ({"LGTM575_DB": "/no/such/dir/q.sqlite3"}, "LGTM575_DB: the folder of the SQLite file does not exist"),
    ({"LGTM575_DB": "postgresql://x:pw@127.0.0.1:9/x"}, "LGTM575_DB: cannot connect"),
    ({"LGTM575_MAX_COMMENTS": "ten"}, "LGTM575_MAX_COMMENTS: expected a whole number"),
    ({"LGTM575_CONFIG": "{config}"}, "unknown key 'max_coment' (did you mean 'max_comments'?)"),
])
def test_a_missing_or_bad_setting_is_one_line_and_exit_2(tmp_path, env, expected):
    from tests.fake_github_app import app_key
    from cryptography.hazmat.primitives import serialization

    pem = app_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()).decode()
    (tmp_path / "key.pem").write_text(pem)
    (tmp_path / "fake.json").write_text('["a"]')
    (tmp_path / "app.yaml").write_text("max_coment: 3\n")
    base = {"LGTM575_APP_ID": "575", "LGTM575_APP_PRIVATE_KEY": str(tmp_path / "key.pem"),
            "LGTM575_WEBHOOK_SECRET": "s3cret-value", "LGTM575_BACKEND": "fake",
            "LGTM575_FAKE_OUTPUTS": str(tmp_path / "fake.json"), "LGTM575_DB": str(tmp_path / "q.sqlite3")}
    base.update({k: (v.format(config=tmp_path / "app.yaml") if v else v) for k, v in env.items()})
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LGTM575_", "GITHUB_"))}
    full = {**clean, **{k: v for k, v in base.items() if v is not None}, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "reviewer.app", "--port", "0"], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr and "Traceback" not in proc.stderr
    assert pem.splitlines()[1] not in proc.stderr and "s3cret-value" not in proc.stderr and "pw@" not in proc.stderr


def test_signature_checks_are_hmac_sha256_of_the_raw_body():
    body = b'{"a": 1}'
    assert signature_ok("k", body, sign(body, "k"))
    assert not signature_ok("k", body + b" ", sign(body, "k"))
    assert not signature_ok("k", body, "") and not signature_ok("k", body, "sha256=zz\u00e9")


def test_routing_of_events():
    review = route("pull_request", pr_event("o/r", 4, 9, action="ready_for_review", draft=False))
    assert review[0] == "queued" and review[1].kind == "review" and review[1].installation_id == 9
    assert route("pull_request", pr_event("o/r", 4, 9, draft=True), review_drafts=True)[0] == "queued"
    assert route("pull_request", pr_event("o/r", 4, 9, action="edited"))[0] == "ignored"
    bot = comment_event("o/r", 4, 9, "dependabot[bot]")
    bot["comment"]["user"]["type"] = "Bot"
    assert route("issue_comment", bot)[0] == "ignored"
    issue = comment_event("o/r", 4, 9, "octocat")
    del issue["issue"]["pull_request"]
    assert route("issue_comment", issue)[0] == "ignored"
    command = route("issue_comment", comment_event("o/r", 4, 9, "octocat", "  /haiku  "))[1]
    assert command.kind == "command" and command.sender == "octocat" and command.number == 4


def test_the_compose_file_sets_only_settings_the_app_reads():
    import yaml

    from reviewer.app.settings import _known_keys, _variable

    compose = yaml.safe_load((ROOT / "examples" / "app" / "compose.yaml").read_text())
    known = {_variable(key) for key in _known_keys()}
    for name in ("web", "worker"):
        service = compose["services"][name]
        assert {k for k in service["environment"] if k.startswith(("LGTM575_", "GITHUB_"))} <= known
        assert service["build"]["dockerfile"] == "examples/app/Dockerfile"
    assert compose["services"]["web"]["environment"]["LGTM575_WORKERS"] == "0"
    assert compose["services"]["worker"]["command"] == ["--worker"]
