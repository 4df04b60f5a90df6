"""The App's HTTP side: ``POST /webhook``, ``GET /healthz``, ``GET /metrics`` (Starlette, ASGI).

    app = create_app(WebState(settings, queue, metrics, ready))   # served by uvicorn (reviewer.app)

``POST /webhook`` reads the raw body (413 past GitHub's 25 MB, before and while reading), checks
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the webhook secret, compared in
constant time) before parsing anything: a missing or wrong signature gets 401 and nothing is
recorded. Then the delivery is routed (``reviewer.app.events``) and recorded with its job in one
transaction; the answer is 202 with ``{"status": ...}``: queued, duplicate (a delivery id seen
before: nothing queued, no GitHub request), skipped_draft, pong, logged or ignored. The web side
makes no GitHub request and holds no token: it answers in milliseconds, far inside GitHub's 10 s.
Responses carry no secret and no internal error text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reviewer.app.events import BadPayload, action_of, route
from reviewer.app.metrics import Metrics
from reviewer.app.queue import Queue, QueueError
from reviewer.app.settings import AppSettings

LOG = logging.getLogger("lgtm575.app.web")
MAX_BODY = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
KNOWN_EVENTS = frozenset({"ping", "pull_request", "issue_comment", "installation", "installation_repositories",
                          "installation_target", "push", "pull_request_review", "pull_request_review_comment",
                          "check_run", "check_suite", "issues", "status"})


@dataclass
class WebState:
    settings: AppSettings
    queue: Queue
    metrics: Metrics
    ready: Callable[[], bool]  # the model is loaded (or this process runs no workers)


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` over the raw body; constant-time comparison."""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))


def create_app(state: WebState, lifespan: Any = None) -> Starlette:
    async def webhook(request: Request) -> Response:
        return await _webhook(state, request)

    def healthz(request: Request) -> Response:
        try:
            state.queue.stats()
        except QueueError:
            return JSONResponse({"status": "queue unavailable"}, status_code=503)
        if not state.ready():
            return JSONResponse({"status": "loading the model"}, status_code=503)
        return JSONResponse({"status": "ok"})

    def metrics(request: Request) -> Response:
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [Route("/webhook", webhook, methods=["POST"]), Route("/healthz", healthz, methods=["GET"]),
              Route("/metrics", metrics, methods=["GET"])]
    return Starlette(routes=routes, lifespan=lifespan)


async def _webhook(state: WebState, request: Request) -> Response:
    count = state.metrics.deliveries
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        count.labels("unverified", "too_large").inc()
        return _answer(413, "payload too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            count.labels("unverified", "too_large").inc()
            return _answer(413, "payload too large")
    if not signature_ok(state.settings.webhook_secret, bytes(body), request.headers.get("x-hub-signature-256", "")):
        count.labels("unverified", "bad_signature").inc()
        LOG.warning("delivery refused: missing or wrong X-Hub-Signature-256")
        return _answer(401, "bad signature")
    event = request.headers.get("x-github-event", "").strip()
    delivery = request.headers.get("x-github-delivery", "").strip()
    label = event if event in KNOWN_EVENTS else "other"
    if not event or not delivery or len(delivery) > 100:
        count.labels(label, "bad_request").inc()
        return _answer(400, "X-GitHub-Event and X-GitHub-Delivery are required")
    try:
        payload = _payload(bytes(body), request.headers.get("content-type", ""))
        outcome, spec = route(event, payload, state.settings.review_drafts)
    except BadPayload as err:
        count.labels(label, "bad_request").inc()
        return _answer(400, f"bad payload: {err}")
    action = action_of(payload)
    try:
        new, job_id = await run_in_threadpool(state.queue.record_delivery, delivery, event, action, outcome, spec)
    except QueueError as err:
        LOG.error("delivery %s: not recorded: %s", delivery, err)
        count.labels(label, "error").inc()
        return _answer(503, "the queue is unavailable; GitHub may redeliver")
    if not new:
        outcome = "duplicate"
    count.labels(label, outcome).inc()
    target = f" {spec.repo}#{spec.number}" if spec else ""
    LOG.info("delivery %s: %s %s%s: %s%s", delivery, event, action, target, outcome,
             f" (job {job_id})" if job_id else "")
    return JSONResponse({"status": outcome, **({"job": job_id} if job_id else {})}, status_code=202)


def _payload(body: bytes, content_type: str) -> Any:
    """JSON, as GitHub sends it with ``application/json``; or the ``payload=`` form field that
    ``application/x-www-form-urlencoded`` webhooks carry."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/x-www-form-urlencoded") and text.startswith("payload="):
            text = parse_qs(text).get("payload", [""])[0]
        return json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise BadPayload("not JSON") from None


def _answer(status: int, message: str) -> Response:
    return JSONResponse({"status": "refused", "message": message}, status_code=status)
