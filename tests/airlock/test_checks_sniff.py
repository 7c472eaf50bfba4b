"""Text sniffing: UTF-8 is checked without decoding ASCII, JSON found after marks and blanks."""

from __future__ import annotations

import pytest
from airlock.helpers import notebook

from tre.airlock.checks.sniff import Content, sniff


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("analysis.ipynb", notebook("done"), Content.NOTEBOOK),
    ("analysis.txt", b"\xef\xbb\xbf \r\n\t" + notebook("done"), Content.NOTEBOOK),
    ("metrics.json", b"\n\n  [1, 2, 3]\n", Content.JSON),
    ("broken.json", b"{not json", Content.TEXT),
    ("t.csv", "site,n\nZürich,12\n".encode(), Content.CSV),
    ("t.tsv", b"site\tn\nA\t12\n", Content.CSV),
    ("t.csv", "site,n\nZürich,12\n".encode("latin-1"), Content.UNKNOWN),
    ("notes.txt", b"line one\x00line two", Content.UNKNOWN),
    ("notes.txt", "\ufeffplain text, not JSON\n".encode(), Content.TEXT),
])
def test_text_flavours(name: str, data: bytes, expected: Content) -> None:
    assert sniff(name, data) is expected
