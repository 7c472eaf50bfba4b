"""Table checks on awkward CSVs: the right findings or a clear finding, never a silent pass."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from airlock.helpers import PSEUDONYM

from tre.airlock.checks import inspect
from tre.airlock.checks.context import CheckContext, IdentifierSet
from tre.airlock.checks.sniff import Content
from tre.airlock.checks.table_reader import NULL_VALUES, read_table

CTX = CheckContext(identifiers=IdentifierSet(frozenset({PSEUDONYM.encode()}), frozenset()))

AWKWARD = {
    "quoted separators": b'site,n\n"A, north",3\n"B ""east""",40\n',
    "quoted newline": b'site,n\n"A\nnorth",12\nB,40\n',
    "missing values": b"site,n\nA,\nB,NA\nC,0\nD,25\n",
    "every null marker": ("label,value\n" + "".join(f"x,{marker}\n" for marker in NULL_VALUES)
                          + "real,1\n").encode(),
    "mixed types": b"site,n\nA,12\nB,<5\nC,3\n",
    "header only": b"site,n\n",
    "empty column": b"site,,n\nA,,12\n",
    "byte-order mark": b"\xef\xbb\xbfsite,n\nA,12\n",
    "tab separated": b"site\tn\nA\t3\nB\t40\n",
    "booleans and dates": b"flag,when,n\ntrue,2026-01-02,12\nfalse,,40\n",
    "non-ASCII UTF-8": "site,n\nZürich,12\nSão Paulo,40\n".encode(),
}


@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_csv_is_read_as_pandas_pyarrow_engine_reads_it(name: str) -> None:
    data = AWKWARD[name]
    sep = "\t" if b"\t" in data else ","
    pd.testing.assert_frame_equal(read_table(Content.CSV, data),
                                  pd.read_csv(io.BytesIO(data), sep=sep, engine="pyarrow"))


def outcome(name: str, data: bytes, ctx: CheckContext = CTX) -> list[tuple[str, str, str]]:
    """Sorted (code, severity, message) of one inspection."""
    return sorted((f.code, f.severity.value, f.message) for f in inspect(name, data, ctx).findings)


SMALL_ROW_1 = ("small-count", "block", "1 count(s) below the threshold of 10 (row 1 column 'n'): "
               "suppress, round or merge categories")


def test_quoted_separator_does_not_shift_the_counts() -> None:
    assert outcome("t.csv", AWKWARD["quoted separators"]) == [SMALL_ROW_1]


def test_missing_counts_are_neither_small_nor_zero() -> None:
    assert outcome("t.csv", AWKWARD["missing values"]) == [(
        "disclosive-zero", "warn", "1 zero count(s) (row 3 column 'n'): a zero can disclose "
        "that nobody in a group has an attribute; a checker must judge")]


def test_text_in_a_count_column_goes_to_a_checker_and_its_numbers_are_still_checked() -> None:
    assert outcome("t.csv", AWKWARD["mixed types"]) == [
        ("non-numeric-count", "warn", "1 cell(s) of count columns are not numbers (row 2 "
         "column 'n'): the rules cannot read them; a checker must review them by hand"),
        ("small-count", "block", "1 count(s) below the threshold of 10 (row 3 column 'n'): "
         "suppress, round or merge categories")]


def test_header_only_table_has_nothing_to_disclose() -> None:
    assert outcome("t.csv", AWKWARD["header only"]) == []


def test_non_utf8_csv_is_blocked_as_unreadable() -> None:
    assert outcome("t.csv", "site,n\nZürich,3\n".encode("latin-1")) == [(
        "unknown-content", "block", "the content is not recognised: only files the checks can "
        "read may leave (tables as CSV, figures as PNG, text as UTF-8)")]


def test_malformed_row_anywhere_makes_the_table_unreadable() -> None:
    data = b"site,n,note\n" + b"A,20,x\n" * 50_000 + b"B,30,x,extra\n"
    found = inspect("t.csv", data, CTX).findings
    assert [(f.code, f.severity.value) for f in found] == [("unreadable-table", "block")]
    # pyarrow's message quotes the row (recent versions, reading on one thread, number it too).
    assert "Expected 3 columns, got 4: B,30,x,extra" in found[0].message


def test_repeated_column_names_are_blocked() -> None:
    assert outcome("t.csv", b"site,n,n\nA,3,40\n") == [(
        "duplicate-columns", "block", "column names repeat ('n'): the checks cannot tell those "
        "columns apart; give every column its own name")]


def test_spreadsheet_with_years_as_headers_is_checked() -> None:
    table = pd.DataFrame({"site": ["A", "B"], 2020: [3, 40], 2021: [12, 13]})
    out = io.BytesIO()
    table.to_excel(out, index=False)
    assert outcome("t.xlsx", out.getvalue()) == [(
        "small-count", "block", "1 count(s) below the threshold of 10 (row 1 column '2020'): "
        "suppress, round or merge categories")]


def test_csv_findings_need_no_column_the_rules_do_not_read() -> None:
    data = b"patient_id,site,n,mean_volume_ml,total,max\n" + \
        f"{PSEUDONYM},A,3,12.5,100,95\n".encode()
    assert outcome("t.csv", data) == [
        ("identifier-column", "block", "column 'patient_id' names individuals: results must be "
         "aggregates, not records"),
        ("nk-dominance", "block", "in 1 cell(s) the largest 2 contributors hold more than 90% "
         "of the total (rows 1): a contributor's value can be inferred"),
        ("p-ratio-dominance", "block", "in 1 cell(s) the other contributors add up to less "
         "than 10% of the largest (rows 1): the largest can be estimated"),
        ("pseudonym", "block", f"contains 1 patient pseudonym(s) of the project's datasets "
         f"({PSEUDONYM}): results must not list individuals"),
        SMALL_ROW_1]


def test_count_named_text_column_falls_back_to_every_numeric_column() -> None:
    assert outcome("t.csv", b"count,I,II\nnone,3,40\n") == [
        ("non-numeric-count", "warn", "1 cell(s) of count columns are not numbers (row 1 "
         "column 'count'): the rules cannot read them; a checker must review them by hand"),
        ("small-count", "block", "1 count(s) below the threshold of 10 (row 1 column 'I'): "
         "suppress, round or merge categories")]


def test_differencing_against_an_earlier_release() -> None:
    earlier = pd.DataFrame({"site": ["A", "B"], "n": [20, 30]})
    ctx = CheckContext(identifiers=CTX.identifiers, earlier_tables=(("rel-1/t.csv", earlier),))
    assert outcome("t.csv", b"site,n\nA,20\nB,34\n", ctx) == [(
        "differencing", "block", "column 'n' differs from the release rel-1/t.csv by fewer "
        "than 10 in some cells: subtracting the two tables reveals a small group")]
