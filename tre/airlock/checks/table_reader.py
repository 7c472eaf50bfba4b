"""Tables (CSV, Parquet, xlsx) parsed into DataFrames; CSV by pyarrow, on one thread.

CSV is read the way pandas' ``engine="pyarrow"`` reads it (the same parse, null and
conversion options, empty columns as float64) but with pyarrow's reader called directly: on
one thread, and converting only the columns asked for. Every column is still tokenised, so a
malformed row anywhere fails the read, whichever columns were asked for.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import pandas as pd  # type: ignore[import-untyped]  # no stubs installed
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs installed
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]

from tre.airlock.checks.sniff import Content

SNIFF_BYTES = 4096
"""The separator (comma or tab) is the one more frequent in this many leading bytes."""
HEADER_BLOCK = 1 << 16
"""Bytes parsed to learn a CSV's column names."""
NULL_VALUES = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
               "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
"""Cells read as missing: pandas' defaults (``pandas.read_csv``'s ``na_values``)."""


class UnreadableTable(Exception):
    """The table could not be parsed (the check turns it into a block finding)."""


def _unreadable(exc: BaseException) -> UnreadableTable:
    text = str(exc)
    return UnreadableTable(text.splitlines()[0] if text else type(exc).__name__)


def _separator(data: bytes) -> str:
    head = data[:SNIFF_BYTES]
    return "\t" if head.count(b"\t") > head.count(b",") else ","


def _options(data: bytes, columns: Sequence[str] | None = None, block_size: int | None = None
             ) -> dict[str, object]:
    """pyarrow's options equal to pandas' defaults for ``read_csv(engine="pyarrow")``."""
    read = pa_csv.ReadOptions(use_threads=False, encoding="utf-8")
    if block_size is not None:
        read.block_size = block_size
    convert = pa_csv.ConvertOptions(null_values=list(NULL_VALUES), strings_can_be_null=True,
                                    decimal_point=".", timestamp_parsers=None)
    if columns is not None:
        convert.include_columns = list(columns)
    return {"read_options": read, "convert_options": convert,
            "parse_options": pa_csv.ParseOptions(delimiter=_separator(data), quote_char='"',
                                                 ignore_empty_lines=True)}


def csv_columns(data: bytes) -> list[str] | None:
    """The column names of a CSV, from its first block; None when that block does not parse."""
    try:
        reader = pa_csv.open_csv(pa.py_buffer(data), **_options(data, block_size=HEADER_BLOCK))
    except (pa.ArrowException, ValueError, OSError):
        return None
    return list(reader.schema.names)


def read_csv(data: bytes, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Parse a CSV (only ``columns``, in the file's order, when given; all otherwise)."""
    try:
        table = pa_csv.read_csv(pa.py_buffer(data), **_options(data, columns))
        # As pandas does: a column with no values at all is float64, not the null type.
        table = table.cast(pa.schema([
            field.with_type(pa.float64()) if pa.types.is_null(field.type) else field
            for field in table.schema]))
        return table.to_pandas()
    except (pa.ArrowException, ValueError, OSError, KeyError, IndexError) as exc:
        raise _unreadable(exc) from exc


def read_table(content: Content, data: bytes) -> pd.DataFrame:
    """Parse a CSV, Parquet or xlsx table."""
    if content is Content.CSV:
        return read_csv(data)
    try:
        with warnings.catch_warnings():
            # openpyxl warns on odd styles; that does not matter to disclosure control, and an
            # unparsable table is still an error below.
            warnings.simplefilter("ignore", category=UserWarning)
            if content is Content.PARQUET:
                return pd.read_parquet(io.BytesIO(data))
            return pd.read_excel(io.BytesIO(data), engine="openpyxl")
    except (pa.ArrowException, ValueError, OSError, ImportError, KeyError, IndexError) as exc:
        raise _unreadable(exc) from exc
