"""resource.Quantity against the upstream tables, and properties against a naive reference.

The tables are staging/src/k8s.io/apimachinery/pkg/api/resource/quantity_test.go (TestQuantityParse
and its invalid list, TestParseQuantityString, TestQuantityString, TestQuantityParseEmit,
TestQuantityCmp, TestNewSet, TestMilliNewSet, TestNewScaledSet, TestInterpretExponentInt32Bounds,
TestNegativeValueRoundsAwayFromZero), written as facts: an upstream `decQuantity(m, e, format)` is
the value m * 10**e in that format.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvolt.impl.api import resource as r
from kvolt.impl.api.resource import BINARY_SI as B
from kvolt.impl.api.resource import DECIMAL_EXPONENT as X
from kvolt.impl.api.resource import DECIMAL_SI as D
from kvolt.impl.api.resource import Quantity, QuantityError, parse_quantity

MAX = 2**63 - 1

# TestQuantityParse: input -> (mantissa, exponent, format)
PARSE = [
    ("0", 0, 0, D), ("0n", 0, 0, D), ("0u", 0, 0, D), ("0m", 0, 0, D), ("0Ki", 0, 0, B), ("0k", 0, 0, D),
    ("0Mi", 0, 0, B), ("0M", 0, 0, D), ("0Gi", 0, 0, B), ("0G", 0, 0, D), ("0Ti", 0, 0, B), ("0T", 0, 0, D),
    # quantity-less numbers are allowed
    ("1", 1, 0, D),
    # binary suffixes
    ("1Ki", 1024, 0, B), ("8Ki", 8 * 1024, 0, B), ("7Mi", 7 * 1024**2, 0, B), ("6Gi", 6 * 1024**3, 0, B),
    ("5Ti", 5 * 1024**4, 0, B), ("4Pi", 4 * 1024**5, 0, B), ("3Ei", 3 * 1024**6, 0, B),
    ("10Ti", 10 * 1024**4, 0, B), ("100Ti", 100 * 1024**4, 0, B),
    # decimal suffixes
    ("5n", 5, -9, D), ("4u", 4, -6, D), ("3m", 3, -3, D), ("9", 9, 0, D), ("8k", 8, 3, D), ("50k", 5, 4, D),
    ("7M", 7, 6, D), ("6G", 6, 9, D), ("5T", 5, 12, D), ("40T", 4, 13, D), ("300T", 3, 14, D), ("2P", 2, 15, D),
    ("1E", 1, 18, D),
    # decimal exponents
    ("1E-3", 1, -3, X), ("1e3", 1, 3, X), ("1E6", 1, 6, X), ("1e9", 1, 9, X), ("1E12", 1, 12, X), ("1e15", 1, 15, X),
    ("1E18", 1, 18, X),
    # nonstandard but still parsable
    ("1e14", 1, 14, X), ("1e13", 1, 13, X), ("100.035k", 100035, 0, D),
    # things that look like floating point
    ("0.001", 1, -3, D), ("0.0005k", 5, -1, D), ("0.005", 5, -3, D), ("0.05", 5, -2, D), ("0.5", 5, -1, D),
    ("0.00050k", 5, -1, D), ("0.00500", 5, -3, D), ("0.05000", 5, -2, D), ("0.50000", 5, -1, D),
    ("0.5e0", 5, -1, X), ("0.5e-1", 5, -2, X), ("0.5e-2", 5, -3, X), ("10.035M", 10035, 3, D),
    ("1.2e3", 12, 2, X), ("1.3E+6", 13, 5, X), ("1.40e9", 14, 8, X), ("1.53E12", 153, 10, X), ("1.6e15", 16, 14, X),
    ("1.7E18", 17, 17, X),
    ("9.01", 901, -2, D), ("8.1k", 81, 2, D), ("7.123456M", 7123456, 0, D), ("6.987654321G", 6987654321, 0, D),
    ("5.444T", 5444, 9, D), ("40.1T", 401, 11, D), ("300.2T", 3002, 11, D), ("2.5P", 25, 14, D), ("1.01E", 101, 16, D),
    # things that saturate or round
    ("3.001n", 4, -9, D), ("1.1E-9", 2, -9, X), ("0.0000000001", 1, -9, D), ("0.0000000005", 1, -9, D),
    ("0.00000000050", 1, -9, D), ("0.5e-9", 1, -9, X), ("0.9n", 1, -9, D), ("0.00000012345", 124, -9, D),
    ("0.00000012354", 124, -9, D), ("9Ei", MAX, 0, B), ("9223372036854775807Ki", MAX, 0, B), ("12E", 12, 18, D),
    # fractional binary values
    ("100.035Ki", 10243584, -2, B), ("0.5Mi", 1024**2 // 2, 0, B), ("0.05Gi", 536870912, -1, B),
    ("0.025Ti", 274877906944, -1, B),
    # things written by trolls
    ("0.000000000001Ki", 2, -9, D), (".001", 1, -3, D), (".0001k", 100, -3, D), ("1.", 1, 0, D), ("1.G", 1, 9, D),
]

# the invalid list of TestQuantityParse, with the error upstream gives
INVALID = [
    ("", r.ERR_FORMAT_WRONG), ("1.1.M", r.ERR_FORMAT_WRONG), ("1+1.0M", r.ERR_FORMAT_WRONG), ("0.1mi", r.ERR_SUFFIX),
    ("0.1am", r.ERR_FORMAT_WRONG), ("aoeu", r.ERR_FORMAT_WRONG), (".5i", r.ERR_SUFFIX), ("1i", r.ERR_SUFFIX),
    ("-3.01i", r.ERR_SUFFIX), ("-3.01e-", r.ERR_SUFFIX), ("1e4294967297", r.ERR_SUFFIX), (" 1", r.ERR_FORMAT_WRONG),
    ("1 ", r.ERR_FORMAT_WRONG), ("Non-Numeric", r.ERR_FORMAT_WRONG),  # TestQuantityParseNonNumericPanic
]

# TestParseQuantityString: input -> (positive, value, num, denom, suffix)
SCAN = [
    ("0.025Ti", (True, "0.025", "0", "025", "Ti")), ("1.025Ti", (True, "1.025", "1", "025", "Ti")),
    ("-1.025Ti", (False, "-1.025", "1", "025", "Ti")), (".", (True, ".", "0", "", "")), ("-.", (False, "-.", "0", "", "")),
    ("1E-3", (True, "1", "1", "", "E-3")),
]

# TestQuantityString: (mantissa, exponent, format) -> (canonical string, an alternate spelling or "")
STRING = [
    ((1024**3, 0, B), "1Gi", "1024Mi"), ((300 * 1024**2, 0, B), "300Mi", "307200Ki"), ((6 * 1024, 0, B), "6Ki", ""),
    ((1001 * 1024**3, 0, B), "1001Gi", "1025024Mi"), ((1024**4, 0, B), "1Ti", "1024Gi"), ((5, 0, B), "5", "5000m"),
    ((500, -3, B), "500m", "0.5"), ((1, 9, D), "1G", "1000M"), ((1000, 6, D), "1G", "0.001T"), ((1000000, 3, D), "1G", ""),
    ((1000000000, 0, D), "1G", ""), ((1, -3, D), "1m", "1000u"), ((80, -3, D), "80m", ""), ((1080, -3, D), "1080m", "1.08"),
    ((108, -2, D), "1080m", "1080000000n"), ((10800, -4, D), "1080m", ""), ((300, 6, D), "300M", ""), ((1, 12, D), "1T", ""),
    ((1, 18, D), "1E", ""), ((1, 21, D), "1e21", "1000E"), ((5, 21, D), "5e21", "5000E"), ((1, 24, D), "1e24", "1000000E"),
    ((1, 70, B), "10e69", ""), ((2, 70, B), "20e69", ""), ((1, 72, B), "1e72", ""), ((1234567, 6, D), "1234567M", ""),
    ((1234567, -3, B), "1234567m", ""), ((3, 3, D), "3k", ""), ((1025, 0, B), "1025", ""), ((0, 0, D), "0", ""),
    ((0, 0, B), "0", ""), ((1, 9, X), "1e9", ".001e12"), ((1, -3, X), "1e-3", "0.001e0"), ((1, -9, X), "1e-9", "1000e-12"),
    ((80, -3, X), "80e-3", ""), ((300, 6, X), "300e6", ""), ((1, 12, X), "1e12", ""), ((1, 3, X), "1e3", ""),
    ((3, 3, X), "3e3", ""), ((0, 0, X), "0", "00"), ((1, -9, D), "1n", ""), ((80, -9, D), "80n", ""),
    ((1080, -9, D), "1080n", ""), ((108, -8, D), "1080n", ""), ((10800, -10, D), "1080n", ""), ((1, -6, D), "1u", ""),
    ((80, -6, D), "80u", ""), ((1080, -6, D), "1080u", ""),
]

# TestQuantityParseEmit
EMIT = [("1Ki", "1Ki"), ("1Mi", "1Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"), (".001Ki", "1024m"),
        (".000001Ki", "1024u"), (".000000001Ki", "1024n"), (".000000000001Ki", "2n")]

# TestQuantityCmp
CMP = [("0", "0", 0), ("100m", "50m", 1), ("50m", "100m", -1), ("10000T", "100Gi", 1)]

# TestNewSet / TestMilliNewSet / TestNewScaledSet: (value, scale, format) -> string
NEW = [
    (1, 0, D, "1"), (1000, 0, D, "1k"), (1234000, 0, D, "1234k"), (1024, 0, B, "1Ki"), (1000000, 0, "invalid", "1e6"),
    (1024 * 1024, 0, B, "1Mi"),
    (1, -3, D, "1m"), (1000, -3, D, "1"), (1234000, -3, D, "1234"), (1024, -3, B, "1024m"), (1000000, -3, "invalid", "1e3"),
    (1024 * 1024, -3, B, "1048576m"),
    (1, -9, D, "1n"), (1000, -9, D, "1u"), (1, -6, D, "1u"), (1000, -6, D, "1m"), (1, -3, D, "1m"), (1000, -3, D, "1"),
    (1, 0, D, "1"), (0, -9, D, "0"), (0, -6, D, "0"), (0, -3, D, "0"), (0, 0, D, "0"),
]

# TestNegativeValueRoundsAwayFromZero: input -> (Value(), MilliValue())
VALUES = [
    ("-.484785E-7466", -1, -1), (".484785E-7466", 1, 1), ("-.484785E-1", -1, -49), (".484785E-1", 1, 49),
    ("-0.0005", -1, -1), ("0.0005", 1, 1), ("-1500m", -2, -1500), ("1500m", 2, 1500),
    ("-9.5000000001Gi", -10200547329, -10200547328108), ("9.5000000001Gi", 10200547329, 10200547328108),
    ("-1", -1, -1000), ("1", 1, 1000), ("0", 0, 0),
]

# TestInterpretExponentInt32Bounds: an exponent suffix is accepted within [-MaxInt32, MaxInt32] only
EXPONENTS = [("e14", True), ("E2147483647", True), ("E-2147483647", True), ("E2147483648", False),
             ("E-2147483648", False), ("E4294967297", False), ("E8589934592", False), ("E9223372036854775807", False),
             ("E9223372036854775808", False), ("E6024865272343", False)]


def value_of(q: Quantity) -> Fraction:
    return Fraction(q.mantissa) * Fraction(10) ** q.exponent


def dec(m: int, e: int, fmt: str = D) -> Quantity:
    return r.new_scaled_quantity(m, e, fmt)


@pytest.mark.parametrize(("text", "mantissa", "exponent", "fmt"), PARSE)
@pytest.mark.parametrize("sign", ["", "-", "+"])
def test_parse_table(text, mantissa, exponent, fmt, sign):
    q = parse_quantity(sign + text)
    expected = Fraction(mantissa) * Fraction(10) ** exponent
    assert value_of(q) == (-expected if sign == "-" else expected)
    assert q.format == fmt


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_quantities_give_upstreams_error(text, reason):
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert info.value.reason == reason
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(("text", "parts"), SCAN)
def test_the_scanner_splits_as_upstream(text, parts):
    assert r._scan(text) == parts


@pytest.mark.parametrize(("q", "expect", "alternate"), STRING)
def test_canonical_string_table(q, expect, alternate):
    quantity = dec(*q)
    assert str(quantity) == expect
    assert parse_quantity(expect).text == expect  # the canonical form is kept as parsed
    if alternate:
        other = parse_quantity(alternate)
        assert other.text == "" and str(other) == expect
    if not quantity.is_zero():
        assert str(-quantity) == "-" + expect  # never "-0"


@pytest.mark.parametrize(("text", "expect"), EMIT)
def test_parse_emit_table(text, expect):
    assert str(parse_quantity(text)) == expect
    assert str(parse_quantity("-" + text)) == "-" + expect


@pytest.mark.parametrize(("x", "y", "expect"), CMP)
def test_compare_table(x, y, expect):
    a, b = parse_quantity(x), parse_quantity(y)
    assert a.cmp(b) == expect and b.cmp(a) == -expect
    assert (a == b) == (expect == 0) and (a < b) == (expect < 0) and (a > b) == (expect > 0)


@pytest.mark.parametrize(("value", "scale", "fmt", "expect"), NEW)
def test_constructed_quantities_print_as_upstream(value, scale, fmt, expect):
    q = r.new_scaled_quantity(value, scale, fmt)
    assert str(q) == expect
    assert parse_quantity(expect).scaled_value(scale) == value


@pytest.mark.parametrize(("text", "value", "milli"), VALUES)
def test_value_rounds_away_from_zero(text, value, milli):
    q = parse_quantity(text)
    assert (q.value(), q.milli_value()) == (value, milli)


@pytest.mark.parametrize(("suffix", "ok"), EXPONENTS)
def test_exponent_suffix_bounds(suffix, ok):
    if ok:
        assert r._interpret(suffix, suffix)[0] == 10
    else:
        with pytest.raises(QuantityError):
            r._interpret(suffix, suffix)


def test_zero_prints_zero_and_2_to_the_70_prints_in_full():
    assert str(parse_quantity("0")) == "0"
    assert str(dec(2**70, 0, B)) == "1180591620717411303424"  # TestBinarySIPastEiArithmeticRoundTrip


def test_what_the_issue_names():
    assert parse_quantity("200E").value() == MAX  # saturated; upstream's int64 overflows here
    assert value_of(parse_quantity("200E")) == 200 * 10**18
    assert str(parse_quantity("1.5Gi")) == "1536Mi"
    assert str(parse_quantity("1000m")) == "1"
    assert parse_quantity("500m") < parse_quantity("1") < parse_quantity("1Ki") < parse_quantity("1.5Gi")
    assert parse_quantity("1E3") == parse_quantity("1k") == parse_quantity("1e3") == parse_quantity("1000")


# ---------------------------------------------------------------- properties


def reference_value(text: str) -> Fraction | None:
    """A naive reading of a quantity with at least one digit: exact value, rounded up to 1n, BinarySI capped."""
    m = re.fullmatch(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)", text)
    assert m is not None
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    if not (whole + frac):
        return None
    number = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    binary = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
    decimal = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
    if suffix in binary:
        number *= 2 ** binary[suffix]
    elif suffix in decimal:
        number *= Fraction(10) ** decimal[suffix]
    else:
        number *= Fraction(10) ** int(suffix[1:])
    nanos = number * 10**9
    ceil = -(-nanos.numerator // nanos.denominator)
    number = Fraction(ceil, 10**9)
    if suffix in binary:
        number = min(number, Fraction(MAX))
    return -number if sign == "-" else number


SUFFIXES = st.sampled_from(["", "m", "k", "M", "G", "T", "P", "E", "n", "u", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
EXPONENT_SUFFIX = st.builds(lambda e, s: f"{e}{s}", st.sampled_from(["e", "E"]),
                            st.integers(-30, 30).map(lambda i: f"+{i}" if i > 0 and i % 2 else str(i)))
QUANTITY_TEXT = st.builds(
    lambda sign, whole, frac, suffix: f"{sign}{whole}{frac}{suffix}",
    st.sampled_from(["", "-", "+"]), st.text("0123456789", min_size=1, max_size=22),
    st.one_of(st.just(""), st.text("0123456789", max_size=14).map(lambda d: "." + d)),
    st.one_of(SUFFIXES, EXPONENT_SUFFIX))


@settings(max_examples=300, deadline=None)
@given(QUANTITY_TEXT)
def test_parse_agrees_with_a_naive_reference(text):
    assert value_of(parse_quantity(text)) == reference_value(text)


@settings(max_examples=300, deadline=None)
@given(QUANTITY_TEXT)
def test_printing_round_trips(text):
    q = parse_quantity(text)
    printed = str(q)
    again = parse_quantity(printed)
    assert again == q  # parse(print(q)) == q
    assert str(again) == printed  # and the printed form is stable
    assert again.canonical() == q.canonical()


QUANTITIES = st.one_of(
    st.builds(lambda m, e: dec(m, e, D), st.integers(-(10**20), 10**20), st.integers(-9, 30)),
    st.builds(lambda m, e: dec(m, e, X), st.integers(-(10**20), 10**20), st.integers(-9, 30)),
    st.builds(lambda m, p: dec(m << (10 * p), 0, B), st.integers(-1023, 1023), st.integers(0, 5)),
    st.builds(lambda m, e: dec(m, e, B), st.integers(-MAX, MAX), st.integers(-9, 0)),
)


@settings(max_examples=300, deadline=None)
@given(QUANTITIES)
def test_canonical_form_parses_back_to_the_same_value(q):
    assert parse_quantity(q.canonical()) == q
