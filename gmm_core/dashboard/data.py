"""Reading uploaded tables and preparing the matrix that EM fits.

Every problem with an input ends in one of two ways: a usable table plus plain-English notes on
what was changed, or a :class:`DataError` whose message says what is wrong and how to fix it.
Nothing from an upload is executed, unpickled or used as a path.
"""

from __future__ import annotations

import codecs
import csv
import importlib.util
import io
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

MAX_UPLOAD_BYTES = 200 * 1024**2  # matches server.maxUploadSize = 200 in .streamlit/config.toml
MAX_ROWS = 2_000_000
MAX_COLUMNS = 2_000

# An .xlsx is a ZIP of XML: a small upload can expand to gigabytes when opened.
_MAX_XLSX_EXPANDED_BYTES = 1024**3
# Values this large overflow to inf once squared in a covariance.
_OVERFLOW = 1e300
_SNIFF_CHARS = 65_536
_SNIFF_ROWS = 200
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}
# For single-column files: a control character that text tables do not contain, so a stray
# comma in a value does not split it.
_NO_DELIMITER = "\x1f"
# Cells that people type for "no value"; they never count as evidence that a column is text.
_MISSING_TOKENS = frozenset({"na", "n/a", "nan", "null", "none", "-", "--", "?", ".", "#n/a"})
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _number_pattern(decimal: str) -> str:
    """Regex for one number written with `decimal` as the decimal mark.

    Digit groups may be separated by the other mark, a space, a no-break space or an apostrophe
    ("1,234.5", "1.234,5", "1 234,5", "1'234.5"). [0-9] rather than \\d: Python's \\d also
    matches non-ASCII digits that float() cannot read.
    """
    group = "," if decimal == "." else "."
    sep = f"[{re.escape(group)} \u00a0\u202f']"
    d = re.escape(decimal)
    return (
        rf"[+-]?(?:(?:[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+|[0-9]+)(?:{d}[0-9]*)?|{d}[0-9]+)"
        rf"(?:[eE][+-]?[0-9]+)?|[+-]?(?i:inf(?:inity)?)"
    )


_NUMBER = {mark: _number_pattern(mark) for mark in ".,"}
_INTEGER_RE = re.compile(r"[+-]?\d+")
_NUMBER_RE = {mark: re.compile(pattern) for mark, pattern in _NUMBER.items()}
_GROUP_SEPARATORS = {
    mark: f"[{re.escape(',' if mark == '.' else '.')} \u00a0\u202f']" for mark in ".,"
}


class DataError(ValueError):
    """An input that cannot be used; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class ReadReport:
    """What was read, and every change made on the way.

    Attributes
    ----------
    source : str
        File name (without folders) or sample name.
    file_format : str
        ``"csv"``, ``"parquet"``, ``"excel"`` or ``"sample"``.
    n_rows, n_columns : int
        Shape of the table returned with the report.
    numeric_columns, other_columns : tuple of str
        Columns that can be clustered, and the rest (text, dates, booleans).
    missing_per_column : dict of str to int
        Missing cells per column, after the conversions described in `notes`.
    notes : tuple of str
        Plain-English sentences, one per change or guess.
    encoding, delimiter : str or None
        Text encoding and field delimiter, for text files only; `delimiter` is None for a
        single-column file.
    """

    source: str
    file_format: str
    n_rows: int
    n_columns: int
    numeric_columns: tuple[str, ...]
    other_columns: tuple[str, ...]
    # Excluded from the hash so that the frozen report stays hashable.
    missing_per_column: dict[str, int] = field(hash=False)
    notes: tuple[str, ...]
    encoding: str | None = None
    delimiter: str | None = None

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        source: str,
        file_format: str,
        notes: Sequence[str] = (),
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> ReadReport:
        """Describe a table: its shape, kinds of columns and missing cells.

        Parameters
        ----------
        df : DataFrame of shape (n_rows, n_columns)
            The table as returned to the caller.
        source, file_format, notes, encoding, delimiter
            Stored as given; see the class attributes.

        Returns
        -------
        ReadReport
        """
        numeric = tuple(numeric_columns(df))
        return cls(
            source=source,
            file_format=file_format,
            n_rows=len(df),
            n_columns=df.shape[1],
            numeric_columns=numeric,
            other_columns=tuple(df.columns.drop(list(numeric))),
            missing_per_column={c: int(n) for c, n in df.isna().sum().items()},
            notes=tuple(notes),
            encoding=encoding,
            delimiter=delimiter,
        )


@dataclass(frozen=True, eq=False)
class PreparedData:
    """The matrix EM fits, and how it was made from the table.

    Attributes
    ----------
    X : ndarray of shape (n, d)
        Finite float64, C-contiguous: ``(raw - center) / scale`` of the kept rows.
    columns : tuple of str
        The d feature columns, in the order of the columns of `X`.
    row_index : ndarray of shape (n,)
        Integer positions of the kept rows in the original DataFrame.
    labels : ndarray of shape (n,) or None
        The label column for the kept rows as strings (missing labels are ``"(missing)"``).
    center, scale : ndarray of shape (d,)
        The scaling; `scale` is never 0.
    notes : tuple of str
        Plain-English sentences on dropped rows, imputed values and constant columns.
    weights : ndarray of shape (n,) or None
        The kept rows' sample weights (a weight or count column), None when unweighted.
    weight_column : str or None
        The column the weights come from.
    """

    X: np.ndarray
    columns: tuple[str, ...]
    row_index: np.ndarray
    labels: np.ndarray | None
    center: np.ndarray
    scale: np.ndarray
    notes: tuple[str, ...]
    weights: np.ndarray | None = None
    weight_column: str | None = None


def read_table(data: bytes, filename: str) -> tuple[pd.DataFrame, ReadReport]:
    """Read an uploaded CSV/TSV, Excel (.xlsx) or Parquet file.

    The format is sniffed from the content first (ZIP, OLE2 and Parquet signatures) and the file
    name second. Text files get their encoding, delimiter, decimal mark, thousands separators,
    header and a units row under the header detected; numbers stored as text are converted.

    Parameters
    ----------
    data : bytes
        The uploaded file's content.
    filename : str
        The name the user gave the file; used for messages and the extension only.

    Returns
    -------
    df : DataFrame of shape (n_rows, n_columns)
        Unique, stripped string column names; numeric columns hold finite floats or NaN.
    report : ReadReport
        What was read and every change made.

    Raises
    ------
    DataError
        If the file cannot give a table with at least 2 rows and one numeric column.
    """
    source = re.split(r"[\\/]", filename)[-1]
    extension = source.rsplit(".", 1)[-1].lower() if "." in source else ""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(
            f"'{source}' is {len(data) / 1024**2:,.1f} MB, over the upload limit of "
            f"{MAX_UPLOAD_BYTES // 1024**2} MB. Upload a random sample of its rows or only the "
            "columns you need, or save it as Parquet, which is much smaller."
        )
    notes: list[str] = []
    encoding = delimiter = None
    if data.startswith(b"PK\x03\x04"):
        file_format = "excel"
        if extension not in ("xlsx", "xlsm"):
            notes.append(f"'{source}' is an Excel workbook despite its name; read it as Excel.")
        df = _read_xlsx(data, source, notes)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        file_format = "excel"
        df = _read_xls(data, source, notes)
    elif data.startswith(b"PAR1") or extension in ("parquet", "pq"):
        file_format = "parquet"
        df = _read_parquet(data, source, notes)
    else:
        file_format = "csv"
        df, encoding, delimiter = _read_text(data, source, extension, notes)
    return df, ReadReport.from_frame(
        df,
        source=source,
        file_format=file_format,
        notes=notes,
        encoding=encoding,
        delimiter=delimiter,
    )


def _read_xlsx(data: bytes, source: str, notes: list[str]) -> pd.DataFrame:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            expanded = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise DataError(
            f"'{source}' is a damaged ZIP or Excel file. Export it again, or save it as CSV."
        ) from exc
    if "xl/workbook.xml" not in names:
        raise DataError(
            f"'{source}' is a ZIP archive, not an Excel workbook. Unzip it and upload the CSV, "
            "Excel (.xlsx) or Parquet file inside; save other spreadsheets as .xlsx or CSV."
        )
    if expanded > _MAX_XLSX_EXPANDED_BYTES:
        raise DataError(
            f"'{source}' expands to {expanded / 1024**3:,.1f} GB when opened, too much to read "
            "here. Save the sheet as CSV or Parquet and upload that instead."
        )
    return _read_excel(data, source, "openpyxl", notes)


def _read_xls(data: bytes, source: str, notes: list[str]) -> pd.DataFrame:
    if importlib.util.find_spec("xlrd") is None:
        raise DataError(
            f"'{source}' is an old-style Excel 97-2003 workbook (.xls), which cannot be read "
            "here. Open it in Excel or LibreOffice, save it as .xlsx or CSV, and upload that."
        )
    return _read_excel(data, source, "xlrd", notes)


def _read_excel(data: bytes, source: str, engine: str, notes: list[str]) -> pd.DataFrame:
    # The readers raise many exception types on damaged workbooks; all mean the same to a user.
    try:
        with pd.ExcelFile(io.BytesIO(data), engine=engine) as book:
            sheets = book.sheet_names
            frame = pd.read_excel(book, sheet_name=sheets[0], header=None, nrows=MAX_ROWS + 3)
    except Exception as exc:
        raise DataError(
            f"'{source}' could not be read as an Excel workbook: it may be damaged or "
            "password-protected. Open it in Excel, save it again as .xlsx or CSV, and upload that."
        ) from exc
    if len(sheets) > 1:
        notes.append(
            f"The workbook has {len(sheets)} sheets; read the first one, '{sheets[0]}'. "
            "Move the data to the first sheet to use another one."
        )
    _check_columns(frame.shape[1], source)
    # Through text, so that sheets share the header, units-row and number detection of CSV files.
    raw = frame.astype(object).where(frame.notna(), "").astype(str)
    raw = raw.apply(lambda column: column.str.strip())
    raw = raw[raw.ne("").any(axis=1).cummax()].reset_index(drop=True)  # rows above the table
    if raw.empty:
        raise DataError(
            f"The first sheet of '{source}', '{sheets[0]}', is empty. Put the table on the first "
            "sheet, with a header row and at least 2 data rows."
        )
    skip, names, unnamed, decimal = _layout(raw.head(_SNIFF_ROWS), notes, prefer_comma=False)
    df = raw.iloc[skip:].reset_index(drop=True)
    df.columns = names
    return _finish(df, decimal, source, notes, unnamed)


def _read_parquet(data: bytes, source: str, notes: list[str]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    # pyarrow raises several exception types on damaged files; all mean the same to a user.
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        _check_columns(parquet.metadata.num_columns, source)
        _check_rows(parquet.metadata.num_rows, source)
        df = parquet.read().to_pandas()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"The Parquet file '{source}' could not be read: it may be truncated or damaged. "
            "Export it again, or upload it as CSV."
        ) from exc
    if not isinstance(df.index, pd.RangeIndex):
        # pandas stores a named or non-default index apart from the columns: bring it back.
        df = df.reset_index()
        notes.append("Turned the table's stored index into ordinary columns.")
    df.columns, unnamed = _clean_names(list(df.columns), notes)
    strings = df[_text_columns(df)]
    dot, comma = _number_masks(strings.head(_SNIFF_ROWS).fillna(""))
    return _finish(df, _decimal_mark(dot, comma, prefer_comma=False), source, notes, unnamed)


def _decode(data: bytes, source: str, extension: str, notes: list[str]) -> tuple[str, str]:
    """Decode text bytes, refusing binary content; returns the text and the codec used."""
    named = f" (it is not a valid .{extension} file)" if extension in ("xlsx", "xls") else ""
    binary = DataError(
        f"'{source}' looks like a binary file, not a text table{named}. Upload a CSV, TSV, "
        "Excel (.xlsx) or Parquet file; if it is text saved as UTF-16, save it as UTF-8 instead."
    )
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data[:_SNIFF_CHARS]:
        raise binary
    try:
        text = data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        if encoding is not None:
            raise DataError(
                f"'{source}' starts like {encoding.upper()} text but could not be decoded; it may "
                "be truncated. Save it again as UTF-8 CSV."
            ) from exc
        try:
            text, encoding = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
        notes.append(
            f"The file is not valid UTF-8; read it as {encoding} (Western European). If accented "
            "letters look wrong, save the file as UTF-8 and upload it again."
        )
    if encoding in ("utf-16", "utf-32"):
        notes.append(f"Decoded the file from {encoding.upper()}.")
    head = text[:_SNIFF_CHARS]
    control = sum(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in head)
    control -= sum(head.count(c) for c in "\t\n\r")
    if control > 0.05 * len(head):
        raise binary
    return text, encoding or "utf-8"


def _read_text(
    data: bytes, source: str, extension: str, notes: list[str]
) -> tuple[pd.DataFrame, str, str | None]:
    if not data:
        raise DataError(
            f"'{source}' is empty. Upload a file with a header row and at least 2 data rows."
        )
    text, encoding = _decode(data, source, extension, notes)
    text = text.lstrip()  # leading blank lines are not rows of the table
    if not text:
        raise DataError(
            f"'{source}' contains only blank space. Upload a file with a header row and at least "
            "2 data rows."
        )
    delimiter, rows = _sniff(text)
    n_fields = max(Counter(len(row) for row, _ in rows).most_common(1)[0][0], len(rows[0][0]))
    _check_columns(n_fields, source)
    lead = next((i for i, (row, _) in enumerate(rows) if any(row)), len(rows))
    if lead == len(rows):
        raise DataError(
            f"'{source}' has no values. Upload a file with a header row and at least 2 data rows."
        )
    head = pd.DataFrame([(row + [""] * n_fields)[:n_fields] for row, _ in rows[lead:]], dtype=str)
    skip, names, unnamed, decimal = _layout(head, notes, prefer_comma=delimiter == ";")
    # Cut the header (and units row) off the text: pandas counts skipped rows differently per
    # engine around blank lines, and quoted line breaks make lines differ from rows.
    start = _after_lines(text, rows[lead + skip - 1][1] if lead + skip else 0)
    first = rows[lead + skip][0] if lead + skip < len(rows) else []
    df = _parse_text(
        text[start:],
        delimiter or _NO_DELIMITER,
        names,
        decimal,
        source,
        notes,
        longer_first_row=len(first) > n_fields,
    )
    df = _finish(df, decimal, source, notes, unnamed)
    if delimiter not in (",", None) or decimal == ",":
        split = (
            f"Detected {_DELIMITER_NAMES[delimiter]} as the delimiter"
            if delimiter
            else "Found no delimiter (one column)"
        )
        notes.insert(0, f"{split} and '{decimal}' as the decimal mark.")
    return df, encoding, delimiter


def _after_lines(text: str, n: int) -> int:
    """Offset just after the n-th line break of `text` (0 for n = 0)."""
    if n == 0:
        return 0
    for i, match in enumerate(re.finditer(r"\r\n|\r|\n", text), 1):
        if i == n:
            return match.end()
    return len(text)


def _sniff(text: str) -> tuple[str | None, list[tuple[list[str], int]]]:
    """Pick the delimiter giving the most consistent field counts and the most numeric cells.

    Returns the delimiter (None if no candidate splits the lines) and the first rows under it.
    """
    sample = text[:_SNIFF_CHARS]
    end = max(sample.rfind("\n"), sample.rfind("\r"))
    if len(text) > _SNIFF_CHARS and end > 0:
        sample = sample[:end]  # a cut last line would have too few fields
    best, choice = (0.0, 0), None
    for delimiter in _DELIMITERS:
        rows = [row for row, _ in _rows(sample, delimiter)]
        if delimiter == "," and _decimal_comma_column(rows):
            continue
        modal, frequency = Counter(map(len, rows)).most_common(1)[0]
        cells = [cell for row in rows[1:] for cell in row if cell]
        numeric = sum(
            bool(_NUMBER_RE["."].fullmatch(c) or _NUMBER_RE[","].fullmatch(c)) for c in cells
        )
        score = (frequency / len(rows) + numeric / max(len(cells), 1), modal)
        if modal > 1 and score > best:
            best, choice = score, delimiter
    return choice, _rows(sample, choice or _NO_DELIMITER)


def _decimal_comma_column(rows: list[list[str]]) -> bool:
    """One name over rows like ``1,5``: a column with decimal commas, not two integer columns.

    Excel in a decimal-comma locale writes a one-column table without any delimiter; read
    with ',' it would become an unnamed second column of the digits after the comma.
    """
    header, body = rows[0], rows[1:]
    return (
        len(header) == 1
        and _INTEGER_RE.fullmatch(header[0]) is None
        and len(body) > 0
        and all(
            len(row) == 2 and _INTEGER_RE.fullmatch(row[0]) and row[1].isdigit() for row in body
        )
    )


def _rows(sample: str, delimiter: str) -> list[tuple[list[str], int]]:
    """The first non-blank rows as (stripped cells, number of the row's last line)."""
    reader = csv.reader(io.StringIO(sample, newline=None), delimiter=delimiter)
    rows = []
    for row in reader:
        if row:
            rows.append(([cell.strip() for cell in row], reader.line_num))
        if len(rows) == _SNIFF_ROWS:
            break
    return rows


def _parse_text(
    text: str,
    delimiter: str,
    names: list[str],
    decimal: str,
    source: str,
    notes: list[str],
    *,
    longer_first_row: bool,
) -> pd.DataFrame:
    """Parse the rows under the header; numeric columns come typed, the rest as text."""
    if not text or text.isspace():
        return pd.DataFrame(columns=names)
    options = {
        "sep": delimiter,
        "header": None,
        "names": names,
        "index_col": False,
        # pandas refuses a decimal mark equal to the delimiter; quoted "1,5" cells stay text then.
        "decimal": decimal if decimal != delimiter else ".",
        # Only empty cells are missing: "n/a" and friends must reach _maybe_numbers to be counted.
        "keep_default_na": False,
        "na_values": [""],
        "skipinitialspace": True,
        "nrows": MAX_ROWS + 1,
        "encoding": "utf-8",
    }
    if not longer_first_row:
        # Bytes: the parser reads them without the copy that a StringIO of a long text costs.
        try:
            return pd.read_csv(io.BytesIO(text.encode()), engine="c", low_memory=False, **options)
        except pd.errors.ParserError:
            pass
    return _parse_irregular(text, options, source, notes)


def _parse_irregular(text: str, options: dict, source: str, notes: list[str]) -> pd.DataFrame:
    """Parse text with lines with extra fields, or with an unmatched quote.

    The C parser cannot skip and count such lines without emitting warnings, so the slower
    Python parser does. It would silently swallow the rest of the file at an unmatched quote,
    so quotes are read as plain text then.
    """
    quotes_literal = text.count('"') % 2 == 1
    # The parsers take their width from the first row, silently dropping the extra fields of
    # a longer one: a blank row as wide as the header goes first, and is removed after parsing.
    blank = '""' + options["sep"] * (len(options["names"]) - 1) + "\n"
    skipped: list[list[str]] = []
    try:
        df = (
            pd.read_csv(
                io.BytesIO((blank + text).encode()),
                engine="python",
                quoting=csv.QUOTE_NONE if quotes_literal else csv.QUOTE_MINIMAL,
                on_bad_lines=skipped.append,  # returns None: the line is dropped
                **{**options, "nrows": options["nrows"] + 1},
            )
            .iloc[1:]
            .reset_index(drop=True)
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise DataError(
            f"'{source}' could not be split into columns. Check that every line has the same "
            "number of values and that text containing the delimiter is in double quotes."
        ) from exc
    if quotes_literal:
        notes.append('The file has an unmatched quote character ("); read quotes as plain text.')
        for name in _text_columns(df):
            df[name] = df[name].str.strip('" ')
    if skipped:
        notes.append(
            f"Skipped {_count(len(skipped), 'line')} with more fields than the header. Check "
            "them for a delimiter inside an unquoted value."
        )
    return df


def _text_columns(df: pd.DataFrame) -> list[str]:
    # Judged by the values: an object column may hold numbers too big for int64, say.
    return [name for name in df.columns if pd.api.types.is_string_dtype(df[name])]


def _number_masks(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which cells of a frame of strings are numbers with '.' and with ',' as the decimal mark."""
    dot, comma = (
        frame.apply(lambda column, pattern=_NUMBER[mark]: column.str.fullmatch(pattern, na=False))
        for mark in ".,"
    )
    # astype: on a frame without rows, apply returns the strings unchanged.
    return dot.astype(bool), comma.astype(bool)


def _decimal_mark(dot: pd.DataFrame, comma: pd.DataFrame, *, prefer_comma: bool) -> str:
    """',' if more cells read only with a decimal comma than only with a decimal point.

    Cells like "1,234" read both ways; when nothing decides, a ';' delimiter (what European
    Excel writes) tips the balance to the decimal comma.
    """
    only_dot = int((dot & ~comma).to_numpy().sum())
    only_comma = int((comma & ~dot).to_numpy().sum())
    return "," if only_comma > only_dot or (only_comma == only_dot and prefer_comma) else "."


def _layout(
    head: pd.DataFrame, notes: list[str], *, prefer_comma: bool
) -> tuple[int, list[str], set[str], str]:
    """Find the header, a units row under it, and the decimal mark in the first rows.

    `head` holds stripped strings, "" for empty cells, and starts at the first non-empty row.
    Returns how many rows to skip (0, 1 or 2), the column names, those of them made up for
    blank names, and the decimal mark.
    """
    dot, comma = _number_masks(head)
    number, filled = dot | comma, head.ne("")
    text = filled & ~number & ~head.apply(lambda column: column.str.lower().isin(_MISSING_TOKENS))

    def numeric_below(row: int) -> pd.Series:
        # Columns whose cells below `row` are mostly numbers.
        count = number.iloc[row + 1 :].sum()
        return (count > 0) & (count >= 0.5 * filled.iloc[row + 1 :].sum())

    columns = numeric_below(0)
    if columns.any():
        has_header = text.iloc[0][columns].sum() > number.iloc[0][columns].sum()
    else:
        has_header = not number.iloc[0][filled.iloc[0]].all()
    decimal = _decimal_mark(dot, comma, prefer_comma=prefer_comma)
    if not has_header:
        names = [f"column_{i + 1}" for i in range(head.shape[1])]
        named = f"the columns {names[0]} to {names[-1]}" if len(names) > 1 else "it column_1"
        notes.append(f"The first row holds numbers, so it is read as data; named {named}.")
        return 0, names, set(), decimal
    names, unnamed = _clean_names(list(head.iloc[0]), notes)
    below = numeric_below(1)
    if len(head) > 2 and below.any() and text.iloc[1][below].sum() > number.iloc[1][below].sum():
        units = ", ".join(f"'{cell}'" for cell in head.iloc[1] if cell)
        notes.append(f"Skipped a units row under the header ({units}).")
        return 2, names, unnamed, decimal
    return 1, names, unnamed, decimal


def _clean_names(names: list[object], notes: list[str]) -> tuple[list[str], set[str]]:
    """Strip names, name blank ones column_<i> and suffix duplicates _2, _3, ...

    Returns the names and the set of those made up for blank names.
    """
    stripped = ["" if name is None else str(name).strip() for name in names]
    clean = [name or f"column_{i + 1}" for i, name in enumerate(stripped)]
    taken, unique = set(clean), []
    for name in clean:
        new, k = name, 1
        while new in unique or (new != name and new in taken):
            k += 1
            new = f"{name}_{k}"
        if new != name:
            notes.append(f"Renamed duplicate column '{name}' to '{new}'.")
        unique.append(new)
    return unique, {unique[i] for i, name in enumerate(stripped) if not name}


def _finish(
    df: pd.DataFrame, decimal: str, source: str, notes: list[str], unnamed: set[str]
) -> pd.DataFrame:
    """Drop empty rows and columns, read numbers stored as text, clear inf and overflow."""
    for name in _text_columns(df):
        stripped = df[name].str.strip()
        df[name] = stripped.mask(stripped.eq(""))
    empty_rows = df.isna().all(axis=1)
    if empty_rows.any() and not empty_rows.all():
        df = df[~empty_rows].reset_index(drop=True)
        notes.append(f"Dropped {_count(empty_rows.sum(), 'completely empty row')}.")
    _check_rows(len(df), source)
    if len(df) < 2 or empty_rows.all():
        found = "only 1 data row" if len(df) == 1 else "no data rows"
        raise DataError(
            f"'{source}' has {found}; at least 2 are needed to fit a mixture. Add more rows "
            "to the file."
        )
    # Empty columns without a name are artefacts (of trailing delimiters, say): drop silently.
    empty = [name for name in df.columns if df[name].isna().all()]
    df = df.drop(columns=empty)
    if dropped := [name for name in empty if name not in unnamed]:
        listed = ", ".join(f"'{name}'" for name in dropped)
        notes.append(f"Dropped {_count(len(dropped), 'empty column')}: {listed}.")
    if named := [name for name in df.columns if name in unnamed]:
        listed = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
        notes.append(f"Named {_count(len(named), 'column')} without a name: {listed}.")
    for name in df.columns:
        column = df[name]
        if pd.api.types.is_string_dtype(column):
            df[name] = _maybe_numbers(column, decimal, notes)
        elif pd.api.types.is_extension_array_dtype(column) and _is_numeric(column.dtype):
            df[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if pd.api.types.is_float_dtype(df[name]):
            df[name] = _clear_non_finite(df[name], notes)
    if not numeric_columns(df):
        raise DataError(
            f"No column of '{source}' holds numbers, so there is nothing to cluster. Check that "
            "columns are separated by commas, semicolons, tabs or '|', and that numbers are plain "
            "(like 1.5 or 1,5, without units such as '5 kg')."
        )
    return df


def _maybe_numbers(column: pd.Series, decimal: str, notes: list[str]) -> pd.Series:
    """Convert a text column to numbers if nearly all its cells are numbers; else keep it."""
    valid = column.str.fullmatch(_NUMBER[decimal], na=False)
    tokens = column[column.notna() & ~valid].str.lower().isin(_MISSING_TOKENS)
    n_valid, n_text = int(valid.sum()), int((~tokens).sum())
    if n_valid == 0 or n_text > 0.2 * (n_valid + n_text):
        return column
    numbers = column.where(valid)
    if numbers.str.contains(_GROUP_SEPARATORS[decimal]).any():
        numbers = numbers.str.replace(_GROUP_SEPARATORS[decimal], "", regex=True)
        notes.append(f"Column '{column.name}' had thousands separators; read as numbers.")
    if decimal == ",":
        numbers = numbers.str.replace(",", ".", regex=False)
    result = pd.to_numeric(numbers, errors="coerce")
    # Also cells that look like numbers but do not convert (hundreds of digits).
    unread = column.notna() & result.isna()
    if unread.any():
        examples = ", ".join(
            f"'{value[:20]}…'" if len(value) > 20 else f"'{value}'"
            for value in column[unread].unique()[:3]
        )
        notes.append(
            f"Column '{column.name}' has {_count(unread.sum(), 'cell')} not readable as a "
            f"number ({examples}); treated as missing."
        )
    return result


def _clear_non_finite(column: pd.Series, notes: list[str]) -> pd.Series:
    """Replace inf and values beyond ±1e300 (they overflow covariances) with NaN."""
    magnitude = np.abs(column.to_numpy())
    infinite, huge = np.isinf(magnitude), (magnitude > _OVERFLOW) & np.isfinite(magnitude)
    if infinite.any():
        notes.append(
            f"Column '{column.name}' has {_count(infinite.sum(), 'infinite value')}; "
            "read as missing."
        )
    if huge.any():
        notes.append(
            f"Column '{column.name}' has {_count(huge.sum(), 'value')} beyond ±1e300; read "
            "as missing, because such values overflow when computing covariances."
        )
    return column.mask(infinite | huge)


def _count(n: int, noun: str) -> str:
    """'1 row', '2,000 rows'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _check_columns(n_columns: int, source: str) -> None:
    if n_columns > MAX_COLUMNS:
        raise DataError(
            f"'{source}' has {n_columns:,} columns; the limit is {MAX_COLUMNS:,}. Select the "
            "columns you want to cluster before uploading."
        )


def _check_rows(n_rows: int, source: str) -> None:
    if n_rows > MAX_ROWS:
        raise DataError(
            f"'{source}' has more than {MAX_ROWS:,} rows, the limit. Upload a random sample of "
            "the rows instead."
        )


def _is_numeric(dtype: object) -> bool:
    # Booleans count as numbers in pandas, but clustering on 0/1 flags is rarely meant.
    return (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
    )


def numeric_columns(df: pd.DataFrame) -> list[str]:
    """Names of the columns that can be clustered: real numbers, not booleans.

    Parameters
    ----------
    df : DataFrame of shape (n_rows, n_columns)

    Returns
    -------
    list of str
        In the order of `df.columns`.
    """
    return [name for name, dtype in df.dtypes.items() if _is_numeric(dtype)]


#: At most this many distinct whole numbers (and a third of the rows) make a column look like
#: a code or category rather than a measurement: flags, ratings, group numbers, cylinders.
CODE_MAX_DISTINCT = 10


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words of a column name that mark an identifier, a code or a date (names split into words at
# "_", spaces, digits and camelCase, so "PassengerId" is "passenger id" but "malic_acid" has no
# "id").
_ID_WORDS = _word_set("id ids idx index rowid rownames row key uid uuid")
_CODE_WORDS = _word_set(
    "code codes zip zipcode postcode postal fips category class type group cluster label flag "
    "month weekday status"
)
_YEAR_WORDS = _word_set("year years yr season")
_DATE_WORDS = _word_set("date datetime timestamp")
# Words (often units) that say a column is measured; such a column is never called a code.
_MEASURE_WORDS = _word_set(
    "mm cm m km in ft g kg mg lb lbs oz s sec ms min mins h hr hrs hours minutes seconds pct "
    "percent usd eur length width height depth weight mass size age count amount price income "
    "score duration waiting distance area volume"
)


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(name))
    return {word for word in re.split(r"[^a-z]+", spaced.lower()) if word}


def _left_out_reason(column: pd.Series, name: str) -> tuple[str, str] | None:
    """Why a numeric column is not a measurement to cluster on, or None if it is one.

    Returns
    -------
    (kind, reason) or None
        ``kind`` is "identifier", "year", "date", "code", "constant" or "empty"; ``reason`` a
        clause with the numbers ("it looks like a year: ...").
    """
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return "empty", "it has no values"
    words = _name_words(name)
    low, high = float(values.min()), float(values.max())
    if low == high:
        return "constant", f"it is constant ({low:g} in every row), so it cannot separate clusters"
    if not np.array_equal(values, np.round(values)):
        return None  # fractions are measured, whatever the name says
    span = high - low + 1
    if span <= 4 * n:  # counting by value: ten times faster than hashing 2,000,000 rows
        distinct = int(np.count_nonzero(np.bincount((values - low).astype(np.int64))))
    else:
        distinct = int(pd.unique(values).size)
    steps = np.diff(values)
    monotone = bool(np.all(steps > 0) or np.all(steps < 0))
    # Counting values says little about a handful of rows: there only the name counts.
    enough = n >= 10
    unique = distinct == n and n >= 3
    numbered = enough and (
        (monotone and bool(np.all(steps == steps[0])))  # row numbers
        or (monotone and span <= 2 * n)  # sorted identifiers with a few gaps
        or span <= 1.1 * n  # shuffled row numbers
    )
    if unique and (words & _ID_WORDS or numbered):
        order = "in increasing order" if monotone and steps[0] > 0 else "once each"
        return "identifier", (
            f"it looks like an identifier: {n:,} different whole numbers from {low:g} to "
            f"{high:g}, {order}"
        )
    if words & _ID_WORDS:
        return "code", f"it looks like an identifier or code: {distinct:,} different whole numbers"
    if words & _DATE_WORDS or (enough and _looks_like_date_numbers(values)):
        return "date", f"it looks like a date written as a number ({low:g} to {high:g})"
    in_years = low >= 1800 and high <= 2100
    if (words & _YEAR_WORDS and low >= 1000 and high <= 2999) or (
        enough and in_years and distinct <= 30 and high - low <= 150 and not words & _MEASURE_WORDS
    ):
        return (
            "year",
            f"it looks like a year: {_count(distinct, 'distinct whole number')}, {low:g} to "
            f"{high:g}",
        )
    if words & _MEASURE_WORDS:
        return None
    if words & _CODE_WORDS or (enough and distinct <= min(CODE_MAX_DISTINCT, n // 3)):
        shown = ", ".join(f"{v:g}" for v in np.sort(pd.unique(values))[:6])
        more = ", ..." if distinct > 6 else ""
        return "code", (
            "it looks like a code or category: "
            f"{_count(distinct, 'distinct whole number')} ({shown}{more})"
        )
    return None


def _looks_like_date_numbers(values: np.ndarray) -> bool:
    """Whole numbers that all read as YYYYMMDD (or YYYYMM) dates between 1800 and 2100."""
    if values.min() >= 18000101 and values.max() <= 21001231:
        month, day = (values // 100) % 100, values % 100
        return bool(np.all((month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)))
    if values.min() >= 180001 and values.max() <= 210012:
        month = values % 100
        return bool(np.all((month >= 1) & (month <= 12)))
    return False


def default_columns(
    table: pd.DataFrame, report: ReadReport, label: str | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The columns to preselect for EM, and plain notes on every column left out and why.

    A numeric column is left out when it looks like an identifier (whole numbers, one per
    row: row numbers, shuffled or sorted ids), a year, a date written as a number
    (YYYYMMDD), a code or category (whole numbers with at most :data:`CODE_MAX_DISTINCT`
    distinct values, or a name such as "zip" or "group"), is constant or empty, or is the
    label column. Whole-number measurements with many values (a body mass in grams, a waiting
    time in minutes) stay, and so does any column whose name carries a unit ("_mm", "_g").
    Columns that are not numbers (text, dates, true/false) are named in a note too. If every
    numeric column would be left out, they are preselected anyway (identifiers last), so that
    EM always has something to fit.

    Parameters
    ----------
    table : DataFrame of shape (n_rows, n_columns)
        The loaded table.
    report : ReadReport
        Its report; ``report.numeric_columns`` are the candidates, in order.
    label : str or None
        The label column, never preselected.

    Returns
    -------
    columns : tuple of str
        The columns to preselect, in the table's order.
    notes : tuple of str
        One plain-English sentence per column (or group of text columns) left out, saying how
        to add it back.
    """
    candidates = [c for c in report.numeric_columns if c != label and c in table.columns]
    weights = set(weight_candidates(table, report))
    reasons = {
        c: _weight_reason(table[c]) if _weight_kind(c) == "count" and c in weights else None
        for c in candidates
    }
    reasons = {c: reasons[c] or _left_out_reason(table[c], c) for c in candidates}
    kept = [c for c in candidates if reasons[c] is None]
    notes = []
    if not kept:
        # Better a questionable column than none: EM needs at least one.
        kept = [c for c in candidates if reasons[c][0] in ("year", "date", "code")]
        kept = kept or [c for c in candidates if reasons[c][0] != "empty"] or candidates
        if kept:
            why = "; ".join(f"{_quoted([c])}: {reasons[c][1]}" for c in kept[:3])
            notes.append(
                f"No numeric column looks like a measurement, so {_quoted(kept)} "
                f"{'is' if len(kept) == 1 else 'are'} preselected anyway ({why}). Choose the "
                "columns to fit under Columns EM uses."
            )
    for c in candidates:
        if c not in kept:
            kind, reason = reasons[c]
            unless = (
                "you want it fitted" if kind in ("constant", "empty") else "it is a measurement"
            )
            if kind == "weight":
                notes.append(
                    f"Left {_quoted([c])} out of the columns EM uses: {reason}. If each row "
                    "stands for that many observations (an aggregated table), choose it as the "
                    "Weight or count column; add it back under Columns EM uses if it is a "
                    "measurement."
                )
                continue
            notes.append(
                f"Left {_quoted([c])} out of the columns EM uses: {reason}. Add it back under "
                f"Columns EM uses if {unless}."
            )
    for c in kept:
        if c in weights:
            notes.append(
                f"If {_quoted([c])} says how much each row counts (a sampling weight, not a "
                "measurement), choose it as the Weight or count column: it then leaves the "
                "columns EM uses."
            )
    if label is not None and label in table.columns:
        notes.append(
            f"{_quoted([label])} is the label column: it is kept aside to score the clusters "
            "against, never fitted."
        )
    text = [c for c in report.other_columns if c in table.columns and c != label]
    if text:
        kinds = sorted({_other_kind(table[c]) for c in text})
        one = len(text) == 1
        notes.append(
            f"{_quoted(text)} {'holds' if one else 'hold'} {' or '.join(kinds)}, not numbers, "
            f"so EM does not use {'it' if one else 'them'}. Choose "
            f"{'it' if one else 'one'} as the label column to compare the clusters with it."
        )
    return tuple(kept), tuple(notes)


# Column names that say how many observations a row stands for ("count"), or how much it
# counts ("weight"); compared after lower-casing and turning spaces, dots and dashes into "_".
_COUNT_NAMES = _word_set(
    "count counts n freq frequency frequencies cnt nobs n_obs occurrences multiplicity"
)
_WEIGHT_NAMES = _word_set(
    "weights wt wts w sample_weight sample_weights sampling_weight survey_weight case_weight "
    "freq_weight frequency_weight fweight pweight"
)


def _weight_kind(name: object) -> str | None:
    """ "count" for a name that counts or weights rows beyond doubt, "weight" for the
    ambiguous "weight" (often a body weight), else None."""
    plain = re.sub(r"[\s.\-]+", "_", str(name).strip().lower())
    if plain in _COUNT_NAMES or plain in _WEIGHT_NAMES:
        return "count"
    return "weight" if plain == "weight" else None


def _weight_reason(column: pd.Series) -> tuple[str, str] | None:
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    total = float(np.nansum(values))
    whole = np.array_equal(values[~np.isnan(values)], np.round(values[~np.isnan(values)]))
    stands = f"{total:,.0f} observations" if whole else f"a total weight of {total:,.6g}"
    return "weight", (
        f"its name says it counts or weights the rows (its {_count(len(values), 'row')} "
        f"stand for {stands})"
    )


def weight_candidates(table: pd.DataFrame, report: ReadReport) -> tuple[str, ...]:
    """Numeric columns whose name says they count or weight the rows, and whose values can.

    A name such as "count", "n", "freq", "weights" or "weight" (see :data:`_COUNT_NAMES`),
    with finite values of at least 0, not all 0. These are suggested, never chosen: the
    person picks the weight column.

    Parameters
    ----------
    table : DataFrame of shape (n_rows, n_columns)
    report : ReadReport
        Its report; ``report.numeric_columns`` are the candidates, in order.

    Returns
    -------
    tuple of str
        In the table's order.
    """
    found = []
    for c in report.numeric_columns:
        if c not in table.columns or _weight_kind(c) is None:
            continue
        values = table[c].to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[~np.isnan(values)]
        if values.size and np.isfinite(values).all() and values.min() >= 0 and values.max() > 0:
            found.append(c)
    return tuple(found)


def _quoted(names: Sequence[str]) -> str:
    """Names as Markdown code, joined with commas and "and"."""
    # A name with a backtick in it needs a longer fence to stay one code span.
    quoted = [f"`` {name} ``" if "`" in str(name) else f"`{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _other_kind(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "true/false values"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "dates"
    return "text"


def prepare(
    df: pd.DataFrame,
    columns: Sequence[str],
    *,
    label_column: str | None = None,
    missing: Literal["drop", "mean", "median"] = "drop",
    scaling: Literal["none", "standard", "minmax"] = "standard",
    weight_column: str | None = None,
) -> PreparedData:
    """Turn chosen numeric columns of a table into the finite matrix that EM fits.

    Parameters
    ----------
    df : DataFrame of shape (n_rows, n_columns)
    columns : sequence of str
        The d feature columns; all numeric.
    label_column : str or None
        A column with known classes, kept aside for comparison; never a feature.
    missing : {"drop", "mean", "median"}
        Drop rows with a missing (or infinite) value in the chosen columns, or fill such cells
        with the column's mean or median.
    scaling : {"none", "standard", "minmax"}
        No scaling, zero mean and unit variance, or the range [0, 1]. A constant column gets
        scale 1, so it becomes 0 (or stays put with "none").
    weight_column : str or None
        A numeric column of non-negative weights or counts (an aggregated table: each row
        stands for that many observations); never a feature. Rows without a weight are
        dropped, whatever `missing` says (a count cannot be made up). Rows of weight 0 are
        kept, and drawn, but do not count. The means, spreads, medians and ranges used to
        fill and scale are those of the observations (weighted), so that a table of counts
        is prepared exactly as its rows repeated would be.

    Returns
    -------
    PreparedData
        ``X`` of shape (n, d) with ``X = (raw - center) / scale`` for the kept rows, and
        ``weights`` of shape (n,) with a weight column.

    Raises
    ------
    DataError
        If no column is chosen, a column is missing, not numeric, entirely missing (when
        filling), or the label or the weight is also a feature, or fewer than 2 rows remain;
        if a weight is negative or infinite, or every remaining weight is 0.
    """
    columns = list(columns)
    _check_choices(df, columns, label_column, missing, scaling, weight_column)
    raw = df[columns].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    notes: list[str] = []
    infinite = np.isinf(raw)
    if infinite.any():
        notes.append(f"Treated {_count(infinite.sum(), 'infinite value')} as missing.")
        raw[infinite] = np.nan
    weights = None
    candidates = np.arange(len(df))
    if weight_column is not None:
        weights = _weight_values(df[weight_column], weight_column)
        candidates = np.flatnonzero(~np.isnan(weights))
        if unweighted := len(df) - len(candidates):
            notes.append(
                f"Dropped {_count(unweighted, 'row')} without a value in the weight column "
                f"'{weight_column}' (a missing count is never filled in)."
            )
        if len(candidates) < 2:
            raise DataError(
                f"Rows with a weight in '{weight_column}': {len(candidates)}; at least 2 are "
                "needed. Fill in the weights, or choose another weight column (or none)."
            )
    absent = np.isnan(raw)
    if missing == "drop":
        row_index = candidates[~absent[candidates].any(axis=1)]
        if dropped := len(candidates) - len(row_index):
            notes.append(
                f"Dropped {_count(dropped, 'row')} with missing values in the chosen columns."
            )
        if len(row_index) < 2:
            raise DataError(
                "Dropping rows with missing values leaves "
                f"{_count(len(row_index), 'row')}; at least 2 are needed. Choose columns "
                "with fewer missing values, or fill missing values with the column mean or median."
            )
    else:
        row_index = candidates
    raw, absent = raw[row_index], absent[row_index]
    w = None if weights is None else weights[row_index]
    if w is not None:
        notes.append(_weight_note(w, weight_column))
        if not (w > 0).any():
            raise DataError(
                f"Every row that remains has weight 0 in '{weight_column}', so nothing would "
                "count in the fit. Choose another weight column (or none), or check its values."
            )
    if missing != "drop":
        counted = absent if w is None else absent | (w == 0)[:, None]
        if (empty := counted.all(axis=0)).any():
            where = "" if w is None else " (in rows of positive weight)"
            raise DataError(
                f"Column '{columns[np.argmax(empty)]}' has no values at all{where}, so there is "
                "nothing to fill its missing cells with. Remove it from the chosen columns."
            )
    X, center, scale, constant = _fill_and_scale(raw, absent, w, missing, scaling, notes)
    broken = ~(np.isfinite(X).all(axis=0) & np.isfinite(center) & np.isfinite(scale))
    if broken.any():
        raise DataError(
            f"Column '{columns[np.argmax(broken)]}' has values too large to scale without "
            "overflow. Change its units (for example divide it by 1e6) before clustering."
        )
    for j in np.flatnonzero(constant):
        effect = "" if scaling == "none" else f", and {scaling} scaling leaves it at 0"
        value = raw[0 if w is None else np.argmax(w > 0), j]
        notes.append(
            f"Column '{columns[j]}' is constant ({value:g} in every row){effect}; it cannot "
            "separate clusters, so consider dropping it."
        )
    labels = None
    if label_column is not None:
        label = df[label_column].iloc[row_index]
        labels = label.astype(str).where(label.notna(), "(missing)").to_numpy(dtype=str)
    return PreparedData(
        X=X,
        columns=tuple(columns),
        row_index=row_index,
        labels=labels,
        center=center,
        scale=scale,
        notes=tuple(notes),
        weights=w,
        weight_column=weight_column,
    )


def _check_choices(
    df: pd.DataFrame,
    columns: list[str],
    label_column: str | None,
    missing: str,
    scaling: str,
    weight_column: str | None,
) -> None:
    """Refuse options, columns and roles that :func:`prepare` cannot use, in plain words."""
    if missing not in ("drop", "mean", "median"):
        raise DataError(f"missing={missing!r} is not an option. Use 'drop', 'mean' or 'median'.")
    if scaling not in ("none", "standard", "minmax"):
        raise DataError(
            f"scaling={scaling!r} is not an option. Use 'none', 'standard' or 'minmax'."
        )
    if not columns:
        raise DataError("No columns are chosen. Choose at least one numeric column to cluster.")
    for name in [*columns, label_column, weight_column]:
        if name is not None and name not in df.columns:
            raise DataError(f"There is no column '{name}' in the table. Choose an existing column.")
    repeated = [name for name, n in Counter(columns).items() if n > 1]
    if repeated:
        raise DataError(f"Column '{repeated[0]}' is chosen twice. Choose each column once.")
    if label_column in columns:
        raise DataError(
            f"Column '{label_column}' is chosen both as a feature and as the label. Remove it "
            "from the features: the known labels must not take part in the fit."
        )
    if weight_column is not None and weight_column in columns:
        raise DataError(
            f"Column '{weight_column}' is chosen both as a feature and as the weight. Remove it "
            "from the columns EM uses, or choose another weight column: a count says how many "
            "times a row is counted, it is not a coordinate of the row."
        )
    if weight_column is not None and weight_column == label_column:
        raise DataError(
            f"Column '{weight_column}' is chosen both as the label and as the weight. Choose "
            "another label column, or another weight column."
        )
    numeric = set(numeric_columns(df))
    for name in columns:
        if name not in numeric:
            raise DataError(
                f"Column '{name}' is not numeric, so it cannot be clustered. Choose numeric "
                "columns, or use it as the label column."
            )
    if weight_column is not None and weight_column not in numeric:
        raise DataError(
            f"Column '{weight_column}' holds {_other_kind(df[weight_column])}, not numbers, so "
            "it cannot weight the rows. Choose a column of non-negative numbers (how many "
            "observations each row stands for), or no weight column."
        )
    if len(df) < 2:
        raise DataError(
            f"The table has {_count(len(df), 'row')}; at least 2 are needed to fit a mixture. "
            "Load a table with more rows."
        )


def _weight_values(column: pd.Series, name: str) -> np.ndarray:
    """The weight column as floats (NaN where missing); negative or infinite ones refused."""
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    for bad, what in ((np.isinf(values), "infinite"), (values < 0, "negative")):
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(
                f"Column '{name}' has {_count(int(bad.sum()), f'{what} weight')} (the first in "
                f"data row {first + 1:,}: {values[first]:g}). A weight or count says how many "
                "observations a row stands for, so it must be a finite number of at least 0: "
                "correct those rows, or choose another weight column (or none)."
            )
    return values


def _weight_note(weights: np.ndarray, name: str) -> str:
    """ "Weights from column 'count': 110 rows stand for 272 observations." (and the zeros)."""
    total = float(weights.sum())
    whole = bool(np.all(weights == np.round(weights))) and total < 2**53
    stand = (
        f"stand for {_count(int(total), 'observation')}"
        if whole
        else f"have a total weight of {total:,.6g}"
    )
    note = f"Weights from column '{name}': {_count(len(weights), 'row')} {stand}."
    if zeros := int(np.count_nonzero(weights == 0)):
        note += (
            f" {_count(zeros, 'row')} of weight 0 {'is' if zeros == 1 else 'are'} kept and "
            "drawn but {} not count in the fit.".format("does" if zeros == 1 else "do")
        )
    return note


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of `values` with each counted `weights` times (NaN values left out).

    For whole weights this is ``np.median`` of the values repeated: the mean of the two
    middle observations when their number is even.
    """
    keep = ~np.isnan(values) & (weights > 0)
    order = np.argsort(values[keep], kind="stable")
    sorted_values, cumulative = values[keep][order], np.cumsum(weights[keep][order])
    middle = (cumulative[-1] - 1) / 2
    low, high = np.searchsorted(cumulative, [np.floor(middle), np.ceil(middle)], side="right")
    top = len(sorted_values) - 1
    return float((sorted_values[min(low, top)] + sorted_values[min(high, top)]) / 2)


def _fill_and_scale(
    raw: np.ndarray,
    absent: np.ndarray,
    weights: np.ndarray | None,
    missing: str,
    scaling: str,
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fill missing cells and scale the columns; weighted statistics when there are weights.

    Returns ``X``, ``center``, ``scale`` and which columns are constant (over the rows that
    count). `raw` is filled in place.
    """
    counts = weights is not None
    w = np.ones(len(raw)) if weights is None else weights
    # Values near the float limit overflow in sums and squares; the caller checks the result.
    with np.errstate(over="ignore", invalid="ignore"):
        if absent.any() and missing != "drop":
            if not counts:
                fill = (np.nanmean if missing == "mean" else np.nanmedian)(raw, axis=0)
            elif missing == "mean":
                present = np.where(absent, 0.0, w[:, None])
                fill = np.nansum(raw * present, axis=0) / present.sum(axis=0)
            else:
                fill = np.array([_weighted_median(raw[:, j], w) for j in range(raw.shape[1])])
            raw[absent] = np.take(fill, np.nonzero(absent)[1])
            notes.append(
                f"Imputed {_count(absent.sum(), 'missing value')} with the column {missing}"
                + (" (of the observations, weighted)." if counts else ".")
            )
        # Rows of weight 0 do not count: neither in the spread nor in the range.
        counted = raw[w > 0] if counts else raw
        constant = np.ptp(counted, axis=0) == 0
        if scaling == "standard" and not counts:
            center, scale = raw.mean(axis=0), raw.std(axis=0)
        elif scaling == "standard":
            center = np.average(raw, axis=0, weights=w)
            scale = np.sqrt(np.average((raw - center) ** 2, axis=0, weights=w))
        elif scaling == "minmax":
            center, scale = counted.min(axis=0), np.ptp(counted, axis=0)
        else:
            center, scale = np.zeros(raw.shape[1]), np.ones(raw.shape[1])
        # Constant columns, and spreads that underflow to 0 (values near 1e-300), get scale 1.
        scale[constant | (scale == 0)] = 1.0
        X = np.ascontiguousarray((raw - center) / scale)
    return X, center, scale, constant


def count_distinct_rows(X: np.ndarray) -> int:
    """Number of distinct rows of `X`, to warn when there are more components than points.

    Parameters
    ----------
    X : ndarray of shape (n, d)

    Returns
    -------
    int
    """
    X = np.asarray(X, dtype=np.float64)
    if X.size == 0:
        return 0
    # + 0.0 turns -0.0 into 0.0: np.unique along an axis compares bytes, which tell them apart.
    return len(np.unique(X.reshape(len(X), -1) + 0.0, axis=0))


def safe_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV of `df` that spreadsheet programs cannot run as formulas.

    Text cells and column names starting with = + - @ tab or carriage return get a leading
    single quote, which spreadsheets show as text (CSV injection, e.g. ``=cmd|' /C calc'!A0``).
    Numbers, negative ones included, are left as they are.

    Parameters
    ----------
    df : DataFrame of shape (n_rows, n_columns)

    Returns
    -------
    bytes
        The CSV without the index.
    """
    out = df.copy()
    for name in out.columns[[not _is_numeric(dtype) for dtype in out.dtypes]]:
        out[name] = out[name].map(_defuse, na_action="ignore")
    out.columns = [_defuse(str(name)) for name in out.columns]
    # CRLF as RFC 4180 says; it also makes pandas quote cells holding a bare "\r", which
    # spreadsheets would otherwise take as a row break followed by a new, unescaped cell.
    return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _defuse(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value
