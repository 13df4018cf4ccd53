"""The Content-Security-Policy of the production settings, in one place for settings and tests."""

from __future__ import annotations

from typing import Any


def content_security_policy(*, media_origins: list[str]) -> dict[str, Any]:
    """No inline script or style, nothing from other origins except the media bucket's links."""
    return {
        "DIRECTIVES": {
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'"],
            "img-src": ["'self'", "data:", *media_origins],
            "media-src": ["'self'", *media_origins],
            "connect-src": ["'self'"],
            "font-src": ["'self'"],
            "object-src": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'none'"],
        }
    }
