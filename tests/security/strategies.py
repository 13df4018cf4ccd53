"""Hypothesis strategies for hostile input: any JSON a peer could send, and near misses of
the shapes the studio expects (the right keys with wrong values)."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Text as JSON can carry it: NUL, control characters and lone surrogates (a `\\ud800` escape
# decodes to one) included, beside ordinary letters, marks and markup.
hostile_text = st.text(
    st.characters(categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cs"]), max_size=40
) | st.sampled_from(
    ["", " ", "\x00", "\ud800", "<script>alert(1)</script>", "null", "1e999", "NaN", "-1"]
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text
)

json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=5)
    ),
    max_leaves=12,
)


def near_miss(keys: list[str], words: list[str]) -> st.SearchStrategy[dict]:
    """Objects with some of the expected `keys`, each holding anything (often a plausible
    word from `words`), optionally nested where a provider nests them."""
    value = json_values | st.sampled_from(words) | st.sampled_from(words).map(str.upper)
    flat = st.fixed_dictionaries({}, optional={key: value for key in keys})
    return st.one_of(
        flat,
        flat.flatmap(lambda inner: st.fixed_dictionaries({"data": st.just(inner)})),
        flat.flatmap(lambda inner: st.fixed_dictionaries({"output": st.just(inner)})),
        st.dictionaries(hostile_text, json_values, max_size=4),
    )


def as_wire(value) -> bytes:
    """JSON bytes as a peer would send them (NaN and Infinity included, as Python writes them)."""
    return json.dumps(value).encode()


wire_bodies = st.one_of(
    json_values.map(as_wire),
    st.binary(max_size=60),
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"status": "completed", "url": "http://x"',
            b'{"progress": 1e999}',
            b'{"progress": -1e999, "status": "running"}',
            b'{"status": "failed", "error": "\\ud800\\u0000"}',
            b'{"task_id": "\\u0000", "status": "queued"}',
            b'{"id": 1e400, "status": "COMPLETED", "result": {"videoUrl": "\\udfff"}}',
            b"\xff\xfe{}",
            b"[" * 5000,
            b"9" * 5000,
        ]
    ),
)
