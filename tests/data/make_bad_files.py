"""Write the corpus of awkward uploads in tests/data/bad/ and its manifest EXPECTED.json.

Run from anywhere: ``python tests/data/make_bad_files.py``. Each case says what the reader must
do with the file: ``load`` it (with this shape and notes containing these phrases) or raise
DataError with a message containing ``phrase``. Files too big to commit (over the upload limit,
5,000 columns, too many rows) are made in memory by tests/test_bad_files.py instead.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import pandas as pd

BAD = Path(__file__).parent / "bad"


def _lines(*rows: str, end: str = "\n") -> bytes:
    return "".join(row + end for row in rows).encode()


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        pd.DataFrame({"x": [1.5, 2.5, 3.5], "y": [4, 5, 6], "kind": ["a", "b", "c"]}).to_excel(
            writer, sheet_name="Measurements", index=False
        )
        pd.DataFrame({"notes": ["ignored"]}).to_excel(writer, sheet_name="Notes", index=False)
    return buffer.getvalue()


def _parquet() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"x": [float(i) for i in range(50)], "y": list(range(50))}).to_parquet(buffer)
    return buffer.getvalue()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "x,y\n1,2\n3,4\n")
    return buffer.getvalue()


_rng = random.Random(6)
_noise = bytes(_rng.randrange(256) for _ in range(4_000))

# name -> (content, expectation)
CASES: dict[str, tuple[bytes, dict]] = {
    "empty.csv": (b"", {"expect": "error", "phrase": "is empty"}),
    "whitespace_only.csv": (
        b"   \n\t\n  \r\n",
        {"expect": "error", "phrase": "only blank space"},
    ),
    "header_only.csv": (_lines("a,b,c"), {"expect": "error", "phrase": "no data rows"}),
    "one_row.csv": (_lines("a,b", "1,2"), {"expect": "error", "phrase": "only 1 data row"}),
    "one_column.csv": (_lines("v", "1", "2", "3", "4", "5"), {"expect": "load", "shape": [5, 1]}),
    "no_numeric_column.csv": (
        _lines("name,city", "Ann,Oslo", "Bo,Lund", "Cy,Bern"),
        {"expect": "error", "phrase": "holds numbers"},
    ),
    "numbers_with_units.csv": (
        _lines("weight,height", "5 kg,3 m", "6 kg,4 m", "7 kg,5 m"),
        {"expect": "error", "phrase": "without units"},
    ),
    "html_error_page.csv": (
        _lines(
            "<!DOCTYPE html>", "<html><head><title>404</title></head>", "<body>Not found</body>"
        ),
        {"expect": "error", "phrase": "holds numbers"},
    ),
    "mixed_numbers_text.csv": (
        _lines(
            "a,b", "1,2.5", "2,n/a", "3,?", "4,3.5", "5,-", *(f"{i},{i}.5" for i in range(6, 20))
        ),
        {"expect": "load", "shape": [19, 2], "notes": ["3 cells not readable as a number"]},
    ),
    "mostly_text_column.csv": (
        _lines("a,code", "1,A1", "2,B7", "3,12", "4,C3"),
        {"expect": "load", "shape": [4, 2], "numeric": ["a"]},
    ),
    "thousands_decimal_comma.csv": (
        _lines("Preis;Menge", "1.234,50;2", "12.000,00;3", "999,99;4", "2.500,25;5"),
        {
            "expect": "load",
            "shape": [4, 2],
            "notes": ["';' as the delimiter and ',' as the decimal mark", "thousands separators"],
        },
    ),
    "thousands_quoted.csv": (
        _lines("price,qty", '"1,234.5",2', '"12,000",3', "999.99,4"),
        {"expect": "load", "shape": [3, 2], "notes": ["thousands separators"]},
    ),
    "thousands_space.csv": (
        "montant;n\n1\u00a0234,5;1\n2\u00a0000,0;2\n15,25;3\n".encode(),
        {"expect": "load", "shape": [3, 2], "notes": ["thousands separators"]},
    ),
    "semicolon.csv": (
        _lines("x;y;z", "1,5;2;3", "4,5;5;6", "7,5;8;9"),
        {"expect": "load", "shape": [3, 3], "notes": ["';' as the delimiter"]},
    ),
    "tab.tsv": (
        _lines("x\ty", "1.5\t2", "3.5\t4", "5.5\t6"),
        {"expect": "load", "shape": [3, 2], "notes": ["a tab as the delimiter"]},
    ),
    "pipe.txt": (
        _lines("x|y", "1|2", "3|4", "5|6"),
        {"expect": "load", "shape": [3, 2], "notes": ["'|' as the delimiter"]},
    ),
    "latin1.csv": (
        "température;durée\n12,5;3\n13,5;4\n".encode("latin-1"),
        {"expect": "load", "shape": [2, 2], "notes": ["not valid UTF-8"]},
    ),
    "utf8_bom.csv": ("\ufeffx,y\n1,2\n3,4\n".encode(), {"expect": "load", "shape": [2, 2]}),
    "utf16_bom.csv": (
        "x\ty\n1\t2\n3\t4\n".encode("utf-16"),
        {"expect": "load", "shape": [2, 2], "notes": ["UTF-16"]},
    ),
    "utf16_no_bom.csv": (
        "x,y\n1,2\n3,4\n".encode("utf-16-le"),
        {"expect": "error", "phrase": "UTF-16"},
    ),
    "duplicate_names.csv": (
        _lines("a,a,b,a", "1,2,3,4", "5,6,7,8"),
        {"expect": "load", "shape": [2, 4], "notes": ["Renamed duplicate column 'a' to 'a_3'"]},
    ),
    "blank_names.csv": (
        _lines("a, ,,d", "1,2,3,4", "5,6,7,8"),
        {"expect": "load", "shape": [2, 4], "notes": ["Named 2 columns without a name"]},
    ),
    "nan_inf_empty.csv": (
        _lines("a,b,c", "1,2,3", "NaN,5,6", "7,,9", "10,inf,12", "13,14,-inf", "16,17,18"),
        {"expect": "load", "shape": [6, 3], "notes": ["1 infinite value"]},
    ),
    "huge_values.csv": (
        _lines("a,b", "1,1e308", "2,-1e301", "3,1e309", "4,5", "5,6", "6,7"),
        {"expect": "load", "shape": [6, 2], "notes": ["beyond ±1e300", "1 infinite value"]},
    ),
    "constant_column.csv": (
        _lines("a,b", "1,7", "2,7", "3,7", "4,7"),
        {"expect": "load", "shape": [4, 2], "prepare_notes": ["'b' is constant"]},
    ),
    "all_rows_identical.csv": (
        _lines("a,b", *["1.5,2.5"] * 6),
        {"expect": "load", "shape": [6, 2], "distinct_rows": 1},
    ),
    "three_distinct_rows.csv": (
        _lines("a,b", "1,2", "3,4", "5,6", "1,2", "3,4", "5,6"),
        {"expect": "load", "shape": [6, 2], "distinct_rows": 3},
    ),
    "all_missing_column.csv": (
        _lines("a,b,empty", "1,2,", "3,4,", "5,6,"),
        {"expect": "load", "shape": [3, 2], "notes": ["Dropped 1 empty column: 'empty'"]},
    ),
    "binary_png.csv": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + _noise,
        {"expect": "error", "phrase": "binary file"},
    ),
    "random_bytes_no_nul.csv": (
        bytes(b for b in _noise if b),
        {"expect": "error", "phrase": "binary file"},
    ),
    "excel_renamed.csv": (
        _xlsx(),
        {
            "expect": "load",
            "shape": [3, 3],
            "notes": ["Excel workbook despite its name", "2 sheets", "'Measurements'"],
        },
    ),
    "legacy_excel.xls": (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        {"expect": "error", "phrase": "Excel 97-2003"},
    ),
    "zip_archive.csv": (_zip(), {"expect": "error", "phrase": "ZIP archive"}),
    "truncated.parquet": (
        _parquet()[:300],
        {"expect": "error", "phrase": "truncated or damaged"},
    ),
    "not_parquet.parquet": (
        b"PAR1" + _noise[:200],
        {"expect": "error", "phrase": "truncated or damaged"},
    ),
    "formulas.csv": (
        _lines(
            '=HYPERLINK("http://x"),value,note',
            "=cmd|' /C calc'!A0,1,+1+1",
            "@SUM(A1),-2,-3",
            '"=1+2",3,\tstarts with a tab',
            "plain,4,ok",
        ),
        {"expect": "load", "shape": [4, 3], "formulas": True},
    ),
    "units_row.csv": (
        _lines("height,weight,name", "cm,kg,", "170,60,A", "180,72,B", "165,55,C"),
        {"expect": "load", "shape": [3, 3], "notes": ["units row", "'cm', 'kg'"]},
    ),
    "ragged_rows.csv": (
        _lines("a,b,c", "1,2,3", "4,5,6,7", "8,9,10", "11,12,13,14,15", "16,17,18"),
        {"expect": "load", "shape": [3, 3], "notes": ["Skipped 2 lines with more fields"]},
    ),
    "short_rows.csv": (
        _lines("a,b,c", "1,2,3", "4,5", "6,7,8"),
        {"expect": "load", "shape": [3, 3]},
    ),
    "only_quotes.csv": (_lines('""', '""', '""'), {"expect": "error", "phrase": "no values"}),
    "unmatched_quote.csv": (
        _lines("a,b", '"1,2', "3,4", "5,6"),
        {"expect": "load", "shape": [3, 2], "notes": ["unmatched quote"]},
    ),
    "huge_single_line.csv": (
        b"x,y\n1,2\n3,4\n5," + b"9" * 150_000 + b"\n7,8\n",
        {"expect": "load", "shape": [4, 2], "notes": ["1 cell not readable as a number"]},
    ),
    "crlf.csv": (
        _lines("x,y", "1,2", "3,4", "5,6", end="\r\n"),
        {"expect": "load", "shape": [3, 2]},
    ),
    "cr_only.csv": (
        _lines("x,y", "1,2", "3,4", "5,6", end="\r"),
        {"expect": "load", "shape": [3, 2]},
    ),
    "no_header.csv": (
        _lines("5.1,3.5,setosa", "4.9,3.0,setosa", "6.3,3.3,virginica"),
        {"expect": "load", "shape": [3, 3], "notes": ["column_1 to column_3"]},
    ),
    "leading_blank_lines.csv": (
        _lines("", "  ", "x,y", "1,2", "", "3,4"),
        {"expect": "load", "shape": [2, 2]},
    ),
    "trailing_delimiters.csv": (
        _lines("x,y,", "1,2,", "3,4,", "5,6,"),
        {"expect": "load", "shape": [3, 2]},
    ),
    "empty_rows_inside.csv": (
        _lines("x,y", "1,2", ",", "3,4", ",,", "5,6"),
        {
            "expect": "load",
            "shape": [3, 2],
            "notes": ["Dropped 1 completely empty row", "Skipped 1 line"],
        },
    ),
    "multiline_quoted_header.csv": (
        _lines('"length', '(cm)",weight', "1,2", "3,4"),
        {"expect": "load", "shape": [2, 2]},
    ),
}


def main() -> None:
    BAD.mkdir(exist_ok=True)
    for old in BAD.iterdir():
        old.unlink()
    for name, (content, _) in CASES.items():
        (BAD / name).write_bytes(content)
    expected = {name: expectation for name, (_, expectation) in CASES.items()}
    (BAD / "EXPECTED.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
