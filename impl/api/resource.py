"""resource.Quantity as Kubernetes parses, compares and prints it.

Counterpart of k8s.io/apimachinery/pkg/api/resource: quantity.go (ParseQuantity and its scanner
parseQuantityString, CanonicalizeBytes / String, Cmp, Value, MilliValue, ScaledValue), suffix.go
(quantitySuffixer.interpret and constructBytes) and amount.go (AsCanonicalBytes,
AsCanonicalBase1024Bytes). The grammar:

    quantity  ::= [+-] number suffix
    number    ::= digits | digits "." digits | digits "." | "." digits
    suffix    ::= "" | m k M G T P E | n u | Ki Mi Gi Ti Pi Ei | ("e" | "E") [+-] digits

A value is kept exactly, as `mantissa * 10**exponent` with Python integers, where upstream keeps
an int64 mantissa and falls back to inf.Dec. Parsing behaves as upstream's does: a value finer than
a nanounit is rounded up (away from zero) to 1n, a BinarySI value beyond 2^63-1 is capped there,
a BinarySI value strictly between 0 and 1 becomes DecimalSI, and the input string itself is kept for
printing when upstream judges it canonical (its fast path: "1Ki", "100m", but also "+1" and "1E3").
Printing without such a string gives the canonical form: no fractional digits, the largest
suffix of the quantity's own format that loses nothing (1.5Gi -> 1536Mi, 1000m -> 1, 1.5 -> 1500m),
and exponent notation where the format has no suffix large enough (1000E -> 1e21).

The one deliberate difference: `value()` (Value()) is exact up to int64 and saturates beyond it,
where upstream's int64 arithmetic overflows (Value() of "200E" is 0 there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
BINARY_SI = "BinarySI"  # 12Mi (12 * 2^20)
DECIMAL_SI = "DecimalSI"  # 12M (12 * 10^6)

MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)
MAX_INT32 = 2**31 - 1
NANO = -9  # the finest scale a parsed quantity keeps
MAX_INT64_FACTORS = 18  # decimal digits that surely fit an int64 (quantity.go maxInt64Factors)

SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_EXPONENT_DIGITS = re.compile(r"[+-]?[0-9]+")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER = {e // 10: s for s, e in _BINARY_SUFFIXES.items()}


class QuantityError(ValueError):
    """A string that is not a quantity; `reason` is upstream's error (ErrFormatWrong, ErrNumeric, ErrSuffix)."""

    def __init__(self, text: str, reason: str):
        super().__init__(f"{text!r}: {reason}")
        self.text, self.reason = text, reason


@dataclass(frozen=True, eq=False)
class Quantity:
    """A fixed-point number with the format it prints in; compares by value, as Quantity.Cmp."""

    mantissa: int
    exponent: int = 0  # the value is mantissa * 10**exponent
    format: str = DECIMAL_SI
    text: str = ""  # the parsed string, printed as is (quantity.go keeps it in `s`)

    # ------------------------------------------------------------ comparison (Cmp, Sign, IsZero)

    def sign(self) -> int:
        return (self.mantissa > 0) - (self.mantissa < 0)

    def is_zero(self) -> bool:
        return self.mantissa == 0

    def cmp(self, other: Quantity) -> int:
        """-1, 0 or 1 as Quantity.Cmp: by value only, whatever the formats."""
        return _compare(self.mantissa, self.exponent, other.mantissa, other.exponent)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.cmp(other) == 0

    def __lt__(self, other: Quantity) -> bool:
        return self.cmp(other) < 0

    def __le__(self, other: Quantity) -> bool:
        return self.cmp(other) <= 0

    def __gt__(self, other: Quantity) -> bool:
        return self.cmp(other) > 0

    def __ge__(self, other: Quantity) -> bool:
        return self.cmp(other) >= 0

    def __hash__(self) -> int:
        return hash(_normalized(self.mantissa, self.exponent))

    def __neg__(self) -> Quantity:
        return Quantity(-self.mantissa, self.exponent, self.format)

    # ------------------------------------------------------------ values (Value, MilliValue, ScaledValue)

    def scaled_value(self, scale: int) -> int:
        """ScaledValue: ceil(q / 10^scale), away from zero; saturated to int64 beyond it."""
        m, e = self.mantissa, self.exponent - scale
        if m == 0:
            return 0
        if _magnitude_digits(m, e) > 20:  # far beyond int64 either way: no need to build the number
            return MAX_INT64 if m > 0 else MIN_INT64
        value = _ceil_away(m, e)
        return max(MIN_INT64, min(MAX_INT64, value))

    def value(self) -> int:
        """Value: the quantity rounded up (away from zero) to a whole number."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        return self.scaled_value(-3)

    # ------------------------------------------------------------ printing (String, CanonicalizeBytes)

    def __str__(self) -> str:
        return self.text or self.canonical()

    def canonical(self) -> str:
        """CanonicalizeBytes: the canonical form, ignoring any kept input string."""
        if self.mantissa == 0:
            return "0"
        fmt = self.format if self.format in (DECIMAL_SI, BINARY_SI) else DECIMAL_EXPONENT
        rounded = 0
        if fmt == BINARY_SI:
            if _compare(abs(self.mantissa), self.exponent, 1024, 0) < 0:
                fmt = DECIMAL_SI  # -1024 < q < 1024: avoids rounding, and confusion
            else:
                rounded = _ceil_away(self.mantissa, self.exponent)
                if _compare(rounded, 0, self.mantissa, self.exponent) != 0:
                    fmt = DECIMAL_SI  # showing it in binary would lose precision
        if fmt != BINARY_SI:
            number, exponent = _canonical_decimal(self.mantissa, self.exponent)
            return f"{number}{_decimal_suffix(exponent, fmt)}"
        number, power = _remove_factors(rounded, 1024)
        if power == 0:
            return str(number)
        if power in _BINARY_BY_POWER:
            return f"{number}{_BINARY_BY_POWER[power]}"
        number, exponent = _canonical_decimal(rounded, 0)  # no binary suffix beyond Ei
        return f"{number}{_decimal_suffix(exponent, DECIMAL_EXPONENT)}"

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r}, {self.format})"


# ---------------------------------------------------------------- parsing


def parse_quantity(text: str) -> Quantity:
    """ParseQuantity: a quantity from its string, or QuantityError with upstream's reason."""
    if not isinstance(text, str) or text == "":
        raise QuantityError(text, ERR_FORMAT_WRONG)
    if text == "0":
        return Quantity(0, 0, DECIMAL_SI, "0")
    positive, value, num, denom, suffix = _scan(text)
    base, exponent, fmt = _interpret(text, suffix)
    fast = _int64_fast_path(fmt, exponent, num, denom)
    if not fast and not _DIGITS.intersection(value):
        raise QuantityError(text, ERR_NUMERIC)  # inf.Dec reads no digit in "", "+" or "."
    kept = text if fast and _looks_canonical(fmt, exponent, num, denom) else ""
    if base == 10:
        mantissa, scale = int(num + denom), exponent - len(denom)
    else:
        mantissa, scale = int(num + denom) << exponent, -len(denom)
    if mantissa != 0 and scale < NANO:
        mantissa, scale = _round_up_to_nano(mantissa, scale), NANO
    if fmt == BINARY_SI and _compare(mantissa, scale, MAX_INT64, 0) > 0:
        mantissa, scale = MAX_INT64, 0
    if fmt == BINARY_SI and mantissa != 0 and _compare(mantissa, scale, 1, 0) < 0:
        fmt = DECIMAL_SI
    if not positive:
        mantissa = -mantissa
    mantissa, scale = _normalized(mantissa, scale)
    return Quantity(mantissa, scale, fmt, kept)


def _scan(s: str) -> tuple[bool, str, str, str, str]:
    """parseQuantityString: (positive, value, num, denom, suffix); num has no leading zeros ("0" if none)."""
    positive, pos, end = True, 0, len(s)
    if s[0] in "+-":
        positive, pos = s[0] == "+", 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos]
    if pos >= end:
        return positive, s, num, "", ""
    num = num or "0"
    denom = ""
    if s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
        if pos >= end:
            return positive, s, num, denom, ""
    value, suffix_start = s[:pos], pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:  # a character no part of the grammar allows here
        raise QuantityError(s, ERR_FORMAT_WRONG)
    return positive, value, num, denom, s[suffix_start:]


def _interpret(text: str, suffix: str) -> tuple[int, int, str]:
    """quantitySuffixer.interpret: (base, exponent, format) of a suffix."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and _EXPONENT_DIGITS.fullmatch(suffix[1:]):
        exponent = int(suffix[1:])
        if -MAX_INT32 <= exponent <= MAX_INT32:  # the scale is an int32 that gets negated
            return 10, exponent, DECIMAL_EXPONENT
    raise QuantityError(text, ERR_SUFFIX)


def _int64_fast_path(fmt: str, exponent: int, num: str, denom: str) -> bool:
    """Whether ParseQuantity takes its int64 path (no rounding, no capping) rather than inf.Dec."""
    if fmt == BINARY_SI:
        if denom:
            return False
        precision = 15 - len(num) - (exponent * 3) // 10 - 1  # 1Mi (2^20) has about 6 digits
        return precision >= 0 and int(num) << exponent <= MAX_INT64
    precision = MAX_INT64_FACTORS - (len(num) + len(denom))
    return precision >= 0 and exponent - len(denom) >= NANO


def _looks_canonical(fmt: str, exponent: int, num: str, denom: str) -> bool:
    """The fast path's test for reusing the input string as the printed form."""
    if fmt == BINARY_SI:
        return exponent % 10 == 0 and int(num) & 0x07 != 0
    shifted = num + denom
    return (exponent - len(denom)) % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


# ---------------------------------------------------------------- exact arithmetic on mantissa * 10**exponent


def _normalized(mantissa: int, exponent: int) -> tuple[int, int]:
    if mantissa == 0:
        return 0, 0
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    return mantissa, exponent


def _magnitude_digits(mantissa: int, exponent: int) -> int:
    """The number of digits left of the point of |mantissa * 10**exponent| (0 when below 1)."""
    return max(0, len(str(abs(mantissa))) + exponent)


def _compare(m1: int, e1: int, m2: int, e2: int) -> int:
    s1, s2 = (m1 > 0) - (m1 < 0), (m2 > 0) - (m2 < 0)
    if s1 != s2 or s1 == 0:
        return (s1 > s2) - (s1 < s2)
    o1, o2 = len(str(abs(m1))) + e1, len(str(abs(m2))) + e2  # orders of magnitude decide when they differ
    if o1 != o2:
        return s1 if o1 > o2 else -s1
    shift = min(e1, e2)  # same order: the exponents differ by at most the digit counts
    a, b = m1 * 10 ** (e1 - shift), m2 * 10 ** (e2 - shift)
    return (a > b) - (a < b)


def _ceil_away(mantissa: int, exponent: int) -> int:
    """mantissa * 10**exponent rounded to an integer away from zero."""
    if exponent >= 0:
        return mantissa * 10**exponent
    if _magnitude_digits(mantissa, exponent) == 0:
        return 1 if mantissa > 0 else -1 if mantissa < 0 else 0
    q, r = divmod(abs(mantissa), 10**-exponent)
    q += r != 0
    return q if mantissa > 0 else -q


def _round_up_to_nano(mantissa: int, scale: int) -> int:
    """The nanounits of |mantissa * 10**scale| (scale < -9), rounded up: inf.Dec.Round(9, RoundUp)."""
    drop = NANO - scale
    if drop > len(str(mantissa)):
        return 1
    q, r = divmod(mantissa, 10**drop)
    return q + (r != 0)


def _remove_factors(value: int, base: int) -> tuple[int, int]:
    """removeInt64Factors / removeBigIntFactors: value / base^n for the largest n, and n."""
    negative, value, times = value < 0, abs(value), 0
    while value >= base and value % base == 0:
        value //= base
        times += 1
    return (-value if negative else value), times


def _canonical_decimal(mantissa: int, exponent: int) -> tuple[int, int]:
    """AsCanonicalBytes: all factors of ten moved into the exponent, then the exponent lowered to a multiple of 3."""
    mantissa, times = _remove_factors(mantissa, 10)
    exponent += times
    while exponent % 3 != 0:
        mantissa *= 10
        exponent -= 1
    return mantissa, exponent


def _decimal_suffix(exponent: int, fmt: str) -> str:
    """constructBytes(10, exponent, fmt); DecimalSI falls back to "e" beyond E and below n."""
    if fmt == DECIMAL_SI and exponent in _DECIMAL_BY_EXPONENT:
        return _DECIMAL_BY_EXPONENT[exponent]
    return f"e{exponent}" if exponent else ""


def new_quantity(value: int, fmt: str = DECIMAL_SI) -> Quantity:
    """NewQuantity: an integer in a format."""
    return Quantity(*_normalized(value, 0), fmt)


def new_scaled_quantity(value: int, scale: int, fmt: str = DECIMAL_SI) -> Quantity:
    """NewScaledQuantity / NewMilliQuantity (scale -3): value * 10^scale."""
    return Quantity(*_normalized(value, scale), fmt)
