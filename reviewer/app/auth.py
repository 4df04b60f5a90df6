"""The App's credentials: a JWT from its private key, then installation access tokens, cached.

    tokens = InstallationTokens(app_id, pem, api_url, redactor)
    tokens.token(installation_id)                  # POST /app/installations/{id}/access_tokens, or the cache
    GitHubClient("", api_url, auth=tokens.auth_for(installation_id))

Through PyGithub's ``Auth.AppAuth`` (the RS256 JWT, valid 5 minutes, iat 60 s in the past for
clock drift) and ``GithubIntegration.get_access_token``. A token is reused until
``REFRESH_MARGIN`` seconds before GitHub's ``expires_at`` (tokens live an hour; a shorter-lived
token, as GitHub Enterprise may grant, is replaced after three quarters of its life), per
installation and shared by every worker thread of the process. Each token is handed to the log redactor the
moment it arrives, so no log line can carry it.
"""

from __future__ import annotations

import threading
import time
from datetime import timezone
from typing import Any, Callable

from reviewer.github import error_from

REFRESH_MARGIN = 300.0  # seconds before expiry that a cached token is replaced


class InstallationTokens:
    def __init__(self, app_id: int, private_key: str, api_url: str, on_secret: Callable[[str], None],
                 clock: Callable[[], float] = time.time, timeout: int = 15) -> None:
        from github import Auth, GithubIntegration

        self._integration = GithubIntegration(auth=Auth.AppAuth(app_id, private_key), base_url=api_url.rstrip("/"),
                                              timeout=timeout, retry=None, user_agent="lgtm-575")
        self._on_secret, self._clock = on_secret, clock
        self._cache: dict[int, tuple[str, float]] = {}  # installation -> (token, replace after)
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetched = 0  # tokens asked of GitHub, for tests and logs

    def token(self, installation_id: int) -> str:
        """A token for the installation with at least ``REFRESH_MARGIN`` seconds left."""
        with self._guard:
            lock = self._locks.setdefault(installation_id, threading.Lock())
        with lock:  # one request per installation at a time; the others wait for its answer
            cached = self._cache.get(installation_id)
            if cached and self._clock() < cached[1]:
                return cached[0]
            granted = self._clock()
            token, expires = self._fetch(installation_id)
            life = max(0.0, expires - granted)
            self._cache[installation_id] = (token, expires - min(REFRESH_MARGIN, life / 4))
            return token

    def _fetch(self, installation_id: int) -> tuple[str, float]:
        from github import GithubException
        from requests import RequestException

        try:
            granted = self._integration.get_access_token(installation_id)
        except (GithubException, RequestException) as exc:
            raise error_from(exc, f"get an access token for installation {installation_id}") from None
        self._on_secret(granted.token)
        self.fetched += 1
        expires = granted.expires_at
        if expires is None:
            return granted.token, self._clock() + 3600.0
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return granted.token, expires.timestamp()

    def forget(self, installation_id: int) -> None:
        """Drops the cached token (an installation removed, or a token GitHub refused)."""
        self._cache.pop(installation_id, None)

    def installation_of(self, repo: str) -> int:
        """The installation id for a repository (``GET /repos/{o}/{r}/installation``), for a
        delivery that did not name one."""
        from github import GithubException
        from requests import RequestException

        owner, name = repo.split("/", 1)
        try:
            return int(self._integration.get_repo_installation(owner, name).id)
        except (GithubException, RequestException) as exc:
            raise error_from(exc, f"find the App's installation on {repo}") from None

    def auth_for(self, installation_id: int) -> Any:
        """A PyGithub ``Auth`` that asks the cache on every request: a review that outlasts a
        token goes on with a fresh one."""
        from github.Auth import Auth

        tokens = self

        class InstallationToken(Auth):
            @property
            def token_type(self) -> str:
                return "token"

            @property
            def token(self) -> str:
                return tokens.token(installation_id)

            @property
            def _masked_token(self) -> str:
                return "token (installation token removed)"

        return InstallationToken()

