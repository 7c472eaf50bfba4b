"""Pseudonymise a clinical CSV with the images' mapping, so tables and images link."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from tre.errors import InvalidInput
from tre.imaging.pseudonyms import PseudonymKey, date_shift_days, patient_pseudonym

ID_COLUMNS = ("patientid", "patient", "pid")
IDENTIFYING_COLUMN = re.compile(
    r"name|birth|dob|address|street|phone|mobile|e-?mail|mrn|ssn|social|national|nhs|insurance"
    r"|postcode|zip", re.IGNORECASE)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(slots=True)
class ClinicalResult:
    """The pseudonymised table and what was done (row numbers, never values)."""

    text: str
    rows: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    shifted_columns: list[str] = field(default_factory=list)
    unknown_patient_rows: list[int] = field(default_factory=list)
    duplicate_rows: list[int] = field(default_factory=list)


def pseudonymise_csv(path: Path, key: PseudonymKey, image_patients: set[str]) -> ClinicalResult:
    """Replace the patient id column by pseudonyms; shift ISO dates; drop identifying columns.

    ``image_patients`` are the pseudonyms of the images ingested: a row for anyone else is kept
    (it links once their images arrive) and reported; a repeated patient id is ambiguous, so
    rows after the first are left out and reported by row number.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the clinical CSV {path}: {exc}; give a UTF-8 CSV file") \
            from None
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    id_column = next((c for c in columns
                      if c.lower().replace("_", "").replace(" ", "") in ID_COLUMNS), None)
    if id_column is None:
        raise InvalidInput(f"the clinical CSV {path} has no patient id column (columns: "
                           f"{', '.join(columns) or 'none'}): name it patient_id")
    result = ClinicalResult("")
    kept = [c for c in columns if c == id_column or not IDENTIFYING_COLUMN.search(c)]
    result.dropped_columns = [c for c in columns if c not in kept]
    rows = list(reader)
    date_columns = [c for c in kept if c != id_column and rows
                    and all(ISO_DATE.match((r.get(c) or "").strip()) or not (r.get(c) or "")
                            .strip() for r in rows)
                    and any((r.get(c) or "").strip() for r in rows)]
    result.shifted_columns = date_columns
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=kept, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        original = (row.get(id_column) or "").strip()
        pseudonym = patient_pseudonym(key, original)
        if pseudonym in seen:
            result.duplicate_rows.append(number)
            continue
        seen.add(pseudonym)
        if pseudonym not in image_patients:
            result.unknown_patient_rows.append(number)
        shift = timedelta(days=date_shift_days(key, original))
        clean = {c: row.get(c) or "" for c in kept}
        clean[id_column] = pseudonym
        for column in date_columns:
            clean[column] = _shift(clean[column], shift)
        writer.writerow(clean)
        result.rows += 1
    result.text = out.getvalue()
    return result


def _shift(value: str, shift: timedelta) -> str:
    value = value.strip()
    if not value:
        return value
    try:
        return (date.fromisoformat(value) + shift).isoformat()
    except ValueError:
        return ""
