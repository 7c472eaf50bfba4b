"""Statistical disclosure control for tables (CSV, Parquet, xlsx), with acro's rules.

Which columns hold counts: those named like counts (``n``, ``count``, ``patients``...); if none
is, and every numeric column holds non-negative whole numbers (a cross-tabulation written with
its labels), all numeric columns. A count-named column with text cells (``<5``, a typo) keeps
the rules on its numbers, and its text goes to a checker. Dominance (N-K and p%) needs each
cell's total and largest contributors, so it applies to tables that carry them (``sum``/
``total`` with ``max``/``top1`` and optionally ``top2``): a magnitude table without them is
routed to a human.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs installed

from tre.airlock.checks.context import CheckContext, TableRules
from tre.airlock.checks.identifiers import scan
from tre.airlock.checks.sniff import Content
from tre.airlock.checks.table_reader import UnreadableTable as UnreadableTable
from tre.airlock.checks.table_reader import csv_columns, read_csv
from tre.airlock.checks.table_reader import read_table as read_table
from tre.domain.egress import Finding, Severity

CHECK = "tables"
MAX_CELLS_SHOWN = 5

_COUNT_NAME = re.compile(
    r"(?i)^(n|count|counts|freq|frequency|number|num|patients|cases|subjects|events|"
    r"n_.+|.+_n|.+_count|count_.+|num_.+|number_of_.+)$")
_TOTAL_NAME = re.compile(r"(?i)^(sum|total)$")
_TOP1_NAME = re.compile(r"(?i)^(max|top1|largest)$")
_TOP2_NAME = re.compile(r"(?i)^(top2|second|second_largest)$")
_MAGNITUDE_NAME = re.compile(r"(?i)^(sum|total|mean|avg|average|median|max|min)(_.+)?$")
_PATIENT_COLUMN = re.compile(
    r"(?i)^(patient|subject|person|participant)[ _-]?(id|identifier|no|number)?$|^(mrn|nhs|ssn|"
    r"pseudonym|accession[ _-]?number|study[ _-]?instance[ _-]?uid|series[ _-]?instance[ _-]?"
    r"uid|sop[ _-]?instance[ _-]?uid)$")
_BIRTH_COLUMN = re.compile(r"(?i)(birth|^dob$)")


def _whole_non_negative(column: pd.Series) -> bool:
    values = column.dropna().to_numpy()
    if values.size == 0 or values.dtype.kind not in "iuf":
        return False
    return bool(np.all(values >= 0) and np.all(np.mod(values, 1) == 0))


def count_columns(table: pd.DataFrame) -> list[str]:
    """The columns holding counts (see the module docstring)."""
    named = [str(c) for c in table.columns if _COUNT_NAME.match(str(c))
             and pd.api.types.is_numeric_dtype(table[c])]
    if named:
        return named
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c])]
    if numeric and all(_whole_non_negative(table[c]) for c in numeric) and not any(
            _MAGNITUDE_NAME.match(str(c)) for c in numeric):
        return [str(c) for c in numeric]
    return []


def flagged_cells(table: pd.DataFrame, columns: Sequence[str], rules: TableRules
                  ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """``(small, zeros)``: (row position, column) of counts in (0, threshold), and of zeros."""
    small: list[tuple[int, str]] = []
    zeros: list[tuple[int, str]] = []
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        small += [(int(i), column) for i in
                  np.flatnonzero((values > 0) & (values < rules.threshold))]
        zeros += [(int(i), column) for i in np.flatnonzero(values == 0)]
    return sorted(small), sorted(zeros)


def non_numeric_counts(table: pd.DataFrame) -> list[tuple[int, str]]:
    """(row position, column) of cells that are not numbers in columns named like counts.

    Such a column (a suppression marker such as ``<5``, a typo) is read as text; its numeric
    cells still get the count rules, and these cells go to a checker.
    """
    cells: list[tuple[int, str]] = []
    for column in table.columns:
        values = table[column]
        if _COUNT_NAME.match(str(column)) and (pd.api.types.is_object_dtype(values)
                                               or pd.api.types.is_string_dtype(values)):
            numbers = pd.to_numeric(values, errors="coerce")
            cells += [(int(i), str(column)) for i in
                      np.flatnonzero(values.notna().to_numpy() & numbers.isna().to_numpy())]
    return sorted(cells)


def _cells(cells: list[tuple[int, str]]) -> str:
    shown = ", ".join(f"row {r + 1} column {c!r}" for r, c in cells[:MAX_CELLS_SHOWN])
    more = f" and {len(cells) - MAX_CELLS_SHOWN} more" if len(cells) > MAX_CELLS_SHOWN else ""
    return shown + more


def _dominance(table: pd.DataFrame, rules: TableRules, where: str) -> list[Finding]:
    total = next((c for c in table.columns if _TOTAL_NAME.match(str(c))), None)
    top1 = next((c for c in table.columns if _TOP1_NAME.match(str(c))), None)
    if total is None or top1 is None:
        return []
    top2 = next((c for c in table.columns if _TOP2_NAME.match(str(c))), None)
    sums = pd.to_numeric(table[total], errors="coerce").to_numpy(dtype=float)
    first = pd.to_numeric(table[top1], errors="coerce").to_numpy(dtype=float)
    second = (pd.to_numeric(table[top2], errors="coerce").to_numpy(dtype=float)
              if top2 is not None else np.zeros_like(first))
    with np.errstate(divide="ignore", invalid="ignore"):
        nk = (first + (second if rules.nk_n >= 2 else 0)) / sums
        rest = sums - first - second
        p_fail = rest < rules.p_ratio * first
    findings: list[Finding] = []
    nk_rows = [int(i) for i in np.flatnonzero((sums > 0) & (nk > rules.nk_k))]
    if nk_rows:
        findings.append(Finding(
            CHECK, "nk-dominance", Severity.BLOCK,
            f"in {len(nk_rows)} cell(s) the largest {rules.nk_n} contributors hold more than "
            f"{rules.nk_k:.0%} of the total (rows {', '.join(str(r + 1) for r in nk_rows[:5])}):"
            " a contributor's value can be inferred", where))
    p_rows = [int(i) for i in np.flatnonzero((sums > 0) & p_fail)]
    if p_rows:
        findings.append(Finding(
            CHECK, "p-ratio-dominance", Severity.BLOCK,
            f"in {len(p_rows)} cell(s) the other contributors add up to less than "
            f"{rules.p_ratio:.0%} of the largest (rows "
            f"{', '.join(str(r + 1) for r in p_rows[:5])}): the largest can be estimated", where))
    return findings


def _differencing(table: pd.DataFrame, counts: list[str], ctx: CheckContext,
                  where: str) -> list[Finding]:
    labels = [str(c) for c in table.columns if str(c) not in counts]
    findings: list[Finding] = []
    for origin, earlier in ctx.earlier_tables:
        if list(map(str, earlier.columns)) != list(map(str, table.columns)) or not labels:
            continue
        joined = table.merge(earlier, on=labels, suffixes=("", "__earlier"))
        for column in counts:
            now = pd.to_numeric(joined[column], errors="coerce").to_numpy(dtype=float)
            then = pd.to_numeric(joined[column + "__earlier"], errors="coerce").to_numpy(
                dtype=float)
            gap = np.abs(now - then)
            if np.any((gap > 0) & (gap < ctx.rules.threshold)):
                findings.append(Finding(
                    CHECK, "differencing", Severity.BLOCK,
                    f"column {column!r} differs from the release {origin} by fewer than "
                    f"{ctx.rules.threshold} in some cells: subtracting the two tables "
                    "reveals a small group", where))
                break
    return findings


def _text_of(table: pd.DataFrame) -> bytes:
    """The table's text cells and header, for the identifier scan."""
    parts = [" ".join(map(str, table.columns))]
    for column in table.columns:
        if table[column].dtype == object:
            parts.extend(str(v) for v in table[column].dropna())
    return "\n".join(parts).encode("utf-8", "replace")


def _rule_columns(columns: Sequence[str]) -> list[str] | None:
    """The columns the value rules read when some are named like counts; None for all."""
    if len(set(columns)) != len(columns) or not any(_COUNT_NAME.match(c) for c in columns):
        return None
    return [c for c in columns if any(p.match(c) for p in (_COUNT_NAME, _TOTAL_NAME,
                                                            _TOP1_NAME, _TOP2_NAME))]


def _parsed(content: Content, data: bytes, ctx: CheckContext) -> tuple[pd.DataFrame, list[str]]:
    """The table (for CSV, only the columns the rules read when that decides them) and the
    names of all its columns.

    The narrow read is kept only when a count-named column is numeric: otherwise the counts are
    found among all numeric columns (see count_columns), which needs them all. Differencing
    against an earlier release compares whole tables.
    """
    columns = csv_columns(data) if content is Content.CSV else None
    wanted = _rule_columns(columns) if columns is not None else None
    if columns is not None and wanted is not None and not any(
            list(map(str, earlier.columns)) == columns for _, earlier in ctx.earlier_tables):
        narrow = read_csv(data, wanted)
        if list(narrow.columns) == wanted and any(
                _COUNT_NAME.match(c) and pd.api.types.is_numeric_dtype(narrow[c])
                for c in wanted):
            return narrow, columns
    table = read_table(content, data)
    # Spreadsheets may have numbers as headers; the rules name columns by text.
    table.columns = [str(c) for c in table.columns]
    return table, list(table.columns)


def check(content: Content, data: bytes, ctx: CheckContext, where: str = "") -> list[Finding]:
    """Disclosure-control findings for one table."""
    try:
        table, columns = _parsed(content, data, ctx)
    except UnreadableTable as exc:
        return [Finding(CHECK, "unreadable-table", Severity.BLOCK,
                        f"the table cannot be read ({exc}): it cannot be checked", where)]
    repeated = sorted(c for c, times in Counter(columns).items() if times > 1)
    if repeated:
        return [Finding(CHECK, "duplicate-columns", Severity.BLOCK,
                        f"column names repeat ({', '.join(map(repr, repeated))}): the checks "
                        "cannot tell those columns apart; give every column its own name",
                        where)]
    findings: list[Finding] = []
    if content is not Content.CSV:
        findings += scan(_text_of(table), ctx.identifiers, where)
    for column in columns:
        if _PATIENT_COLUMN.match(str(column).strip()):
            findings.append(Finding(CHECK, "identifier-column", Severity.BLOCK,
                                    f"column {column!r} names individuals: results must be "
                                    "aggregates, not records", where))
        elif _BIRTH_COLUMN.search(str(column)):
            findings.append(Finding(CHECK, "birth-date-column", Severity.WARN,
                                    f"column {column!r} looks like dates of birth", where))
    counts = count_columns(table)
    text_cells = non_numeric_counts(table)
    if text_cells:
        findings.append(Finding(
            CHECK, "non-numeric-count", Severity.WARN,
            f"{len(text_cells)} cell(s) of count columns are not numbers ({_cells(text_cells)})"
            ": the rules cannot read them; a checker must review them by hand", where))
        counts += sorted({c for _, c in text_cells} - set(counts),
                         key=list(map(str, table.columns)).index)
    rules = ctx.rules
    small, zeros = flagged_cells(table, counts, rules)
    if small:
        findings.append(Finding(
            CHECK, "small-count", Severity.BLOCK,
            f"{len(small)} count(s) below the threshold of {rules.threshold} "
            f"({_cells(small)}): suppress, round or merge categories", where))
    if zeros and rules.zeros_are_disclosive:
        findings.append(Finding(
            CHECK, "disclosive-zero", Severity.WARN,
            f"{len(zeros)} zero count(s) ({_cells(zeros)}): a zero can disclose that nobody in a "
            "group has an attribute; a checker must judge", where))
    findings += _dominance(table, rules, where)
    magnitude = [c for c in columns if _MAGNITUDE_NAME.match(str(c))]
    if magnitude and not counts and not any(f.check == CHECK and "dominance" in f.code
                                            for f in findings):
        has_top = any(_TOP1_NAME.match(str(c)) for c in columns)
        if not has_top:
            findings.append(Finding(
                CHECK, "magnitude-unchecked", Severity.WARN,
                "magnitude table without counts or largest contributors: the threshold and "
                "dominance rules cannot be applied; add n and max columns or a checker must "
                "judge", where))
    if counts:
        findings += _differencing(table, counts, ctx, where)
    if not counts and not magnitude:
        findings.append(Finding(CHECK, "no-counts", Severity.INFO,
                                "no count columns found: the frequency rules do not apply",
                                where))
    return findings
