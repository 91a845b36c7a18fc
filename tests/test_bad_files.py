"""Every awkward upload either loads (with a report of the changes) or fails with a DataError
whose message a user can act on. The corpus and its manifest come from data/make_bad_files.py."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from gmm_core.dashboard.data import (
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_UPLOAD_BYTES,
    DataError,
    count_distinct_rows,
    default_columns,
    numeric_columns,
    prepare,
    read_table,
    safe_csv_bytes,
)

BAD = Path(__file__).parent / "data" / "bad"
EXPECTED: dict[str, dict] = json.loads((BAD / "EXPECTED.json").read_text(encoding="utf-8"))

# Too big to commit, so made here.
IN_MEMORY = {
    "over_the_limit.csv": (
        lambda: bytes(MAX_UPLOAD_BYTES + 1),  # zeros: allocated without being written
        {"expect": "error", "phrase": "over the upload limit of 200 MB"},
    ),
    "5000_columns.csv": (
        lambda: (",".join(f"c{i}" for i in range(5_000)) + "\n" + "1," * 4_999 + "1\n").encode(),
        {"expect": "error", "phrase": f"5,000 columns; the limit is {MAX_COLUMNS:,}"},
    ),
    "too_many_rows.csv": (
        lambda: b"x\n" + b"1\n" * (MAX_ROWS + 1),
        {"expect": "error", "phrase": "more than 2,000,000 rows"},
    ),
}

# A message must say what is wrong, then what to do: a later sentence starts with one of these.
FIX_VERBS = "add|change|check|choose|export|load|move|open|put|remove|save|select|unzip|upload|use"
TECHNICAL = ("Traceback", "C error", "Error tokenizing", "Errno", "pyarrow", "openpyxl", "\n")


def assert_human(message: str) -> None:
    assert message.strip(), "empty message"
    for word in TECHNICAL:
        assert word not in message, f"technical wording {word!r} in {message!r}"
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z'])", message)
    assert len(sentences) >= 2, f"no separate fix suggestion in {message!r}"
    assert any(re.match(rf"(?:{FIX_VERBS})\b", s, re.IGNORECASE) for s in sentences[1:]), (
        f"no sentence suggesting a fix in {message!r}"
    )


def check(name: str, content: bytes, expected: dict) -> None:
    try:
        df, report = read_table(content, name)
    except DataError as error:
        assert expected["expect"] == "error", f"{name} should load but failed: {error}"
        assert expected["phrase"] in str(error)
        assert_human(str(error))
        return
    assert expected["expect"] == "load", f"{name} should fail with {expected['phrase']!r}"
    assert [report.n_rows, report.n_columns] == expected["shape"] == list(df.shape)
    joined = " ".join(report.notes)
    for phrase in expected.get("notes", []):
        assert phrase in joined, f"{phrase!r} not in the notes {report.notes}"
    if "numeric" in expected:
        assert list(report.numeric_columns) == expected["numeric"]
    # Every loadable file gets a default choice of columns, and each one left out is named.
    chosen, column_notes = default_columns(df, report, None)
    assert chosen and set(chosen) <= set(report.numeric_columns)
    for name in set(df.columns) - set(chosen):
        assert any(f"`{name}`" in note for note in column_notes), (name, column_notes)
    try:
        prepared = prepare(df, numeric_columns(df))
    except DataError as error:
        assert_human(str(error))
        return
    assert prepared.X.dtype == np.float64 and prepared.X.flags.c_contiguous
    assert np.isfinite(prepared.X).all()
    for phrase in expected.get("prepare_notes", []):
        assert phrase in " ".join(prepared.notes)
    if "distinct_rows" in expected:
        assert count_distinct_rows(prepared.X) == expected["distinct_rows"]
    if expected.get("formulas"):
        text = io.StringIO(safe_csv_bytes(df).decode(), newline="")
        cells = [c for row in csv.reader(text) for c in row]
        numbers = {str(v) for v in df.select_dtypes("number").to_numpy().ravel()}
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@")) and c not in numbers]
        assert any(c.startswith("'=cmd") for c in cells)


@pytest.mark.parametrize(
    "message",
    [
        "",
        "Error tokenizing data. C error: Expected 2 fields in line 3, saw 3",
        "The file is bad.",
        "The file is bad. It has problems.",
    ],
)
def test_unhelpful_messages_are_caught(message):
    with pytest.raises(AssertionError):
        assert_human(message)


def test_manifest_matches_the_files():
    on_disk = {path.name for path in BAD.iterdir()} - {"EXPECTED.json"}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) + len(IN_MEMORY) >= 30
    assert sum(path.stat().st_size for path in BAD.iterdir()) < 1024**2


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file(name):
    check(name, (BAD / name).read_bytes(), EXPECTED[name])


@pytest.mark.parametrize("name", sorted(IN_MEMORY))
def test_bad_file_in_memory(name):
    make, expected = IN_MEMORY[name]
    check(name, make(), expected)
