"""The GitHub App: ``python -m reviewer.app``, one server for many repositories and one model.

    LGTM575_APP_ID=12345 LGTM575_APP_PRIVATE_KEY=/secrets/app.pem LGTM575_WEBHOOK_SECRET=... \\
        python -m reviewer.app --host 0.0.0.0 --port 8575          # webhooks + LGTM575_WORKERS workers
    LGTM575_BACKEND=fake LGTM575_FAKE_OUTPUTS=haiku.json ... python -m reviewer.app --port 8575   # no model
    LGTM575_DB=postgresql://lgtm575:pw@db/lgtm575 LGTM575_WORKERS=0 python -m reviewer.app --port 8575
    LGTM575_DB=postgresql://lgtm575:pw@db/lgtm575 python -m reviewer.app --worker   # workers on other machines
    python -m reviewer.app --config app.yaml                         # the same settings from a YAML file

Serves ``POST /webhook``, ``GET /healthz`` and ``GET /metrics`` under uvicorn (reviewer.app.web)
and runs the workers in the same process (reviewer.app.worker) unless LGTM575_WORKERS=0;
``--worker`` runs workers only. The model loads once per process, in the background: /healthz
answers 503 until it is loaded, while webhooks are already queued. Every setting:
``python -c "from reviewer.app.settings import settings_help; print(settings_help())"``;
docs/app.md has the App's registration, a compose file and how to operate it.

Exit status: 0 stopped (SIGTERM, SIGINT); 2 a missing or bad setting, a queue that cannot be
opened, a model that cannot be loaded or a port that cannot be bound (one line on stderr, never
a traceback; LGTM575_DEBUG=1 for one); 1 an internal error.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Mapping, Sequence

from reviewer.app.logs import LOG, Redactor, setup_logging
from reviewer.app.settings import SettingsError, load_settings

PROG = "lgtm-575 app"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{PROG}: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m reviewer.app", description="lgtm-575 as a GitHub App: webhooks in, "
                     "5-7-5 reviews out. Settings come from LGTM575_* variables (docs/app.md).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8575, help="port to listen on (default: 8575)")
    parser.add_argument("--config", default="", metavar="FILE",
                        help="a YAML file of settings (keys: the variables' names in lower case, without LGTM575_); "
                        "environment variables win (default: $LGTM575_CONFIG)")
    parser.add_argument("--worker", action="store_true", help="run workers only, no HTTP server (another machine)")
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(env, args.config)
    except SettingsError as err:
        return _fail(str(err))
    redactor = setup_logging(settings.log_level, settings.secrets())
    try:
        return _start(args, settings, redactor)
    except _Startup as err:
        return _fail(redactor.redact(str(err)))
    except Exception as err:  # noqa: BLE001 - the program's edge: one line, not a traceback
        if os.environ.get("LGTM575_DEBUG"):
            raise
        return _fail(redactor.redact(f"internal error: {type(err).__name__}: {err}"), 1)


class _Startup(Exception):
    """Something that stops the App from starting; one line."""


def _fail(message: str, status: int = 2) -> int:
    sys.stderr.write(f"{PROG}: {' '.join(message.split())}\n")
    return status


def _start(args: argparse.Namespace, settings: Any, redactor: Redactor) -> int:
    from reviewer.app.auth import InstallationTokens
    from reviewer.app.job import JobContext, SharedModel
    from reviewer.app.queue import Queue, QueueError
    from reviewer.app.worker import WorkerPool

    try:
        queue = Queue.open(settings.db)
    except QueueError as err:
        raise _Startup(f"LGTM575_DB: {err}") from None
    model = SharedModel(settings.generation)
    tokens = InstallationTokens(settings.app_id, settings.app_private_key, settings.github_api_url, redactor.add)
    pool = WorkerPool(queue, JobContext(settings, tokens, model, redact=redactor.redact), settings.workers)
    LOG.info("queue at %s; model %s/%s; %d workers", queue.where, settings.generation.backend,
             settings.generation.model, settings.workers)
    if args.worker:
        return _workers_only(settings, model, pool)
    return _serve(args, settings, queue, model, pool)


def _load(model: Any) -> None:
    from reviewer.backends.base import BackendError

    try:
        model.load()
    except (BackendError, OSError) as err:
        raise _Startup(f"the model cannot be loaded: {err}") from None
    LOG.info("model loaded: %s", model.generation.backend)


def _workers_only(settings: Any, model: Any, pool: Any) -> int:
    if settings.workers < 1:
        raise _Startup("LGTM575_WORKERS: --worker needs at least 1 worker")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _load(model)
    pool.start()
    stop.wait()
    LOG.info("stopping: no new jobs; waiting for running ones")
    pool.stop()
    return 0


def _serve(args: argparse.Namespace, settings: Any, queue: Any, model: Any, pool: Any) -> int:
    import uvicorn

    from reviewer.app.metrics import Metrics
    from reviewer.app.web import WebState, create_app

    metrics = Metrics(queue)
    failure: list[str] = []
    server: uvicorn.Server | None = None

    def load_in_background() -> None:
        try:
            _load(model)
            metrics.model_loaded.set(1)
        except _Startup as err:
            failure.append(str(err))
            LOG.error("%s", err)
            if server is not None:
                server.should_exit = True

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if settings.workers:
            threading.Thread(target=load_in_background, name="lgtm575-model", daemon=True).start()
            pool.start()
        yield
        pool.stop()

    ready = (lambda: True) if not settings.workers else model.loaded.is_set
    app = create_app(WebState(settings, queue, metrics, ready), lifespan=lifespan)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None, lifespan="on",
                            timeout_graceful_shutdown=5, server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind; it has logged why
        raise _Startup(f"cannot serve on {args.host}:{args.port}") from None
    if failure:
        raise _Startup(failure[0])
    if not server.started:
        raise _Startup(f"cannot serve on {args.host}:{args.port}")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
