"""JSON text as RFC 8259 defines it, parsed with the stdlib and refused when it is not.

Python's `json` is generous where the registry must not be: it guesses UTF-16 and
UTF-32, skips a UTF-8 byte order mark, reads `NaN` and `Infinity`, keeps the last
of duplicate names, lets lone surrogate escapes through, and recurses as deep as the
document goes (10,000 levels are a RecursionError). A manifest is content-addressed
and read by many parsers; anything they could read differently is refused here.

Nesting is bounded before parsing. Real manifests and image configs are five or six
levels deep (index > manifests > descriptor > platform > os.features); 64 leaves
room for extension fields at ten times that, and keeps the parser a long way from
Python's recursion limit. A document with at most 64 brackets cannot nest deeper,
so most image manifests cost two `str.count` calls; a bigger one (an index of many
platforms) has the brackets outside its strings picked out with `bytes.translate`
and their running depth summed: tens of microseconds for a 40-platform index. A
hostile 4 MiB document costs a few hundred milliseconds here, a fraction of what
parsing it would.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64


class JSONTextError(ValueError):
    """The bytes are not JSON text the registry accepts; the message says why."""


_UTF8_BOM = b"\xef\xbb\xbf"
# a string, escapes and all; an unterminated one runs to the end (so a match never
# fails once started, and the scan stays linear whatever the input)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_BRACKETS_OR_QUOTES = bytes(b for b in range(256) if b not in b'[]{}"')
_STEP = tuple({ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.get(b, 0) for b in range(256))


def _constant(name: str) -> Any:
    raise JSONTextError(f"{name} is not a JSON value")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONTextError(
                    f"the name {key[:100]!r} appears twice in one object, and parsers "
                    "differ on which one counts"
                )
            seen.add(key)
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant)


def depth(data: bytes) -> int:
    """How deeply arrays and objects nest in `data` (a scalar is 0, `{}` is 1).

    Exact for valid JSON; for invalid JSON, exact up to the first error, which is
    as far as a parser gets.
    """
    if b'\\"' in data:  # an escaped quote: find where strings end the slow way
        brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    else:
        # Every quote opens or closes a string, so a bracket is inside one when an odd
        # number of quotes come before it. Dropping two adjacent quotes keeps that
        # parity; what is left usually has no quote at all (no string holds a bracket).
        brackets = data.translate(None, _NOT_BRACKETS_OR_QUOTES).replace(b'""', b"")
        if b'"' in brackets:
            brackets = b"".join(brackets.split(b'"')[::2])
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _encoding_problem(data: bytes) -> str | None:
    if data.startswith(_UTF8_BOM):
        return "starts with a byte order mark; JSON text must be UTF-8 without one"
    head = data[:4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return "is UTF-16 or UTF-32; JSON text must be UTF-8"
    return None


def loads(data: bytes, *, what: str = "the document", max_depth: int = MAX_DEPTH) -> Any:
    """Parse `data` as UTF-8 JSON text; raise JSONTextError saying what is wrong.

    `what` names the document in messages ("manifest").
    """
    problem = _encoding_problem(data)
    if problem:
        raise JSONTextError(f"{what} {problem}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONTextError(
            f"{what} is not UTF-8: byte {exc.start} is {data[exc.start]:#04x}"
        ) from None
    if text.count("[") + text.count("{") > max_depth and depth(data) > max_depth:
        raise JSONTextError(f"{what} nests arrays and objects more than {max_depth} deep")
    try:
        value = _DECODER.decode(text)
    except JSONTextError as exc:
        raise JSONTextError(f"{what}: {exc}") from None
    except RecursionError:  # not reached within MAX_DEPTH; a backstop all the same
        raise JSONTextError(f"{what} nests too deeply") from None
    except ValueError as exc:
        raise JSONTextError(f"{what} is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):  # the only way a lone surrogate gets in
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JSONTextError(
                f"{what} escapes a lone UTF-16 surrogate, which is no character"
            ) from None
    return value
