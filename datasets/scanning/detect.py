"""Finding personal data in one buffer of whole lines. Candidates come from a few fast
passes over the translated buffer (see rules.py); each is confirmed, or not, on the
original bytes around it. What leaves this module is a Hit with a *masked* example:
the raw value never outlives the function that checked it."""

import re
from typing import NamedTuple

from . import rules


class Hit(NamedTuple):
    start: int
    end: int
    kind: str
    # The raw value, for the aggregator to mask *if* it needs another example (three per
    # finding): it lives only as long as the buffer it came from, and never shows in a
    # repr, a log line or an exception.
    value: bytes
    label: str = ""  # the lab pattern's name
    # An unformatted run of 13-19 digits: counted as a card number only where most such
    # runs pass the card checks (a column of order numbers passes one time in fifty).
    gated: bool = False
    ok: bool = True

    def __repr__(self):
        return f"Hit({self.start}, {self.end}, {self.kind!r}, {self.label!r})"

    @property
    def example(self) -> str:
        if self.kind == "lab_pattern":
            return rules.mask_generic(self.value)
        return rules.mask(self.kind, self.value)


_LOCAL_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+'-"
_HEX_COLON = b"0123456789abcdefABCDEF:."
_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset(b"0123456789")
_REACH = 200  # how far a check looks around its candidate, within the line


def _bounds(buf: bytes, p: int, q: int) -> tuple[int, int]:
    """The line around [p, q), at most _REACH bytes either side."""
    start = p - _REACH if p > _REACH else 0
    lo = buf.rfind(b"\n", start, p) + 1 or start
    hi = buf.find(b"\n", q, q + _REACH)
    return lo, (q + _REACH if hi == -1 else hi)


_TOKEN_CHARS = b"0123456789()+ .-"


def _token_start(buf: bytes, lo: int, p: int) -> int:
    """Where the number-like token around `p` begins (a phone number, an SSN, a card
    number start at most a few characters before their first separator)."""
    seg = buf[p - 16 if p - 16 > lo else lo : p]
    return p - len(seg) + len(seg.rstrip(_TOKEN_CHARS))


def _first_covering(rx: re.Pattern, buf: bytes, lo: int, hi: int, p: int, q: int):
    """The first match of `rx` that overlaps the candidate at [p, q)."""
    for m in rx.finditer(buf, _token_start(buf, lo, p), hi):
        if m.start() >= q:
            return None
        if m.end() > p:
            return m
    return None


def _email(buf: bytes, at: int) -> Hit | None:
    domain = rules.EMAIL_DOMAIN.match(buf, at)
    if domain is None or domain[2].lower() in rules.NOT_TLDS:
        return None
    before = buf[at - 64 if at > 64 else 0 : at]
    local = before[len(before.rstrip(_LOCAL_CHARS)) :].lstrip(b"._%+'-")
    if not local:
        return None
    start = at - len(local)
    return Hit(start, domain.end(), "email", buf[start : domain.end()])


def _numbers(buf, t, p, q, kinds) -> list[Hit]:
    """SSNs, phone numbers, grouped card numbers, IPv4 addresses around a candidate."""
    lo, hi = _bounds(buf, p, q)
    # The shapes exclude one another: the first (most specific) that fits wins.
    m = "credit_card" in kinds and _first_covering(rules.CARD_GROUPED, buf, lo, hi, p, q)
    if m and rules.card_ok(rules.digits_of(m[0])):
        return [Hit(m.start(), m.end(), "credit_card", m[0])]
    m = "us_ssn" in kinds and _first_covering(rules.SSN, buf, lo, hi, p, q)
    if m and rules.ssn_ok(m[1], m[3], m[4]):
        return [Hit(m.start(), m.end(), "us_ssn", m[0])]
    m = "ipv4" in kinds and _first_covering(rules.IPV4, buf, lo, hi, p, q)
    if m and rules.ipv4_ok(m[0], buf[max(lo, m.start() - 12) : m.start()]):
        return [Hit(m.start(), m.end(), "ipv4", m[0])]
    m = "phone" in kinds and _first_covering(rules.PHONE, buf, lo, hi, p, q)
    if m and rules.phone_ok(m[0]):
        return [Hit(m.start(), m.end(), "phone", m[0])]
    m = "lat_lon" in kinds and rules.LAT_PAREN.match(buf, p)
    if m and rules.lat_lon_ok(m[1], m[2]):
        return [Hit(m.start(), m.end(), "lat_lon", m[0])]
    return []


def _ipv6(buf, t, p, q, kinds) -> list[Hit]:
    lo, hi = _bounds(buf, p, q)
    left = buf[max(lo, p - 45) : p]
    start = p - (len(left) - len(left.rstrip(_HEX_COLON)))
    right = buf[p:hi]
    end = p + (len(right) - len(right.lstrip(_HEX_COLON)))
    token = buf[start:end].rstrip(b".")
    if (start > 0 and (buf[start - 1 : start].isalnum() or buf[start - 1] == ord("_"))) or (
        end < len(buf) and (buf[end : end + 1].isalnum() or buf[end] == ord("_"))
    ):
        return []
    if not rules.ipv6_ok(token.decode("ascii", "replace")):
        return []
    return [Hit(start, start + len(token), "ipv6", token)]


def _card_run(buf, t, p, q, kinds) -> list[Hit]:
    if p > 0 and t[p - 1] == 48:  # inside a run whose start was already looked at
        return []
    m = rules.CARD_RUN.match(buf, p)
    if m is None or (p > 0 and buf[p - 1 : p] in (b".", b"-", b"_")) or t[p - 1 : p].isalpha():
        return []
    ok = rules.card_ok(m[0])
    return [Hit(p, m.end(), "credit_card", m[0], gated=True, ok=ok)]


def _word_at(t: bytes, p: int, q: int, *, open_end: bool) -> bool:
    if p > 0 and t[p - 1] in _LETTERS:
        return False
    return open_end or q >= len(t) or t[q] not in _LETTERS


def _birth(buf, t, p, q, kinds) -> list[Hit]:
    # "birth" may go on (birthday, birthdate); "born" and "dob" are whole words.
    if not _word_at(t, p, q, open_end=t[p + 1] == ord("i")):
        return []
    _lo, hi = _bounds(buf, p, q)
    m = rules.DATE.search(buf, q, min(hi, q + 48))
    if m is None or any(ch in _DIGITS for ch in buf[q : m.start()]):
        return []
    if not rules.birth_date_ok(m):
        return []
    return [Hit(m.start(), m.end(), "date_of_birth", m[0])]


def _lat(buf, t, p, q, kinds) -> list[Hit]:
    # "lat" opens a word ("lat", "latitude", "gps_lat") or a camelCase part ("decimalLatitude");
    # never the middle of one ("population", "translate").
    if p > 0 and t[p - 1] in _LETTERS and buf[p] != ord("L"):
        return []
    m = rules.LAT_CONTEXT.match(buf, p)
    if m is None or not rules.lat_lon_ok(m[1], m[2]):
        return []
    return [Hit(m.start(1), m.end(), "lat_lon", m[0][m.start(1) - p :])]


def _degrees(buf, t, p, q, kinds) -> list[Hit]:
    lo, hi = _bounds(buf, p, q)
    m = rules.LAT_DEGREES.search(buf, max(lo, p - 24), hi)
    if m is None or m.start() > p or not rules.lat_lon_ok(m[1], m[2]):
        return []
    return [Hit(m.start(), m.end(), "lat_lon", m[0])]


def _ssn_word(buf, t, p, q, kinds) -> list[Hit]:
    if not _word_at(t, p, q, open_end=False):  # "ssn", "ssn_number"; not "classname"
        return []
    _lo, hi = _bounds(buf, p, q)
    m = rules.SSN_PLAIN.search(buf, q, min(hi, q + 24))
    if m is None or any(ch in _DIGITS for ch in buf[q : m.start()]):
        return []
    if not rules.ssn_ok(m[1], m[2], m[3]):
        return []
    return [Hit(m.start(), m.end(), "us_ssn", m[0])]


_CHECKS = {
    "sep": _numbers,
    "dot": _numbers,
    "paren": _numbers,
    "plus": _numbers,
    "colon": _ipv6,
    "digits": _card_run,
    "birth": _birth,
    "dob": _birth,
    "lat": _lat,
    "degree": _degrees,
    "ssn": _ssn_word,
}
_PLAN = [
    (
        name,
        rules.TRIGGERS[name],
        _CHECKS[name],
        rules.TRIGGER_KINDS[name],
        rules.TRIGGER_BYTES.get(name),
    )
    for name in rules.TRIGGERS
]
TEXT_PLAN = tuple(step[1:] for step in _PLAN)
TABLE_PLAN = tuple(step[1:] for step in _PLAN if step[0] not in rules.TEXT_ONLY_TRIGGERS)


def detect(buf: bytes, lab_patterns=(), plan=TEXT_PLAN, t: bytes | None = None) -> list[Hit]:
    """The hits in `buf` (whole lines), sorted by position, overlaps resolved in favour
    of the more specific kind. Lab patterns are the lab's own rules and always count.
    `t` is the translated buffer, when the caller has it already."""
    if t is None:
        t = buf.translate(rules.TRANSLATION)
    found: dict[int, Hit] = {}
    priority, sep, sep_kinds = rules.PRIORITY, rules.TRIGGERS["sep"], rules.SEP_KINDS
    # Bytes already claimed: a second candidate inside a value found once (the "sep"
    # inside "+1 555 123 4567") is not checked again.
    covered = bytearray(len(buf))

    def keep(hit: Hit) -> None:
        old = found.get(hit.start)
        if old is None or priority[hit.kind] > priority[old.kind]:
            found[hit.start] = hit
            covered[hit.start : hit.end] = b"\x01" * (hit.end - hit.start)

    at = buf.find(b"@")
    while at != -1:
        if hit := _email(buf, at):
            keep(hit)
        at = buf.find(b"@", at + 1)
    for trigger, check, kinds, first_byte in plan:
        if first_byte is not None and first_byte not in buf:
            continue
        if isinstance(trigger, bytes):
            size, i = len(trigger), t.find(trigger)
            while i != -1:
                if not covered[i]:
                    for hit in check(buf, t, i, i + size, kinds):
                        keep(hit)
                i = t.find(trigger, i + size)
            continue
        for m in trigger.finditer(t):
            if not covered[m.start()]:
                shape = sep_kinds[m.end() - m.start()] if trigger is sep else kinds
                for hit in check(buf, t, m.start(), m.end(), shape):
                    keep(hit)
    hits: list[Hit] = []
    for hit in sorted(found.values()):
        if hits and hit.start < hits[-1].end:
            if priority[hit.kind] > priority[hits[-1].kind]:
                hits[-1] = hit
            continue
        hits.append(hit)
    for label, rx in lab_patterns:
        for m in rx.finditer(buf):
            if m.end() > m.start():
                hits.append(Hit(m.start(), m.end(), "lab_pattern", m[0], label))
    if lab_patterns:
        hits.sort()
    return hits
