"""Checks of user input shared by the facade (tags), raising CumulusErrors before anything is
recorded."""

from __future__ import annotations

import math
from typing import Any

from cumulus.errors import ValidationError

MAX_TAG_CHARS = 5000
MAX_TAGS = 200


def check_tags(tags: Any, what: str = "tags") -> dict[str, Any]:
    """``tags`` as a dict of str -> None/bool/int/float/str (values at most 5,000 chars)."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ValidationError(f"{what} must be a dict of name -> value, got "
                              f"{type(tags).__name__} {tags!r:.80}.")
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"{what}: at most {MAX_TAGS} tags, got {len(tags)}.")
    for key, value in tags.items():
        check_tag(key, value, what)
    return dict(tags)


def check_tag(key: Any, value: Any, what: str = "tags") -> None:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise ValidationError(f"{what}: a tag name must be a string of 1-255 characters, got "
                              f"{key!r:.80}.")
    if value is not None and not isinstance(value, bool | int | float | str):
        raise ValidationError(
            f"{what}[{key!r}] is a {type(value).__name__}; tag values must be None, bool, int, "
            "float or str. Convert it first, e.g. str(value) or json.dumps(value).")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{what}[{key!r}] = {value!r}: tag values must be finite.")
    if isinstance(value, str) and len(value) > MAX_TAG_CHARS:
        raise ValidationError(f"{what}[{key!r}] has {len(value)} characters; a tag value holds "
                              f"at most {MAX_TAG_CHARS}. Upload long text as a file instead "
                              "(run.upload_file).")


__all__ = ["MAX_TAG_CHARS", "check_tag", "check_tags"]
