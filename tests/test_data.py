"""dashboard data and samples: reading, samples, prepare, and safe export."""

from __future__ import annotations

import csv
import io
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gmm_core.dashboard.data import (
    DataError,
    ReadReport,
    count_distinct_rows,
    default_columns,
    numeric_columns,
    prepare,
    read_table,
    safe_csv_bytes,
    weight_candidates,
)
from gmm_core.dashboard.samples import SAMPLES, load_sample


def read(
    text: str, name: str = "t.csv", encoding: str = "utf-8"
) -> tuple[pd.DataFrame, ReadReport]:
    return read_table(text.encode(encoding), name)


# --- reading text ----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(delimiter):
    text = "\n".join(
        delimiter.join(row)
        for row in [["x", "y", "label"], ["1.5", "2", "a"], ["3.5", "4", "b"], ["5.5", "6", "c"]]
    )
    df, report = read(text + "\n")
    assert report.delimiter == delimiter
    assert list(df.columns) == ["x", "y", "label"]
    assert df["x"].tolist() == [1.5, 3.5, 5.5]
    assert report.numeric_columns == ("x", "y") and report.other_columns == ("label",)


def test_text_with_commas_inside_tab_separated_fields():
    df, report = read("name\tvalue\nSmith, J\t1.5\nDoe, A\t2.5\nRoe, B\t3\n")
    assert report.delimiter == "\t"
    assert df["name"].tolist() == ["Smith, J", "Doe, A", "Roe, B"]


def test_decimal_comma_with_semicolons():
    df, report = read("a;b\n1,5;-2,25\n3,0;4\n1e3;,5\n")
    assert df["a"].tolist() == [1.5, 3.0, 1000.0]
    assert df["b"].tolist() == [-2.25, 4.0, 0.5]
    assert "Detected ';' as the delimiter and ',' as the decimal mark." in report.notes


def test_decimal_comma_without_header_prefers_semicolon_split():
    df, report = read("1,5;2,5\n3,5;4,5\n5,5;6,5\n")
    assert report.delimiter == ";"
    assert df.to_numpy().tolist() == [[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]]


def test_quoted_decimal_commas_in_a_comma_separated_file():
    df, _ = read('a,b\n"1,5","2,5"\n"3,5","4,5"\n')
    assert df.to_numpy().tolist() == [[1.5, 2.5], [3.5, 4.5]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('price,n\n"1,234.5",1\n"12,000",2\n7.25,3\n', [1234.5, 12000.0, 7.25]),
        ("price;n\n1.234,5;1\n12.000;2\n7,25;3\n", [1234.5, 12000.0, 7.25]),
        ("price;n\n1 234,5;1\n12\u00a0000;2\n7,25;3\n", [1234.5, 12000.0, 7.25]),
        ("price,n\n1'234.5,1\n12'000,2\n7.25,3\n", [1234.5, 12000.0, 7.25]),
    ],
)
def test_thousands_separators(text, expected):
    df, report = read(text)
    assert df["price"].tolist() == expected
    assert "Column 'price' had thousands separators; read as numbers." in report.notes


def test_utf8():
    df, report = read("température,n\n1,2\n3,4\n")
    assert list(df.columns) == ["température", "n"]
    assert report.encoding == "utf-8" and report.notes == ()


def test_utf8_bom_is_stripped():
    df, report = read("\ufeffx,y\n1,2\n3,4\n")
    assert list(df.columns) == ["x", "y"]
    assert report.encoding == "utf-8-sig"


def test_latin1_is_decoded_with_a_note():
    df, report = read("café,n\n1,2\n3,4\n", encoding="latin-1")
    assert list(df.columns) == ["café", "n"]
    assert report.encoding == "cp1252"
    assert any("not valid UTF-8" in note for note in report.notes)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_with_bom(encoding):
    df, report = read("x,é\n1,2\n3,4\n", encoding=encoding)
    assert list(df.columns) == ["x", "é"] and df["x"].tolist() == [1, 3]
    assert report.encoding == encoding


def test_header_detected():
    df, _ = read("x,y\n1,2\n3,4\n")
    assert list(df.columns) == ["x", "y"] and len(df) == 2


def test_no_header_names_columns():
    df, report = read("1,2,3\n4,5,6\n")
    assert list(df.columns) == ["column_1", "column_2", "column_3"]
    assert df.to_numpy().tolist() == [[1, 2, 3], [4, 5, 6]]
    assert any("first row holds numbers" in note for note in report.notes)


def test_no_header_with_a_text_column():
    df, _ = read("5.1,3.5,setosa\n4.9,3.0,setosa\n6.3,3.3,virginica\n")
    assert list(df.columns) == ["column_1", "column_2", "column_3"]
    assert df["column_3"].tolist() == ["setosa", "setosa", "virginica"]


def test_units_row_is_skipped():
    df, report = read("height,weight,name\ncm,kg,\n170,60.5,A\n180,72,B\n")
    assert df["height"].tolist() == [170, 180] and df["weight"].tolist() == [60.5, 72.0]
    assert "Skipped a units row under the header ('cm', 'kg')." in report.notes


def test_missing_markers_in_the_first_data_row_are_not_units():
    df, report = read("a,b\nNA,NA\n1,2\n3,4\n")
    assert len(df) == 3 and df["a"].isna().tolist() == [True, False, False]
    assert not any("units" in note for note in report.notes)


def test_duplicate_blank_and_padded_names():
    df, report = read(" a ,a,, b\n1,2,3,4\n5,6,7,8\n")
    assert list(df.columns) == ["a", "a_2", "column_3", "b"]
    assert "Renamed duplicate column 'a' to 'a_2'." in report.notes
    assert "Named 1 column without a name: column_3." in report.notes


def test_duplicate_suffix_does_not_collide():
    df, _ = read("a,a,a_2\n1,2,3\n4,5,6\n")
    assert list(df.columns) == ["a", "a_3", "a_2"]


def test_numbers_stored_as_text_are_converted_and_counted():
    df, report = read("v\n1\n2\nn/a\n3\n?\n4\n5\n6\n7\n8\n")
    assert df["v"].dtype == np.float64
    assert report.missing_per_column == {"v": 2}
    assert "Column 'v' has 2 cells not readable as a number ('n/a', '?'); treated as missing." in (
        report.notes
    )


def test_mostly_text_column_stays_text():
    df, report = read("n,code\n1,A1\n2,B2\n3,7\n4,C4\n")
    assert df["code"].tolist() == ["A1", "B2", "7", "C4"]
    assert report.numeric_columns == ("n",)


def test_infinite_and_overflowing_values_become_missing():
    df, report = read("a,b\n1,inf\n2,1e308\n3,-Infinity\n4,5\n5,-5e299\n")
    assert df["b"].isna().tolist() == [True, True, True, False, False]
    assert "Column 'b' has 2 infinite values; read as missing." in report.notes
    assert any("1 value beyond ±1e300" in note for note in report.notes)


def test_ragged_and_quoted_lines():
    df, report = read('a,b\n"x, y",1\n"say ""hi""",2\n3,4,5\n"multi\nline",6\n')
    assert df["a"].tolist() == ["x, y", 'say "hi"', "multi\nline"]
    assert df["b"].tolist() == [1, 2, 6]
    assert any("Skipped 1 line with more fields" in note for note in report.notes)


def test_report_is_hashable_and_picklable():
    _, report = read("x,y\n1,2\n3,4\n")
    assert pickle.loads(pickle.dumps(report)) == report
    assert hash(report) == hash(pickle.loads(pickle.dumps(report)))
    assert report.file_format == "csv" and report.source == "t.csv"


def test_folders_in_the_name_are_not_kept():
    _, report = read_table(b"x,y\n1,2\n3,4\n", "../../etc/passwd.csv")
    assert report.source == "passwd.csv"


# --- binary formats ------------------------------------------------------------------------------


def test_parquet_round_trip():
    original = pd.DataFrame(
        {
            "x": [1.5, 2.5, np.nan, 4.5],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "flag": [True, False, True, False],
            "name": ["a", "b", None, "d"],
        }
    )
    buffer = io.BytesIO()
    original.to_parquet(buffer)
    df, report = read_table(buffer.getvalue(), "data.parquet")
    assert report.file_format == "parquet"
    assert report.numeric_columns == ("x", "n") and report.other_columns == ("flag", "name")
    assert df["n"].dtype == np.float64 and df["n"].isna().tolist() == [False, True, False, False]
    assert df["x"].tolist()[:2] == [1.5, 2.5]
    assert report.missing_per_column == {"x": 1, "n": 1, "flag": 0, "name": 1}


def test_parquet_index_becomes_a_column():
    buffer = io.BytesIO()
    pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index([10, 20], name="id")).to_parquet(buffer)
    df, report = read_table(buffer.getvalue(), "data.parquet")
    assert df.to_dict("list") == {"id": [10, 20], "v": [1.0, 2.0]}
    assert "Turned the table's stored index into ordinary columns." in report.notes


def test_xlsx_round_trip_reads_the_first_sheet():
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        pd.DataFrame({"x": [0.1, 2.5, -3.0], "kind": ["a", "b", "c"]}).to_excel(
            writer, sheet_name="Data", index=False
        )
        pd.DataFrame({"z": [1]}).to_excel(writer, sheet_name="Other", index=False)
    df, report = read_table(buffer.getvalue(), "book.xlsx")
    assert report.file_format == "excel"
    assert df.to_dict("list") == {"x": [0.1, 2.5, -3.0], "kind": ["a", "b", "c"]}
    assert report.notes == (
        "The workbook has 2 sheets; read the first one, 'Data'. "
        "Move the data to the first sheet to use another one.",
    )


def test_xlsx_with_units_row_and_blank_cells():
    buffer = io.BytesIO()
    sheet = pd.DataFrame([["h", "w"], ["cm", "kg"], [170, 60], [180, None], [175, 70]])
    sheet.to_excel(buffer, index=False, header=False)
    df, report = read_table(buffer.getvalue(), "book.xlsx")
    assert df["h"].tolist() == [170, 180, 175]
    assert report.missing_per_column == {"h": 0, "w": 1}
    assert any("units row" in note for note in report.notes)


# --- samples -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "n_numeric"),
    [
        ("iris", (150, 5), 4),
        ("wine", (178, 14), 13),
        ("penguins", (344, 8), 5),
        ("faithful", (272, 2), 2),
        ("geyser_counts", (110, 3), 3),
        ("blobs", (600, 3), 2),
    ],
)
def test_samples(name, shape, n_numeric):
    df, report = load_sample(name)
    assert df.shape == shape == (report.n_rows, report.n_columns)
    assert len(report.numeric_columns) == n_numeric
    assert report.file_format == "sample" and report.source == name
    label = SAMPLES[name].label_column
    if label is not None:
        assert label in report.other_columns


def test_sample_labels():
    assert sorted(load_sample("iris")[0]["species"].unique()) == [
        "setosa",
        "versicolor",
        "virginica",
    ]
    assert load_sample("wine")[0]["cultivar"].nunique() == 3


def test_penguins_keep_and_count_missing_values():
    df, report = load_sample("penguins")
    assert report.missing_per_column["bill_length_mm"] == 2
    assert sum(report.missing_per_column.values()) == int(df.isna().sum().sum()) > 0


def test_blobs_parameters_and_seed():
    df, _ = load_sample("blobs", n_samples=50, n_components=3, spread=0.5, seed=7)
    assert df.shape == (50, 3) and set(df["true_component"]) == {"0", "1", "2"}
    again, _ = load_sample("blobs", n_samples=50, n_components=3, spread=0.5, seed=7)
    other, _ = load_sample("blobs", n_samples=50, n_components=3, spread=0.5, seed=8)
    pd.testing.assert_frame_equal(df, again)
    assert not df.equals(other)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 9},
        {"n_samples": 1_000_001},
        {"n_samples": 10.5},
        {"n_components": 0},
        {"n_components": 21},
        {"spread": 0},
        {"spread": float("nan")},
        {"seed": -1},
    ],
)
def test_blobs_reject_bad_parameters(kwargs):
    with pytest.raises(DataError, match="must be"):
        load_sample("blobs", **kwargs)


def test_unknown_sample():
    with pytest.raises(
        DataError, match="Choose one of: iris, wine, penguins, faithful, geyser_counts, blobs"
    ):
        load_sample("mnist")


# --- default columns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("iris", 4),
        ("wine", 13),  # magnesium and proline are whole numbers with many values: kept
        ("penguins", ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")),
        ("faithful", ("eruptions", "waiting")),  # waiting: ~50 whole minutes, a measurement
        ("geyser_counts", ("eruptions", "waiting")),  # count: suggested as the weight
        ("blobs", ("x", "y")),
    ],
)
def test_default_columns_of_the_samples(name, expected):
    df, report = load_sample(name)
    label = SAMPLES[name].label_column
    columns, notes = default_columns(df, report, label)
    if isinstance(expected, int):
        assert columns == tuple(c for c in report.numeric_columns if c != label)
        assert len(columns) == expected
    else:
        assert columns == expected
    assert label not in columns
    if name == "penguins":
        year = next(n for n in notes if "`year`" in n)
        assert "year" in year.split("`year`", 1)[1] and "3 distinct whole numbers" in year
        assert "Columns EM uses" in year
        # The text columns are named, not dropped in silence.
        assert any("`island` and `sex`" in n and "text" in n for n in notes)
        assert "4 body measurements" in SAMPLES[name].description


def test_default_columns_penguins_uploaded_as_csv():
    df, _ = load_sample("penguins")
    data = df.to_csv(index=False, na_rep="NA").encode()
    table, report = read_table(data, "penguins.csv")
    columns, notes = default_columns(table, report, None)
    assert columns == ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
    assert any("`species`, `island` and `sex`" in n for n in notes)


def test_default_columns_leave_out_identifiers_years_dates_and_codes():
    rng = np.random.default_rng(0)
    n = 200
    table = pd.DataFrame(
        {
            "column_1": np.arange(1, n + 1),  # R's row names, written without a header
            "customer_id": rng.permutation(np.arange(5000, 5000 + 3 * n))[:n],
            "shuffled": rng.permutation(n),
            "height": rng.normal(170, 10, n),
            "weight_kg": rng.integers(40, 120, n),  # whole numbers, many values: a measurement
            "visits": rng.integers(0, 60, n),
            "cylinders": rng.choice([4, 6, 8], n),  # few whole numbers: a code
            "rooms_count": rng.choice([1, 2, 3], n),  # few, but "count" says measured
            "survey_year": rng.choice([2019, 2020, 2021, 2022], n),
            "recorded": rng.choice([20210105, 20220317, 20231231], n),
            "zip": rng.integers(10000, 99999, n),
            "flag": rng.integers(0, 2, n).astype(float),
            "constant": np.full(n, 3.0),
            "group": rng.choice([1, 2], n),  # the label: never preselected
            "city": rng.choice(["Oslo", "Rome"], n),
            "member": rng.choice([True, False], n),
        }
    )
    report = ReadReport.from_frame(table, source="t", file_format="sample")
    columns, notes = default_columns(table, report, "group")
    assert columns == ("height", "weight_kg", "visits", "rooms_count")
    said = {c: next(n for n in notes if f"`{c}`" in n) for c in ("column_1", "customer_id")}
    assert "identifier" in said["column_1"] and "in increasing order" in said["column_1"]
    assert "identifier" in said["customer_id"]
    for column, kind in [
        ("shuffled", "identifier"),
        ("cylinders", "code or category: 3 distinct whole numbers (4, 6, 8)"),
        ("survey_year", "year: 4 distinct whole numbers, 2019 to 2022"),
        ("recorded", "date"),
        ("zip", "code"),
        ("flag", "code"),
        ("constant", "constant (3 in every row)"),
        ("group", "label column"),
    ]:
        note = next(n for n in notes if n.count(f"`{column}`"))
        assert kind in note, (column, note)
    assert any("`city` and `member`" in n and "text or true/false values" in n for n in notes)


def test_default_columns_keep_something_when_every_column_looks_like_a_code():
    table = pd.DataFrame({"a": [1, 2, 1, 2] * 5, "b": [3, 4, 5, 3] * 5})
    report = ReadReport.from_frame(table, source="t", file_format="sample")
    columns, notes = default_columns(table, report, None)
    assert columns == ("a", "b")
    assert "preselected anyway" in notes[0]


def test_default_columns_do_not_count_values_of_a_handful_of_rows():
    # Three rows of whole numbers say nothing about codes or row numbers.
    table, report = read("x,y\n1,2\n3,4\n5,6\n")
    assert default_columns(table, report, None) == (("x", "y"), ())


# --- prepare -------------------------------------------------------------------------------------


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, np.nan, 4.0, 5.0],
            "b": [10.0, 20.0, 30.0, np.nan, 50.0],
            "c": [7.0, 7.0, 7.0, 7.0, 7.0],
            "label": ["p", "q", "p", None, "q"],
            "flag": [True, False, True, False, True],
        }
    )


def test_prepare_drop(table):
    prepared = prepare(table, ["a", "b"], label_column="label", scaling="none")
    assert prepared.row_index.tolist() == [0, 1, 4]
    np.testing.assert_array_equal(prepared.X, [[1, 10], [2, 20], [5, 50]])
    assert prepared.labels.tolist() == ["p", "q", "q"]
    assert prepared.columns == ("a", "b")
    assert prepared.notes == ("Dropped 2 rows with missing values in the chosen columns.",)


@pytest.mark.parametrize(
    ("missing", "fill_a", "fill_b"), [("mean", 3.0, 27.5), ("median", 3.0, 25.0)]
)
def test_prepare_impute(table, missing, fill_a, fill_b):
    prepared = prepare(table, ["a", "b"], missing=missing, scaling="none", label_column="label")
    assert prepared.row_index.tolist() == [0, 1, 2, 3, 4]
    assert prepared.X[2, 0] == fill_a and prepared.X[3, 1] == fill_b
    assert prepared.labels.tolist() == ["p", "q", "p", "(missing)", "q"]
    assert prepared.notes == (f"Imputed 2 missing values with the column {missing}.",)


def test_prepare_standard_scaling():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 6.0], "b": [-4, 0, 4, 8]})
    prepared = prepare(df, ["a", "b"])
    raw = df.to_numpy(dtype=float)
    np.testing.assert_allclose(prepared.center, raw.mean(axis=0))
    np.testing.assert_allclose(prepared.scale, raw.std(axis=0))
    np.testing.assert_allclose(prepared.X.mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(prepared.X.std(axis=0), 1)
    np.testing.assert_allclose(prepared.X * prepared.scale + prepared.center, raw)


def test_prepare_minmax_scaling():
    df = pd.DataFrame({"a": [2.0, 4.0, 3.0], "b": [-1.0, 1.0, 0.0]})
    prepared = prepare(df, ["a", "b"], scaling="minmax")
    np.testing.assert_array_equal(prepared.X, [[0, 0], [1, 1], [0.5, 0.5]])
    np.testing.assert_array_equal(prepared.center, [2, -1])
    np.testing.assert_array_equal(prepared.scale, [2, 2])


def test_prepare_constant_column(table):
    prepared = prepare(table, ["a", "c"], missing="median")
    assert prepared.scale[1] == 1.0
    np.testing.assert_array_equal(prepared.X[:, 1], 0)
    assert any("'c' is constant" in note and "dropping" in note for note in prepared.notes)


def test_prepare_output_layout(table):
    prepared = prepare(table, ["b", "a"])
    assert prepared.X.dtype == np.float64 and prepared.X.flags.c_contiguous
    assert prepared.X.shape == (3, 2) and prepared.center.shape == prepared.scale.shape == (2,)
    assert prepared.labels is None


def test_prepare_treats_inf_as_missing():
    df = pd.DataFrame({"a": [1.0, np.inf, 3.0, 4.0]})
    prepared = prepare(df, ["a"])
    assert prepared.row_index.tolist() == [0, 2, 3]
    assert prepared.notes[0] == "Treated 1 infinite value as missing."


@pytest.mark.parametrize(
    ("columns", "kwargs", "message"),
    [
        ([], {}, "No columns are chosen"),
        (["zzz"], {}, "There is no column 'zzz'"),
        (["a", "a"], {}, "chosen twice"),
        (["a", "label"], {"label_column": "label"}, "both as a feature and as the label"),
        (["label"], {}, "Column 'label' is not numeric"),
        (["flag"], {}, "Column 'flag' is not numeric"),
        (["a"], {"missing": "zero"}, "not an option"),
        (["a"], {"scaling": "log"}, "not an option"),
    ],
)
def test_prepare_rejects(table, columns, kwargs, message):
    with pytest.raises(DataError, match=message):
        prepare(table, columns, **kwargs)


def test_prepare_all_missing_column_with_imputation():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "gone": [np.nan] * 3})
    with pytest.raises(DataError, match="Column 'gone' has no values"):
        prepare(df, ["a", "gone"], missing="mean")


def test_prepare_too_few_rows_left():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [np.nan, 2.0, np.nan]})
    with pytest.raises(DataError, match="leaves 0 rows; at least 2 are needed"):
        prepare(df, ["a", "b"])
    with pytest.raises(DataError, match="The table has 1 row;"):
        prepare(df.head(1), ["a"])


def test_prepare_values_too_large_to_scale():
    df = pd.DataFrame({"a": [1e200, -1e200, 0.0]})
    with pytest.raises(DataError, match="too large to scale"):
        prepare(df, ["a"])


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=12),
        elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)),
    ),
    st.sampled_from(["drop", "mean", "median"]),
    st.sampled_from(["none", "standard", "minmax"]),
)
def test_prepare_output_is_finite_and_inverts(raw, missing, scaling):
    df = pd.DataFrame(raw, columns=[f"c{j}" for j in range(raw.shape[1])])
    try:
        prepared = prepare(df, list(df.columns), missing=missing, scaling=scaling)
    except DataError:
        assert missing == "drop" or np.isnan(raw).all(axis=0).any()
        return
    assert np.isfinite(prepared.X).all() and (prepared.scale > 0).all()
    kept = raw[prepared.row_index]
    observed = ~np.isnan(kept)
    restored = prepared.X * prepared.scale + prepared.center
    np.testing.assert_allclose(restored[observed], kept[observed], rtol=1e-9, atol=1e-6)


# --- helpers -------------------------------------------------------------------------------------


def test_numeric_columns_exclude_booleans_and_text(table):
    assert numeric_columns(table) == ["a", "b", "c"]


def test_count_distinct_rows():
    X = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0], [-0.0, 1.0], [3.0, 3.0]])
    assert count_distinct_rows(X) == 3
    assert count_distinct_rows(np.empty((0, 2))) == 0


def test_safe_csv_bytes_neutralises_formulas():
    df = pd.DataFrame(
        {
            "=SUM(A1)": ["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", "-x", "\tTab", "plain"],
            "value": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0],
            "code": ["ok", None, "-", "a=b", "\rcr", " =spaced"],
        }
    )
    rows = list(csv.reader(io.StringIO(safe_csv_bytes(df).decode("utf-8"), newline="")))
    assert rows[0] == ["'=SUM(A1)", "value", "code"]
    assert [row[0] for row in rows[1:]] == [
        "'=cmd|' /C calc'!A0",
        "'+1+1",
        "'@SUM(A1)",
        "'-x",
        "'\tTab",
        "plain",
    ]
    assert [row[1] for row in rows[1:]] == ["-1.5", "2.0", "-3.0", "4.0", "5.0", "6.0"]
    assert [row[2] for row in rows[1:]] == ["ok", "", "'-", "a=b", "'\rcr", " =spaced"]
    assert df.iloc[0, 0] == "=cmd|' /C calc'!A0", "the input frame is left unchanged"


def test_one_column_with_decimal_commas_is_not_split():
    """European Excel saves a one-column table with no delimiter: '1,5' is 1.5, not 1 and 5."""
    table, report = read_table(b"value\n1,5\n2,25\n-3,75\n", "one.csv")
    assert list(table.columns) == ["value"]
    np.testing.assert_array_equal(table["value"], [1.5, 2.25, -3.75])
    assert report.delimiter is None
    assert any("',' as the decimal mark" in note for note in report.notes)
    # With a name for every field, the same rows are two integer columns.
    table, _ = read_table(b"a,b\n1,5\n2,25\n", "two.csv")
    assert table.to_dict("list") == {"a": [1, 2], "b": [5, 25]}


# --- weights and counts ---------------------------------------------------------------------


def test_geyser_counts_aggregate_old_faithful():
    counts, _ = load_sample("geyser_counts")
    raw, _ = load_sample("faithful")
    assert counts["count"].sum() == len(raw) == 272
    assert counts["count"].min() >= 1 and counts["count"].max() == 11
    assert not counts.duplicated(["eruptions", "waiting"]).any()
    # Every eruption is in exactly one cell of the rounded grid.
    assert np.allclose(counts["eruptions"] * 4, np.round(counts["eruptions"] * 4))
    assert (counts["waiting"] % 2 == 0).all()


def test_a_count_column_is_suggested_as_the_weight_never_fitted():
    df, report = load_sample("geyser_counts")
    columns, notes = default_columns(df, report)
    assert columns == ("eruptions", "waiting")
    note = next(n for n in notes if "`count`" in n)
    assert "110 rows stand for 272 observations" in note
    assert "Weight or count column" in note
    assert weight_candidates(df, report) == ("count",)


def test_a_column_named_weight_stays_a_feature_with_a_hint():
    # "weight" is often a measurement (a body weight): kept, and the weight role suggested.
    df = pd.DataFrame({"height": np.linspace(150, 190, 30), "weight": np.linspace(50, 95, 30)})
    report = ReadReport.from_frame(df, source="t", file_format="csv")
    columns, notes = default_columns(df, report)
    assert columns == ("height", "weight")
    assert any("`weight` says how much each row counts" in n for n in notes)
    assert weight_candidates(df, report) == ("weight",)
    # Negative values cannot be weights: not suggested.
    df["weight"] -= 70
    assert weight_candidates(df, ReadReport.from_frame(df, source="t", file_format="csv")) == ()


def _expanded(table: pd.DataFrame, weight: str = "count") -> pd.DataFrame:
    return table.loc[table.index.repeat(table[weight].astype(int))].drop(columns=weight)


@pytest.mark.parametrize("scaling", ["none", "standard", "minmax"])
def test_a_count_column_prepares_as_its_rows_repeated(scaling):
    counts, _ = load_sample("geyser_counts")
    counts.loc[[2, 7], "count"] = 0  # rows of weight 0 must not move the scaling either
    weighted = prepare(counts, ["eruptions", "waiting"], scaling=scaling, weight_column="count")
    repeated = prepare(_expanded(counts), ["eruptions", "waiting"], scaling=scaling)
    assert weighted.weights.tolist() == counts["count"].astype(float).tolist()
    assert weighted.weight_column == "count"
    np.testing.assert_allclose(weighted.center, repeated.center, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale, repeated.scale, rtol=1e-12)
    positive = weighted.weights > 0
    np.testing.assert_allclose(
        np.repeat(weighted.X[positive], weighted.weights[positive].astype(int), axis=0),
        repeated.X,
        rtol=1e-12,
        atol=1e-12,
    )
    assert weighted.notes[-1] == (
        "Weights from column 'count': 110 rows stand for 267 observations. 2 rows of weight 0 "
        "are kept and drawn but do not count in the fit."
    )


@pytest.mark.parametrize("missing", ["mean", "median"])
def test_imputed_values_are_those_of_the_observations(missing):
    counts = pd.DataFrame(
        {"a": [1.0, 2.0, np.nan, 10.0, 4.0], "b": [0.0, 1, 2, 3, 4], "count": [3, 1, 2, 0, 2]}
    )
    weighted = prepare(counts, ["a", "b"], missing=missing, scaling="none", weight_column="count")
    repeated = prepare(_expanded(counts), ["a", "b"], missing=missing, scaling="none")
    # The row of weight 0 (a = 10) does not move the fill; the fill is the repeated rows' one.
    fill = repeated.X[3 + 1, 0]  # the first repeat of the row whose 'a' is missing
    # Observations of 'a': 1, 1, 1, 2, 4, 4 (the 10 has weight 0): mean 13/6, median 1.5.
    expected = 13 / 6 if missing == "mean" else 1.5
    assert weighted.X[2, 0] == pytest.approx(fill) == pytest.approx(expected)
    assert any("(of the observations, weighted)" in note for note in weighted.notes)


def test_rows_without_a_weight_are_dropped_even_when_imputing():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan], "count": [1.0, np.nan, 2.0, 4.0]})
    prepared = prepare(df, ["a"], missing="mean", weight_column="count")
    assert prepared.row_index.tolist() == [0, 2, 3]
    assert prepared.weights.tolist() == [1.0, 2.0, 4.0]
    assert prepared.notes[0] == (
        "Dropped 1 row without a value in the weight column 'count' (a missing count is "
        "never filled in)."
    )


def test_fractional_weights_are_a_total_weight_not_observations():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "w": [0.5, 1.25, 1.0]})
    prepared = prepare(df, ["a"], weight_column="w")
    assert prepared.notes == ("Weights from column 'w': 3 rows have a total weight of 2.75.",)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (
            [1.0, -2.0, 3.0, 1.0],
            r"Column 'count' has 1 negative weight \(the first in data row 2: -2\)",
        ),
        ([1.0, np.inf, 3.0, 1.0], r"1 infinite weight \(the first in data row 2: inf\)"),
        ([0.0, 0.0, 0.0, 0.0], "Every row that remains has weight 0 in 'count'"),
        ([np.nan, np.nan, np.nan, 5.0], "Rows with a weight in 'count': 1; at least 2"),
    ],
)
def test_unusable_weights_are_refused_saying_how_to_fix_them(weights, message):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "count": weights})
    with pytest.raises(DataError, match=message) as err:
        prepare(df, ["a"], weight_column="count")
    assert "choose another weight column" in str(err.value).lower() or "Choose another" in str(
        err.value
    )


def test_weights_zero_except_on_rows_dropped_for_missing_values_are_refused():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0], "count": [0, 5, 0]})
    with pytest.raises(DataError, match="Every row that remains has weight 0"):
        prepare(df, ["a"], weight_column="count")


def test_a_text_weight_column_is_refused():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "count": ["one", "two", "three"]})
    with pytest.raises(DataError, match="'count' holds text, not numbers, so it cannot weight"):
        prepare(df, ["a"], weight_column="count")


def test_text_counts_in_an_upload_become_numbers_or_missing_weights():
    data = b"a,count\n1,2\n2,n/a\n3,1\n4,3\n"
    df, _ = read_table(data, "counts.csv")
    prepared = prepare(df, ["a"], weight_column="count")
    assert prepared.row_index.tolist() == [0, 2, 3]
    assert prepared.weights.tolist() == [2.0, 1.0, 3.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight_column": "a"}, "'a' is chosen both as a feature and as the weight"),
        ({"weight_column": "c", "label_column": "c"}, "both as the label and as the weight"),
        ({"weight_column": "gone"}, "There is no column 'gone'"),
    ],
)
def test_the_weight_has_a_role_of_its_own(kwargs, message):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0], "c": [1, 2, 3]})
    with pytest.raises(DataError, match=message):
        prepare(df, ["a", "b"], **kwargs)


def test_without_a_weight_column_nothing_changes():
    df = pd.DataFrame({"a": [1.0, 2.0, 4.0], "count": [1, 2, 3]})
    prepared = prepare(df, ["a"])
    assert prepared.weights is None and prepared.weight_column is None
    assert prepared.notes == ()
