"""Every rule of the content scan, in one place: the kinds it reports, the header names
and context words it trusts, the shapes that make a candidate, the checks that confirm
one, and how an example is masked. The engine (detect.py) only runs these.

The engine looks for candidates in a *translated* copy of each buffer (digits → "0",
letters lower-cased, "-" and " " → SEP), where a phone number, an SSN or a run of card
digits becomes a short literal that the regex engine finds at memchr speed. Only a
candidate is then checked against the precise patterns below, on the original bytes."""

import datetime
import ipaddress
import re


def words(text: str) -> list[str]:
    return text.split()


KIND_LABELS = {
    "email": "E-mail address",
    "phone": "Phone number",
    "us_ssn": "US social security number",
    "credit_card": "Credit card number",
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
    "date_of_birth": "Date of birth",
    "lat_lon": "Precise coordinates",
    "identifier_column": "Identifying column",
    "lab_pattern": "Lab pattern",
}
KINDS = tuple(KIND_LABELS)
# When two kinds claim the same characters, the more specific one wins.
PRIORITY = {
    "credit_card": 9, "us_ssn": 8, "email": 7, "ipv6": 6, "ipv4": 5, "phone": 4, "lat_lon": 3,
    "date_of_birth": 2, "identifier_column": 1, "lab_pattern": 0,
}  # fmt: skip

# --- Candidates, found in the translated buffer ------------------------------------------

SEP = b"\x01"
TRANSLATION = bytes.maketrans(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ- ",
    b"0000000000abcdefghijklmnopqrstuvwxyz" + SEP + SEP,
)
# In this order: a value found once is not checked again by a later pass, so the passes
# with a single kind to check go first.
TRIGGERS: dict[str, re.Pattern | bytes] = {
    "plus": re.compile(rb"\+0"),  # +44 20 7946 0958
    "paren": re.compile(rb"\((?:0|\x010)"),  # (555) 123-4567, (52.37021, 4.89516)
    # "<sep>dd..." shapes; the length of the match says which one, and so what the value
    # can be (BRANCH_KINDS). No groups: they would slow every attempt down.
    "sep": re.compile(
        rb"\x0100(?:\x010000"  # 8: 123-45-6789, +44 20 7946 …
        rb"|0\x010000"  # 9: 555-123-4567
        rb"|00\x010000"  # 10: 4111 1111 …, 020 7946 0958
        rb"|0000"  # 7: 3782 822463 10005, 06 12345678
        rb"|\x0100\x0100\x0100)"  # 12: 01 23 45 67 89
    ),
    "dot": re.compile(rb"\.0{1,3}+\.0"),  # 192.168.1.20, 555.123.4567
    "colon": re.compile(rb":(?::|[0a-f]{1,4}:[0a-f]{1,4}:)"),  # IPv6
    "digits": b"0" * 13,  # unformatted card numbers; a plain bytes.find is fastest here
    "birth": re.compile(rb"b(?:irth|orn)"),
    "dob": re.compile(rb"dob"),
    "lat": re.compile(rb"lat"),
    "degree": re.compile(rb"\xb0"),  # 52.37021° N (UTF-8 and Latin-1 both end in B0)
    "ssn": re.compile(rb"ssn"),
}
# A pass whose first byte is absent from the buffer is skipped (a memchr, not a scan).
TRIGGER_BYTES = {"paren": b"(", "plus": b"+", "degree": b"\xb0", "colon": b":"}
# In CSV and TSV the headers give the context (lat/lon, ssn columns): those words are
# looked for in free text only.
TEXT_ONLY_TRIGGERS = frozenset({"lat", "ssn"})
SEP_KINDS = {
    8: ("us_ssn", "phone"),
    9: ("phone",),
    10: ("credit_card", "phone"),
    7: ("credit_card", "phone"),
    12: ("phone",),
}
# Which kinds each candidate may turn out to be.
TRIGGER_KINDS = {
    "sep": ("us_ssn", "phone", "credit_card"),
    "dot": ("ipv4", "phone"),
    "paren": ("phone", "lat_lon"),
    "plus": ("phone",),
    "colon": ("ipv6",),
    "digits": ("credit_card",),
    "birth": ("date_of_birth",),
    "dob": ("date_of_birth",),
    "lat": ("lat_lon",),
    "degree": ("lat_lon",),
    "ssn": ("us_ssn",),
}

# --- Precise patterns, run on the original bytes around a candidate --------------------

_B = rb"(?<![\w.+/-])"  # not glued to a longer token (ISBNs, UUIDs, order numbers, floats)
_E = rb"(?![\w/-]|\.\d)"
EMAIL_LOCAL = re.compile(rb"[A-Za-z0-9](?:[A-Za-z0-9._%+'-]{0,63})\Z")
EMAIL_DOMAIN = re.compile(
    rb"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))"
    rb"(?![A-Za-z0-9-]|\.[A-Za-z0-9]|:[^\d\s])"
)
# image@2x.png, data@v1.csv: file names, not addresses.
NOT_TLDS = frozenset(
    w.encode()
    for w in words(
        "png jpg jpeg gif svg webp bmp ico tif tiff pdf csv tsv json txt js css html htm xml py "
        "zip gz tar md yml yaml mp3 mp4 wav h5 nc npy parquet ipynb r rs go java"
    )
)
SSN = re.compile(_B + rb"(\d{3})([- ])(\d{2})\2(\d{4})" + _E)
SSN_PLAIN = re.compile(rb"(?<![\w.-])(\d{3})-?(\d{2})-?(\d{4})(?![\w-]|\.\d)")
PHONE = re.compile(
    _B + rb"(?:\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    rb"|00[1-9]\d{0,2}[ .-](?:\d{1,4}[ .-]?){1,4}\d{2,4}"  # 0049 30 1234567
    rb"|(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    rb"|0\d(?:[ .]\d\d){4}"
    rb"|0\d{1,4}[ -]\d{3,8}(?:[ -]\d{3,4})?)" + _E
)
CARD_GROUPED = re.compile(
    _B + rb"(?:\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|3[47]\d\d([ -])\d{6}\2\d{5})" + _E
)
CARD_RUN = re.compile(rb"\d{13,19}(?!\w|\.\d)")
IPV4 = re.compile(rb"(?<![\w.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)")
VERSION_BEFORE = re.compile(
    rb"(?i)(?:version|release|build|ver\.?|rev\.?|v)[\"']?\s*[:=]?\s*[\"']?\Z"
)
IPV6_CHARS = frozenset(b"0123456789abcdefABCDEF:.")
LAT_CONTEXT = re.compile(
    rb"(?i)lat(?:itude)?\w{0,12}[\"']?\s*(?:/\s*(?:lon|lng|long)\w{0,9}\s*)?[:=]?\s*[\"']?"
    rb"(-?\d{1,2}\.\d{4,})\s*(?:\xc2?\xb0)?\s*[NS]?[\"']?\s*[,;/\s]\s*"
    rb"(?:[\"']?(?:lon|lng|long)\w{0,12}[\"']?\s*[:=]?\s*[\"']?)?(-?\d{1,3}\.\d{4,})"
)
LAT_DEGREES = re.compile(
    rb"(\d{1,2}\.\d{4,})\s*\xc2?\xb0\s*[NS],?\s*(\d{1,3}\.\d{4,})\s*\xc2?\xb0\s*[EW]"
)
LAT_PAREN = re.compile(rb"\(\s*(-?\d{1,2}\.\d{4,}),\s*(-?\d{1,3}\.\d{4,})\s*\)")
_MONTHS = words("jan feb mar apr may jun jul aug sep oct nov dec")
_MONTH = rb"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
DATE = re.compile(
    rb"(?i)(?<![\d.])(?:(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    rb"|(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d\d)"
    rb"|(\d{1,2})(?:st|nd|rd|th)?\.?\s+" + _MONTH + rb",?\s+(\d{4})"
    rb"|" + _MONTH + rb"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})"
    rb"|(\d{4})(\d\d)(\d\d))(?!\d|\.\d)"
)

# --- Checks --------------------------------------------------------------------------------


def luhn_ok(digits: bytes) -> bool:
    total = 0
    for n, ch in enumerate(reversed(digits)):
        d = ch - 48
        if n % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(digits: bytes) -> bool:
    """Luhn, and a length that the issuer's prefix allows (Visa, Mastercard, Amex,
    Discover, JCB, Diners): a random long number passes one time in fifty."""
    n, head = len(digits), digits[:6].decode()
    if len(set(digits)) == 1 or not luhn_ok(digits):
        return False
    two, four = int(head[:2]), int(head[:4])
    if head[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if head.startswith(("6011", "65")) or 644 <= int(head[:3]) <= 649:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if 300 <= int(head[:3]) <= 305 or two in (36, 38):
        return 14 <= n <= 19
    return False


def ssn_ok(area: bytes, group: bytes, serial: bytes) -> bool:
    a = int(area)
    return 0 < a < 900 and a != 666 and int(group) > 0 and int(serial) > 0


_NOT_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)


def digits_of(value: bytes) -> bytes:
    return value.translate(None, _NOT_DIGITS)


def phone_ok(value: bytes) -> bool:
    digits = value.translate(None, _NOT_DIGITS)
    n = len(digits)
    if value[0] == 43:  # "+"
        # "+1234.5678" is a signed number, not a phone.
        if value.count(b".") == 1 and not any(c in value for c in (b" ", b"-", b"(")):
            return False
        return 8 <= n <= 15
    if value.startswith(b"00"):  # 00 + country code, as "+" is written in Europe
        return 10 <= n <= 17
    return 9 <= n <= 13 and digits.count(digits[:1]) != n


def ipv4_ok(value: bytes, before: bytes) -> bool:
    try:
        ip = ipaddress.IPv4Address(value.decode())
    except ValueError:  # 999.1.1.1, leading zeros (dates like 01.02.03.04)
        return False
    first = int(value.split(b".")[0])
    if first in (0, 127) or first >= 224 or ip.is_unspecified:
        return False
    return not VERSION_BEFORE.search(before)


def ipv6_ok(token: str) -> bool:
    token = token.split("/")[0]
    if token.count(":") < 2 or len([g for g in token.split(":") if g]) < 3:
        return False
    try:
        ip = ipaddress.IPv6Address(token)
    except ValueError:  # MAC addresses, times, C++ scopes
        return False
    return not (ip.is_loopback or ip.is_unspecified)


def lat_lon_ok(lat: bytes, lon: bytes) -> bool:
    a, b = float(lat), float(lon)
    return abs(a) <= 90 and abs(b) <= 180 and (abs(a) > 0.01 or abs(b) > 0.01)


def birth_date_ok(m: re.Match) -> bool:
    """A real calendar day between 1900 and today, in any of the usual spellings."""
    g = [x.decode().lower() if x else None for x in m.groups()]
    today = datetime.date.today()
    if g[0]:
        candidates = [(g[0], g[1], g[2])]
    elif g[3]:
        year = g[5] if len(g[5]) == 4 else _century(g[5], today)
        candidates = [(year, g[4], g[3]), (year, g[3], g[4])]
    elif g[6]:
        candidates = [(g[8], _MONTHS.index(g[7][:3]) + 1, g[6])]
    elif g[9]:
        candidates = [(g[11], _MONTHS.index(g[9][:3]) + 1, g[10])]
    else:
        candidates = [(g[12], g[13], g[14])]
    for year, month, day in candidates:
        try:
            date = datetime.date(int(year), int(month), int(day))
        except ValueError:
            continue
        if datetime.date(1900, 1, 1) <= date <= today:
            return True
    return False


def _century(yy: str, today: datetime.date) -> str:
    return f"{19 if int(yy) > today.year % 100 else 20}{yy}"


# --- Column headers (CSV, TSV) and JSON keys ----------------------------------------------


def normalize_header(name: str) -> str:
    """Turns "First Name", "firstName" and "first-name" all into "first_name"."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip().strip("\"'"))
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


_PERSON = "first last given family full middle maiden patient participant subject person "
_PERSON += "contact respondent customer client applicant donor"
IDENTIFIER_NAMES = frozenset(
    words(
        "name fullname firstname lastname surname forename username user_name address street "
        "street_address home_address postal_address mailing_address addr postcode post_code "
        "postal_code zip_code zipcode dob date_of_birth birth_date birthdate birthday mrn "
        "medical_record_number nhs_number ssn social_security_number social_security national_id "
        "passport passport_number driver_license drivers_license email e_mail email_address "
        "phone telephone tel phone_number mobile_number mobile_phone cellphone cell_phone fax "
        "ip ip_address ipaddress ip_addr ipv4 ipv6 client_ip remote_addr remote_ip src_ip "
        "source_ip credit_card card_number cc_number iban"
    )
    + [f"{p}_name" for p in _PERSON.split()]
)
IDENTIFIER_SUFFIXES = tuple(
    words(
        "_email _e_mail _email_address _phone _phone_number _telephone _ssn _dob _mrn _ip "
        "_ip_address _first_name _last_name _full_name _surname _birth_date _date_of_birth "
        "_home_address _street_address _postal_address"
    )
)
DOB_NAMES = frozenset(words("dob date_of_birth birth_date birthdate birthday born_on"))
SSN_NAMES = frozenset(words("ssn social_security_number social_security ssn_number"))
PHONE_NAMES = frozenset(
    words("phone telephone tel phone_number mobile_number mobile_phone cellphone cell_phone fax")
)
GEO_PAIR_NAMES = frozenset(
    words(
        "coordinates coords coord latlon latlng lat_lon lat_lng lat_long gps geo location "
        "geolocation position point geometry"
    )
)


# Columns whose header says what the values are not: "2.10.0.1" under "version" is a
# version, "4000123412341234" under "order_number" an order number.
NOT_UNDER_HEADER = {
    "ipv4": frozenset(words("version release build firmware software sw oid")),
    "credit_card": frozenset(words("order invoice tracking barcode ean upc isbn sku serial")),
    "phone": frozenset(words("order invoice isbn sku serial part")),
    "us_ssn": frozenset(words("order invoice isbn sku serial part")),
}


def header_excludes(kind: str, norm: str) -> bool:
    return bool(NOT_UNDER_HEADER.get(kind, frozenset()) & set(norm.split("_")))


def identifier_header(norm: str) -> bool:
    return norm in IDENTIFIER_NAMES or norm.endswith(IDENTIFIER_SUFFIXES)


def header_role(norm: str) -> str | None:
    """What a column's values must be checked for, by its header."""
    tokens = set(norm.split("_"))
    if norm in DOB_NAMES or norm.endswith(("_dob", "_birth_date", "_date_of_birth")):
        return "dob"
    if norm in SSN_NAMES or norm.endswith("_ssn"):
        return "ssn"
    if norm in PHONE_NAMES or norm.endswith(("_phone", "_phone_number", "_telephone")):
        return "phone"
    if norm in GEO_PAIR_NAMES or ({"lat", "latitude"} & tokens and {"lon", "lng"} & tokens):
        return "geo_pair"
    if tokens & {"lat", "latitude"}:
        return "lat"
    if tokens & {"lon", "lng", "longitude"} or norm == "long":
        return "lon"
    return None


# --- Masking: what may be shown of a value (never the value itself) -------------------------

MASK = "•"


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _digits_masked(value: str, keep: int) -> str:
    """Every digit but the last `keep` replaced: "+44 20 7946 0958" → "+•• •• •••• ••58"."""
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    hidden = set(positions[: max(0, len(positions) - keep)])
    return "".join(MASK if i in hidden else c for i, c in enumerate(value))


def mask_generic(value: bytes) -> str:
    text = _text(value).strip()
    return (text[:1] + "".join(MASK if c.isalnum() else c for c in text[1:]))[:24]


def mask(kind: str, value: bytes) -> str:
    text = _text(value).strip()
    if kind == "email":
        local, _, domain = text.partition("@")
        name, _, tld = domain.rpartition(".")
        return f"{local[:1]}{MASK * 3}@{name[:1]}{MASK * 3}.{tld}"
    if kind in ("phone", "us_ssn"):
        return _digits_masked(text, 2)
    if kind == "credit_card":
        return _digits_masked(text, 4)
    if kind == "ipv4":
        return text.split(".")[0] + f".{MASK}.{MASK}.{MASK}"
    if kind == "ipv6":
        return text.split(":")[0] + f":{MASK * 3}"
    if kind == "lat_lon":
        numbers = re.findall(r"-?\d+\.\d", text)
        return ", ".join(f"{n}{MASK * 3}" for n in numbers[:2])
    if kind == "date_of_birth":
        return "".join(MASK if c.isalnum() else c for c in text)[:24]
    return mask_generic(value)
