"""The table checks flag the same cells as acro (the reference SDC implementation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from acro import ACRO

from tre.airlock.checks import inspect
from tre.airlock.checks.context import CheckContext, IdentifierSet, TableRules
from tre.airlock.checks.sniff import Content
from tre.airlock.checks.tables import count_columns, flagged_cells, read_table


def test_small_and_zero_cells_match_acro() -> None:
    rng = np.random.default_rng(7)
    micro = pd.DataFrame({
        "site": rng.choice(list("ABCDEF"), 3000, p=[.4, .3, .2, .07, .025, .005]),
        "stage": rng.choice(["I", "II", "III", "IV"], 3000)})
    session = ACRO(suppress=False)
    session.crosstab(micro.site, micro.stage)
    cells = next(reversed(session.results.results.values())).sdc["cells"]
    written = pd.crosstab(micro.site, micro.stage).to_csv().encode()
    table = read_table(Content.CSV, written)
    columns = count_columns(table)
    small, zeros = flagged_cells(table, columns, TableRules())
    assert columns == ["I", "II", "III", "IV"]
    assert sorted((r, columns.index(c)) for r, c in small) == sorted(
        tuple(c) for c in cells["MinimumThresholdCheck"])
    assert sorted((r, columns.index(c)) for r, c in zeros) == sorted(
        tuple(c) for c in cells["PresenceOfZeroCheck"])
    assert small  # the table really has small cells to agree on
    # The whole check, from the CSV's bytes, reports those same numbers of cells.
    found = inspect("crosstab.csv", written,
                    CheckContext(identifiers=IdentifierSet(frozenset(), frozenset()))).findings
    expected = [("small-count", len(small))] + ([("disclosive-zero", len(zeros))] if zeros else [])
    assert [(f.code, int(f.message.split()[0])) for f in found] == expected
