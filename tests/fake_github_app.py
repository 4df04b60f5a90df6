"""The loopback fake GitHub with a GitHub App's endpoints: several repositories, installations,
JWTs checked against the App's public key, installation tokens scoped to their repositories.

    with FakeGitHubApp(app_id=575) as gh:              # gh.private_key_pem: what the App is given
        repo = gh.add_repo("octo/one", installation=11)  # a tests.fake_github.FakeGitHub, not listening
        repo.add_pull(7, [FakeFile.edit(...)])
        gh.stall("GET", r"/repos/octo/one/pulls/7$", 2.0)    # faults match the route after /api/v3
        gh.requests      # every request: method, path, auth ("jwt", "token" or None), installation,
                         # time, token_expires (never the token itself)

Endpoints besides each repository's own (tests/fake_github.py, served for the repositories of the
token's installation only; any other repository is a 404, as GitHub answers):

* ``POST /app/installations/{id}/access_tokens`` with ``Authorization: Bearer <JWT>``: the JWT
  must verify (RS256) against the App's public key, name the App as ``iss`` and live at most 10
  minutes; the answer is a new ``ghs_`` token and its ``expires_at`` (``token_ttl`` seconds);
* ``GET /repos/{o}/{r}/installation`` and ``GET /app`` with the JWT;
* an expired or unknown token gets 401 "Bad credentials", as GitHub answers.

Every token handed out is kept in ``issued`` so tests can search logs and bodies for it.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fake_github import PREFIX, FakeGitHub, Reply, _error

_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def app_key(size: int = 2048) -> rsa.RSAPrivateKey:
    """One RSA key per size for the test session (generating one takes a moment)."""
    if size not in _KEYS:
        _KEYS[size] = rsa.generate_private_key(public_exponent=65537, key_size=size)
    return _KEYS[size]


class FakeGitHubApp(FakeGitHub):
    def __init__(self, app_id: int = 575, token_ttl: float = 3600.0, key: rsa.RSAPrivateKey | None = None) -> None:
        super().__init__(token="", repo="fake/unused")
        self.app_id, self.token_ttl = app_id, token_ttl
        key = key or app_key()
        self.private_key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode("ascii")
        self.public_key = key.public_key()
        self.repos: dict[str, FakeGitHub] = {}
        self.installation_of: dict[str, int] = {}
        self.issued: dict[str, tuple[int, float]] = {}  # token -> (installation, expires at)

    def add_repo(self, name: str, installation: int) -> FakeGitHub:
        repo = FakeGitHub(token="", repo=name, listen=False)
        repo.front, repo._ids = self, self._ids
        self.repos[name], self.installation_of[name] = repo, installation
        return repo

    def tokens_of(self, installation: int) -> list[str]:
        return [t for t, (i, _) in self.issued.items() if i == installation]

    def requests_of(self, repo: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith(f"{PREFIX}/repos/{repo}/")
                or r["path"] == f"{PREFIX}/repos/{repo}"]

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: Any) -> Reply:
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(raw_path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        kind, installation = self._who(auth)
        credential = auth.partition(" ")[2]  # recorded as its expiry only: no token in the record
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body, "auth": kind,
                                  "installation": installation, "time": time.time(),
                                  "token_expires": self.issued[credential][1] if kind == "token" else None,
                                  "headers": {k: v for k, v in headers.items() if k.lower() != "authorization"}})
        if not path.startswith(PREFIX):
            return _error(404, "Not Found")
        route = path[len(PREFIX):]
        if kind is None:
            return _error(401, "Bad credentials")
        fault = self._take_fault(method, route)
        if fault is not None and fault.status and not fault.after_write:
            time.sleep(fault.delay)
            return Reply(fault.status, {"message": fault.message}, fault.headers)
        if kind == "jwt":
            return self._app_route(method, route)
        name = self._repo_in(route)
        if name is None or self.installation_of.get(name) != installation:
            return _error(404, "Not Found")
        return self.repos[name].answer(method, route, query, headers, body, fault)

    def _who(self, auth: str) -> tuple[str | None, int | None]:
        """("jwt", None) for a valid App JWT, ("token", installation) for a live installation
        token, (None, None) for anything else."""
        scheme, _, credential = auth.partition(" ")
        if credential in self.issued:
            installation, expires = self.issued[credential]
            return ("token", installation) if expires > time.time() else (None, None)
        if scheme == "Bearer" and credential.count(".") == 2:
            try:
                claims = jwt.decode(credential, self.public_key, algorithms=["RS256"], leeway=5,
                                    options={"require": ["iat", "exp", "iss"]})
            except jwt.PyJWTError:
                return None, None
            if str(claims["iss"]) == str(self.app_id) and claims["exp"] - claims["iat"] <= 660:
                return "jwt", None
        return None, None

    def _repo_in(self, route: str) -> str | None:
        pieces = route.split("/")
        if len(pieces) >= 4 and pieces[1] == "repos":
            return f"{pieces[2]}/{pieces[3]}"
        return None

    def _app_route(self, method: str, route: str) -> Reply:
        pieces = route.strip("/").split("/")
        if method == "POST" and len(pieces) == 4 and pieces[:2] == ["app", "installations"] \
                and pieces[3] == "access_tokens" and pieces[2].isdigit():
            return self._grant(int(pieces[2]))
        if method == "GET" and pieces == ["app"]:
            return Reply(200, {"id": self.app_id, "slug": "lgtm-575", "name": "lgtm-575",
                               "owner": {"login": "lgtm-575", "id": 1}})
        if method == "GET" and len(pieces) == 4 and pieces[0] == "repos" and pieces[3] == "installation":
            name = f"{pieces[1]}/{pieces[2]}"
            if name not in self.installation_of:
                return _error(404, "Not Found")
            return Reply(200, self._installation_json(self.installation_of[name], pieces[1]))
        return _error(401, "A JSON web token could not be decoded")  # an App JWT is good for /app only

    def _grant(self, installation: int) -> Reply:
        if installation not in self.installation_of.values():
            return _error(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_ttl
        with self._lock:
            self.issued[token] = (installation, expires)
        stamp = datetime.fromtimestamp(expires, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Reply(201, {"token": token, "expires_at": stamp, "repository_selection": "selected",
                           "permissions": {"pull_requests": "write", "contents": "read", "metadata": "read"}})

    def _installation_json(self, installation: int, owner: str) -> dict[str, Any]:
        return {"id": installation, "app_id": self.app_id, "target_type": "Organization",
                "account": {"login": owner, "id": 100 + installation},
                "access_tokens_url": f"{self.base_url}/app/installations/{installation}/access_tokens",
                "repositories_url": f"{self.base_url}/installation/repositories"}
