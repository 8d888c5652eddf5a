"""Credentials never reach a log line: signed paths, URL signatures and API keys are redacted."""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[REDACTED]"
_RULES = (
    # /download/{asset}/{grant}/{expires}/{signature}/…: the signature is a bearer credential.
    (re.compile(r"(/download/(?:[^/\s?#\"']+/){3})[^/\s?#\"']+"), rf"\1{REDACTED}"),
    # Query-string signatures and credentials (S3 SigV4, GCS V4, generic names).
    (re.compile(r"(?i)([?&;](?:x-amz-signature|x-amz-credential|x-amz-security-token|"
                r"x-goog-signature|x-goog-credential|signature|sig|token|access_token|"
                r"api_key|apikey|key)=)[^&\s\"'#]*"), rf"\1{REDACTED}"),
    # Our API keys, wherever they appear (a header echoed in a message, a URL).
    (re.compile(r"gpra_[A-Za-z0-9_-]+"), f"gpra_{REDACTED}"),
)


def redact(text: str) -> str:
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (int, float)):
        return value
    # NOTE: URL objects (httpx.URL, yarl…) are formatted with %s: redact their text, and keep
    # the object itself when there was nothing to hide.
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def _redact_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    # NOTE: argument by argument, not the formatted message: formatters such as uvicorn's
    # AccessFormatter unpack record.args themselves.
    if isinstance(record.args, tuple):
        record.args = tuple(_clean(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _clean(v) for k, v in record.args.items()}


def install_redaction() -> None:
    """Wrap the process's log-record factory once, so every logger's records are redacted
    (uvicorn's access log, ours, httpx's request lines, libraries we do not configure)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "geopera_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _redact_record(record)
        return record

    factory.geopera_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
