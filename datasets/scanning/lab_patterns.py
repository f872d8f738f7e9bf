"""A lab's own patterns (a study's participant-ID format, say), checked before they
are saved so that none can make a scan crawl: short, ASCII, every repeat bounded, no
repeat inside a repeat or around alternatives (the shapes behind catastrophic
backtracking), no back-references, and nothing that matches ordinary values. With
bounded repeats the work per position is bounded too, so no timeout is needed."""

import re

try:  # the parser behind `re`: the only way to see a pattern's structure
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants
    import sre_parse

MAX_LENGTH = 200
MAX_REPEAT = 100
# A pattern that matches any of these would flag half of every dataset.
ORDINARY = ("0", "1", "42", "2024", "3.14", "a", "yes", "id", "-", " ", "x1")

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT)}
_BACKREFS = {sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS}


class UnsafePattern(ValueError):
    """The pattern is refused; the message says why and what to write instead."""


def _walk(items, inside_repeat: bool) -> None:
    for op, av in items:
        if op in _REPEATS:
            _low, high, body = av
            if high == sre_constants.MAXREPEAT:
                raise UnsafePattern(
                    "Use a bounded repeat such as \\d{1,8} instead of +, * or {n,}: "
                    "an open-ended repeat can make a scan take very long."
                )
            if high > MAX_REPEAT:
                raise UnsafePattern(f"Keep every repeat at {MAX_REPEAT} or fewer.")
            if inside_repeat and high > 1:
                raise UnsafePattern(
                    "A repeated group may not contain another repeat, as in (a{1,5}){1,5}: "
                    "write the group out, or use a character class."
                )
            if high > 1 and any(o == sre_constants.BRANCH for o, _ in _flatten(body)):
                raise UnsafePattern(
                    "A repeated group may not contain alternatives, as in (a|ab){1,5}: "
                    "use a character class such as [ab]{1,5}."
                )
            _walk(body, inside_repeat or high > 1)
        elif op in _BACKREFS:
            raise UnsafePattern("Back-references (\\1) are not allowed.")
        else:
            for sub in _children(op, av):
                _walk(sub, inside_repeat)


def _children(op, av):
    if op == sre_constants.SUBPATTERN:
        return [av[-1]]
    if op == sre_constants.BRANCH:
        return list(av[1])
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [av[1]]
    if op == getattr(sre_constants, "ATOMIC_GROUP", None):
        return [av]
    return []


def _flatten(items):
    for op, av in items:
        yield op, av
        for sub in _children(op, av):
            yield from _flatten(sub)


def compile_lab_pattern(pattern: str) -> re.Pattern:
    """The compiled bytes pattern, or UnsafePattern with a message a person can act on."""
    pattern = (pattern or "").strip()
    if not pattern:
        raise UnsafePattern("Enter a regular expression, e.g. P-\\d{4}-\\d{3}.")
    if len(pattern) > MAX_LENGTH:
        raise UnsafePattern(f"Keep the pattern under {MAX_LENGTH} characters.")
    if not pattern.isascii() or any(ord(c) < 32 for c in pattern):
        raise UnsafePattern("Use plain ASCII characters (no control characters).")
    try:
        compiled = re.compile(pattern.encode())
        _walk(sre_parse.parse(pattern), inside_repeat=False)
    except re.error as exc:
        raise UnsafePattern(f"This is not a valid regular expression: {exc.msg}.") from None
    except RecursionError:
        raise UnsafePattern("The pattern is nested too deeply.") from None
    if compiled.search(b"") is not None:
        raise UnsafePattern("The pattern matches empty text; make it match a whole value.")
    for value in ORDINARY:
        if compiled.fullmatch(value.encode()):
            raise UnsafePattern(
                f"The pattern matches ordinary values such as “{value}”: make it more specific."
            )
    return compiled
