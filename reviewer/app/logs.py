"""The App's logs: one line per event on stderr, every line through a redactor.

    redactor = setup_logging("info", secrets=settings.secrets())
    redactor.add(token)          # each installation token, the moment it is granted

Secrets are the webhook secret, the private key (whole, and each of its base64 lines), the
OpenAI key and every installation token. The redactor sits on the one handler, so it also
covers uvicorn's and PyGithub's records, and tracebacks (which are printed only with
LGTM575_DEBUG=1; otherwise an error is one line).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

LOG = logging.getLogger("lgtm575.app")


class Redactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        pieces = [secret.strip()] + [line.strip() for line in secret.splitlines()]
        with self._lock:
            # a short piece (a PEM's last line, a one-letter test value) would shred every line
            self._secrets.update(p for p in pieces if len(p) >= 8 and not p.startswith("-----"))

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and os.environ.get("LGTM575_DEBUG"):
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def setup_logging(level: str, secrets: tuple[str, ...] = ()) -> Redactor:
    redactor = Redactor()
    for secret in secrets:
        redactor.add(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("github").setLevel(max(logging.INFO, root.level))  # PyGithub's DEBUG echoes bodies
    return redactor
