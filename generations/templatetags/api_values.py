"""Template filters for showing values the way the API takes them."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def as_json(value: Any) -> str:
    """A value written as it goes in a JSON request body: `true`, `5`, `"720P"`."""
    return json.dumps(value, ensure_ascii=False)
