"""The openai backend: any OpenAI-compatible chat server (vLLM, SGLang, Ollama, hosted endpoints).

Standard library only (urllib): no ``openai`` package. Point it at a server and name the model::

    vllm serve google/gemma-4-E4B-it --port 8000            # or: ollama serve / sglang ...
    python -m reviewer PR.diff --backend openai --openai-base-url http://localhost:8000/v1 \\
        --model google/gemma-4-E4B-it                        # key from $OPENAI_API_KEY if needed

Each prompt is one ``POST {base_url}/chat/completions`` with ``messages``, ``n``, ``max_tokens``,
``temperature`` and ``seed``; the prompts of a call go out on a small thread pool (``concurrency``,
default 4) and come back in prompt order. With no model named, the server's only model (from
``GET {base_url}/models``) is used, as vLLM and SGLang serve one.

Why it behaves as it does:

* Bounded retries with exponential backoff on 429, 5xx, timeouts and connection errors, honouring
  ``Retry-After`` up to ``max_retry_after`` seconds; other 4xx are the caller's mistake and fail at
  once, with a message that says what to fix (401/403: the key; 404: the model or the base URL).
* Some servers ignore ``n`` (Ollama answers one choice): the backend asks again for the missing
  ones, at most ``n`` requests per prompt, each with a different seed so samples differ.
* The form constraint is NOT applied server-side: OpenAI-compatible servers share no way to run
  our syllable counter while decoding. Form comes from best-of-n with the checker choosing, in
  ``reviewer.compose``. No ``stop`` hint is sent either: a stop on a blank line or after three
  newlines cuts answers that open with a blank line or a title, and servers differ on whether
  stop strings are kept, so ``max_tokens`` alone bounds the answer.
* The API key is sent only in the ``Authorization`` header; it never appears in ``describe()`` or
  in any error (server messages are scrubbed of it too).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from reviewer.backends.base import BackendError, GenerationRequest, Usage, register_backend
from reviewer.prompt import Prompt

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class _Retryable(Exception):
    """A failure worth another try; ``wait`` is the server's Retry-After, if it gave one."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


@register_backend("openai")
class OpenAIBackend:
    name = "openai"

    def __init__(self, base_url: str = "", api_key: str = "", model: str = "", timeout: float = 120.0,
                 retries: int = 3, concurrency: int = 4, backoff: float = 1.0,
                 max_retry_after: float = 60.0) -> None:
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL", "")).strip().rstrip("/")
        if not self.base_url:
            raise BackendError("the openai backend needs a server: pass --openai-base-url "
                               "(e.g. http://localhost:8000/v1) or set OPENAI_BASE_URL")
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise BackendError("openai base URL must start with http:// or https://, "
                               f"not {_shown_url(self.base_url)!r}")
        self._key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self.model = model
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.concurrency = max(1, int(concurrency))
        self.backoff = max(0.0, float(backoff))
        self.max_retry_after = max(0.0, float(max_retry_after))
        self.usage = Usage()  # token counts the server reported, summed over calls
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the Backend protocol

    def generate(self, prompts: Sequence[Prompt], request: GenerationRequest) -> list[list[str]]:
        if not prompts:
            return []
        if not self.model:
            self.model = self._only_model()
        started = time.perf_counter()
        workers = min(self.concurrency, len(prompts))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai") as pool:
            # map keeps prompt order; on the first error it cancels the prompts not yet started.
            answers = list(pool.map(lambda prompt: self._samples(prompt, request), prompts))
        with self._lock:
            self.usage.seconds += time.perf_counter() - started
        return answers

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": _shown_url(self.base_url),
                "constrained": False}

    # ------------------------------------------------------------------ one prompt

    def _samples(self, prompt: Prompt, request: GenerationRequest) -> list[str]:
        """``request.n`` texts for one prompt; servers that ignore ``n`` are asked again."""
        texts: list[str] = []
        if request.n < 1:
            return texts
        for attempt in range(request.n):  # every answer carries >= 1 choice, so n requests suffice
            body = {"model": self.model, "messages": prompt.as_openai(), "n": request.n - len(texts),
                    "max_tokens": request.max_new_tokens, "temperature": request.temperature,
                    "seed": request.seed + attempt}
            texts += self._choices(self._request("POST", "/chat/completions", body))
            if len(texts) >= request.n:
                return texts[:request.n]
        raise AssertionError("unreachable: each response adds at least one choice")

    def _choices(self, payload: Any) -> list[str]:
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or not choices:
            raise BackendError(f"malformed response from {self._url('/chat/completions')}: no 'choices' list")
        ordered = sorted(choices, key=_index)
        texts = []
        for choice in ordered:
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                raise BackendError(f"malformed response from {self._url('/chat/completions')}: "
                                   "a choice has no 'message'")
            content = message.get("content")
            if content is not None and not isinstance(content, str):
                raise BackendError(f"malformed response from {self._url('/chat/completions')}: "
                                   "a choice's message.content is not text")
            texts.append(content or "")  # None: the model said nothing (e.g. only reasoning)
        self._count(payload.get("usage"))
        return texts

    def _count(self, usage: Any) -> None:
        if isinstance(usage, dict):
            with self._lock:
                self.usage.prompt_tokens += _count_of(usage.get("prompt_tokens"))
                self.usage.completion_tokens += _count_of(usage.get("completion_tokens"))

    def _only_model(self) -> str:
        """The model a one-model server (vLLM, SGLang) serves, when none was named."""
        data = self._request("GET", "/models", None)
        ids = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)] if isinstance(data, dict) else []
        ids = [i for i in ids if isinstance(i, str) and i]
        if len(ids) != 1:
            listed = f"it serves {', '.join(ids[:5])}" if ids else "it lists no models"
            raise BackendError(f"no model named for {_shown_url(self.base_url)} and {listed}: pass --model")
        return ids[0]

    # ------------------------------------------------------------------ HTTP with retries

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """One JSON request with bounded retries; BackendError (one line) when it cannot succeed."""
        last = ""
        for attempt in range(self.retries + 1):
            try:
                return self._once(method, path, body)
            except _Retryable as err:
                last = str(err)
                if attempt < self.retries:
                    time.sleep(self._delay(attempt, err.wait))
        tries = self.retries + 1
        raise BackendError(f"{last} (gave up after {tries} attempt{'s' if tries > 1 else ''})")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # Exponential backoff with a little jitter so parallel prompts do not retry in lockstep.
        return min(self.backoff * (2 ** attempt) * (1 + 0.25 * random.random()), self.max_retry_after)

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        url = self._url(path)
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise self._http_error(err, url) from None
        except (TimeoutError, socket.timeout):
            raise _Retryable(f"no answer from {url} within {self.timeout:g} s (raise the timeout?)") from None
        except http.client.HTTPException as err:  # a connection cut mid-answer
            raise _Retryable(f"the connection to {url} broke ({type(err).__name__})") from None
        except OSError as err:  # URLError (refused, DNS), resets
            reason = getattr(err, "reason", err)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise _Retryable(f"no answer from {url} within {self.timeout:g} s (raise the timeout?)") from None
            raise _Retryable(f"cannot reach the OpenAI-compatible server at {url} ({self._scrub(str(reason))}); "
                             "is it running, and is the base URL right?") from None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BackendError(f"malformed response from {url}: not JSON "
                               f"({self._scrub(_one_line(raw.decode('utf-8', 'replace')))!r})") from None

    def _http_error(self, err: urllib.error.HTTPError, url: str) -> Exception:
        detail = self._scrub(_server_message(err))
        said = f": {detail}" if detail else ""
        status = err.code
        if status in RETRY_STATUSES:
            return _Retryable(f"the server at {url} answered HTTP {status}{said}", _retry_after(err))
        if status in (401, 403):
            return BackendError(f"the server at {url} refused the request (HTTP {status}): check the API key "
                                f"(--openai-api-key / $OPENAI_API_KEY){said}")
        if status == 404:
            return BackendError(f"HTTP 404 from {url}: model {self.model!r} not found, or the base URL is "
                                f"wrong (it usually ends in /v1){said}")
        return BackendError(f"the server at {url} rejected the request (HTTP {status}){said}")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": "lgtm-575"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def _url(self, path: str) -> str:
        return _shown_url(self.base_url) + path

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


# ---------------------------------------------------------------------- helpers


def _shown_url(url: str) -> str:
    """The URL without user:password@ and without a query string (either may hold a secret)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "") if parts.netloc else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _index(choice: Any) -> int:
    index = choice.get("index") if isinstance(choice, dict) else None
    return index if isinstance(index, int) else 0


def _count_of(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _server_message(err: urllib.error.HTTPError) -> str:
    """The server's own explanation: OpenAI's {"error": {"message"}}, or the body's start."""
    try:
        raw = err.read().decode("utf-8", "replace")
    except (OSError, AttributeError):
        return ""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return _one_line(raw)
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
    if message is None and isinstance(data, dict):
        message = data.get("message") or data.get("detail")
    return _one_line(str(message)) if message else _one_line(raw)


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent or unreadable."""
    value = err.headers.get("Retry-After") if err.headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
