"""Asset media types: RFC 6838 type/subtype with RFC 9110 parameters, ASCII only."""

from __future__ import annotations

import re

# NOTE: restricted-name (RFC 6838 §4.2) for type and subtype; parameters are token=token or
# token="quoted string" (RFC 9110 §8.3.1). No CR/LF or other controls, and nothing outside
# ASCII, so the value is always safe to send back as a Content-Type header (Latin-1).
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"'
MEDIA_TYPE = re.compile(rf"{_NAME}/{_NAME}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")
MEDIA_TYPE_RULE = ("a media type such as image/tiff or 'image/tiff; application=geotiff' "
                   "(RFC 6838 type/subtype, optional ;name=value parameters, ASCII, no line "
                   "breaks)")


def valid_media_type(value: str) -> bool:
    return len(value) <= 255 and MEDIA_TYPE.fullmatch(value) is not None


def check_media_type(value: str | None) -> str | None:
    """The value unchanged, or ValueError (pydantic turns it into a 400 naming the field)."""
    if value is not None and not valid_media_type(value):
        raise ValueError(f"must be {MEDIA_TYPE_RULE}")
    return value
