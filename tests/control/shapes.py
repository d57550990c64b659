"""Field-by-field, type-by-type checks of reply `data` against the original's shapes."""

from __future__ import annotations

import re
from typing import Any

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")  # JavaScript's toISOString()
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


class IsoTime:
    """Marker: an ISO-8601 UTC string, as the original writes times."""


def assert_shape(data: Any, shape: dict[str, Any]) -> None:
    """Every field of `shape` is in `data`: a type (exactly that type: a bool is no number), the
    IsoTime marker, or a value that must be equal and of the same type. Extra fields are allowed,
    camelCase like every key of our wire JSON."""
    assert isinstance(data, dict), data
    for name, want in shape.items():
        assert name in data, f"{name} missing from {data}"
        value = data[name]
        if want is IsoTime:
            assert isinstance(value, str) and ISO.match(value), f"{name}: {value!r} is not an ISO UTC time"
        elif isinstance(want, type):
            assert type(value) is want, f"{name}: {value!r} is not a {want.__name__}"
        else:
            assert (value, type(value)) == (want, type(want)), f"{name}: {value!r} != {want!r}"
    assert_camel(data)


def assert_camel(doc: Any) -> None:
    if isinstance(doc, dict):
        for key, value in doc.items():
            assert CAMEL.match(key), f"{key!r} is not camelCase"
            assert_camel(value)
    elif isinstance(doc, list):
        for item in doc:
            assert_camel(item)
