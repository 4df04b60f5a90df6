"""The openai backend against a loopback OpenAI-compatible server (tests/fake_openai.py).

    .venv/bin/python -m pytest -q tests/test_openai_backend.py
"""

from __future__ import annotations

import threading
import time

import pytest

from reviewer.backends.base import BackendError, GenerationRequest
from reviewer.backends.openai_backend import OpenAIBackend
from reviewer.prompt import Prompt
from tests.fake_openai import FakeOpenAI, Reply

KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def fake_openai():
    """Start loopback servers with any settings; all are stopped after the test."""
    servers: list[FakeOpenAI] = []

    def start(*args, **kwargs) -> FakeOpenAI:
        servers.append(FakeOpenAI(*args, **kwargs).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    """The backend reads $OPENAI_BASE_URL / $OPENAI_API_KEY; tests state their own."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)


def prompt(text: str) -> Prompt:
    return Prompt((("user", text),))


def backend(server: FakeOpenAI, **kwargs) -> OpenAIBackend:
    options = {"base_url": server.base_url, "model": "fake-model", "backoff": 0.01, **kwargs}
    return OpenAIBackend(**options)


def test_n_samples_per_prompt_and_the_request_body(fake_openai):
    server = fake_openai()
    out = backend(server).generate([prompt("hunk one")], GenerationRequest(n=3, max_new_tokens=40, temperature=0.7, seed=9))
    assert out == [["answer 0 to hunk one", "answer 1 to hunk one", "answer 2 to hunk one"]]
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["body"] == {"model": "fake-model", "messages": [{"role": "user", "content": "hunk one"}],
                           "n": 3, "max_tokens": 40, "temperature": 0.7, "seed": 9}


def test_order_is_kept_across_concurrent_prompts(fake_openai):
    # Later prompts answer sooner, so completion order is the reverse of prompt order.
    delays = {f"p{i}": 0.05 * (5 - i) for i in range(6)}
    seen = set()
    lock = threading.Lock()

    def answer(messages, k):
        with lock:
            seen.add(threading.get_ident())
        return messages[-1]["content"].upper()

    server = fake_openai(answer, delay=lambda body: delays[body["messages"][-1]["content"]])
    b = backend(server, concurrency=4)
    t0 = time.perf_counter()
    out = b.generate([prompt(p) for p in delays], GenerationRequest(n=1))
    elapsed = time.perf_counter() - t0
    assert out == [[p.upper()] for p in delays]
    assert len(server.requests) == 6
    assert elapsed < sum(delays.values())  # run in parallel, not one after another
    assert len(seen) > 1


def test_retries_after_429_and_500_then_succeeds(fake_openai):
    server = fake_openai()
    server.script(Reply(status=429, headers={"Retry-After": "0.05"}), Reply(status=500))
    out = backend(server).generate([prompt("x")], GenerationRequest(n=1))
    assert out == [["answer 0 to x"]]
    assert len(server.requests) == 3


def test_retry_after_is_honoured_and_capped(fake_openai):
    server = fake_openai()
    server.script(Reply(status=429, headers={"Retry-After": "30"}))
    t0 = time.perf_counter()
    out = backend(server, max_retry_after=0.2).generate([prompt("x")], GenerationRequest(n=1))
    waited = time.perf_counter() - t0
    assert out == [["answer 0 to x"]]
    assert 0.2 <= waited < 5


def test_gives_up_after_bounded_retries_with_one_line(fake_openai):
    server = fake_openai()
    server.script(*[Reply(status=503)] * 10)
    with pytest.raises(BackendError) as info:
        backend(server, retries=2).generate([prompt("x")], GenerationRequest(n=1))
    message = str(info.value)
    assert len(server.requests) == 3  # one try and two retries
    assert "\n" not in message
    assert "HTTP 503" in message and "gave up after 3 attempts" in message and server.base_url in message


def test_other_4xx_are_not_retried(fake_openai):
    server = fake_openai()
    server.script(Reply(status=400))
    with pytest.raises(BackendError, match="rejected the request \\(HTTP 400\\): scripted HTTP 400"):
        backend(server).generate([prompt("x")], GenerationRequest(n=1))
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(fake_openai):
    server = fake_openai(delay=1.0)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match=r"no answer from .* within 0.2 s .*gave up after 2 attempts"):
        backend(server, timeout=0.2, retries=1).generate([prompt("x")], GenerationRequest(n=1))
    assert time.perf_counter() - t0 < 1.5
    assert len(server.requests) == 2


def test_unreachable_server_names_the_url(fake_openai):
    server = fake_openai()
    url = server.base_url
    server.stop()
    with pytest.raises(BackendError) as info:
        OpenAIBackend(base_url=url, model="m", retries=1, backoff=0.01).generate([prompt("x")], GenerationRequest())
    assert f"cannot reach the OpenAI-compatible server at {url}/chat/completions" in str(info.value)


def test_wrong_key_says_check_the_key_and_never_shows_it(fake_openai):
    server = fake_openai(api_key="the-right-key")
    b = backend(server, api_key=KEY)
    with pytest.raises(BackendError) as info:
        b.generate([prompt("x")], GenerationRequest())
    message = str(info.value)
    assert "HTTP 401" in message and "check the API key" in message
    assert KEY not in message and KEY not in repr(b.describe())
    assert len(server.requests) == 1  # a wrong key is not retried
    assert "authorization" not in {h.lower() for h in server.requests[0]["headers"]}


def test_right_key_from_the_environment(fake_openai, monkeypatch):
    server = fake_openai(api_key=KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    b = OpenAIBackend(model="fake-model")
    assert b.generate([prompt("x")], GenerationRequest()) == [["answer 0 to x"]]
    assert KEY not in repr(b.describe()) and KEY not in repr(vars(b).get("base_url"))


def test_key_is_scrubbed_from_server_messages_and_urls(fake_openai):
    server = fake_openai()
    server.script(Reply(status=400, raw=f'{{"error": {{"message": "bad key {KEY}"}}}}'.encode()))
    userinfo_url = server.base_url.replace("http://", f"http://user:{KEY}@") + "?key=" + KEY
    b = OpenAIBackend(base_url=userinfo_url, api_key=KEY, model="fake-model")
    with pytest.raises(BackendError) as info:
        b.generate([prompt("x")], GenerationRequest())
    assert "bad key ***" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(b.describe())


def test_unknown_model_is_a_404_with_advice(fake_openai):
    server = fake_openai()
    with pytest.raises(BackendError, match=r"HTTP 404 .*model 'llama' not found, or the base URL is wrong"):
        backend(server, model="llama").generate([prompt("x")], GenerationRequest())


@pytest.mark.parametrize("raw, problem", [
    (b"<html>oops</html>", "not JSON"),
    (b'{"object": "chat.completion"}', "no 'choices' list"),
    (b'{"choices": [{"index": 0}]}', "a choice has no 'message'"),
    (b'{"choices": [{"index": 0, "message": {"content": 7}}]}', "not text"),
])
def test_malformed_responses(fake_openai, raw, problem):
    server = fake_openai()
    server.script(Reply(raw=raw))
    with pytest.raises(BackendError, match="malformed response from .*" + problem):
        backend(server).generate([prompt("x")], GenerationRequest())
    assert len(server.requests) == 1


def test_servers_that_ignore_n_are_asked_again_with_new_seeds(fake_openai):
    server = fake_openai(ignore_n=True)
    out = backend(server).generate([prompt("a"), prompt("b")], GenerationRequest(n=3, temperature=0.7, seed=5))
    assert [len(texts) for texts in out] == [3, 3]
    assert sorted(r["body"]["seed"] for r in server.requests if r["body"]["messages"][0]["content"] == "a") == [5, 6, 7]
    assert sorted(r["body"]["n"] for r in server.requests if r["body"]["messages"][0]["content"] == "a") == [1, 2, 3]


def test_model_is_found_on_a_one_model_server(fake_openai):
    server = fake_openai(models=("qwen",))
    b = OpenAIBackend(base_url=server.base_url, model="")
    assert b.generate([prompt("x")], GenerationRequest()) == [["answer 0 to x"]]
    assert b.describe()["model"] == "qwen"
    two = fake_openai(models=("a", "b"))
    with pytest.raises(BackendError, match="it serves a, b: pass --model"):
        OpenAIBackend(base_url=two.base_url).generate([prompt("x")], GenerationRequest())


def test_missing_or_bad_base_url():
    with pytest.raises(BackendError, match="OPENAI_BASE_URL"):
        OpenAIBackend(model="m")
    with pytest.raises(BackendError, match="must start with http"):
        OpenAIBackend(base_url="localhost:8000/v1")


def test_usage_is_summed_and_empty_calls_send_nothing(fake_openai):
    server = fake_openai()
    b = backend(server)
    assert b.generate([], GenerationRequest()) == []
    b.generate([prompt("x"), prompt("y")], GenerationRequest(n=2))
    assert (b.usage.prompt_tokens, b.usage.completion_tokens) == (20, 20)
