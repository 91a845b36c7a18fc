"""Built-in data sets, all shipped with installed packages or this one: nothing is downloaded."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from palmerpenguins import load_penguins
from sklearn import datasets

from .data import DataError, ReadReport


@dataclass(frozen=True)
class SampleInfo:
    """A built-in data set.

    Attributes
    ----------
    description : str
        One or two sentences for the data page.
    label_column : str or None
        The column with the known classes, to compare clusters against.
    source : str
        Where the data come from.
    """

    description: str
    label_column: str | None
    source: str


SAMPLES: dict[str, SampleInfo] = {
    "iris": SampleInfo(
        "150 iris flowers of 3 species, 4 measurements in cm. Two species overlap, so a "
        "mixture rarely recovers them exactly.",
        "species",
        "Fisher (1936), via scikit-learn's load_iris",
    ),
    "wine": SampleInfo(
        "178 wines from 3 cultivars, 13 chemical measurements on very different scales: "
        "a case for standardising.",
        "cultivar",
        "UCI Wine data (Forina et al.), via scikit-learn's load_wine",
    ),
    "penguins": SampleInfo(
        "344 penguins of 3 species on islands of the Palmer Archipelago, 4 body measurements "
        "(bill length and depth, flipper length, body mass) fitted by default; island, sex and "
        "the year of observation are there too but not measurements. A few values are missing.",
        "species",
        "Gorman, Williams and Fraser (2014), via the palmerpenguins package",
    ),
    "faithful": SampleInfo(
        "272 eruptions of the Old Faithful geyser: eruption time and waiting time to the next "
        "eruption, in minutes. Two clear clusters.",
        None,
        "R's datasets::faithful (Härdle 1991; Azzalini and Bowman 1990)",
    ),
    "geyser_counts": SampleInfo(
        "Old Faithful's 272 eruptions as an aggregated table: eruption time rounded to 0.25 "
        "min, waiting time to 2 min, and how many eruptions had each pair (count). Choose "
        "count as the weight column to fit the 272 eruptions, not the 110 rows.",
        None,
        "R's datasets::faithful, rounded and counted here (gmm_core/datasets/faithful.csv)",
    ),
    "blobs": SampleInfo(
        "Synthetic 2-D Gaussian blobs with a chosen number of points, centres, spread and seed, "
        "and the true component of each point.",
        "true_component",
        "scikit-learn's make_blobs",
    ),
}


def load_sample(
    name: str,
    *,
    n_samples: int = 600,
    n_components: int = 4,
    spread: float = 1.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, ReadReport]:
    """Load a built-in data set.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`.
    n_samples, n_components, spread, seed
        For "blobs" only: number of points (10 to 1,000,000), of centres (1 to 20), the
        standard deviation of each blob (> 0) and the random seed. Ignored otherwise.

    Returns
    -------
    df : DataFrame of shape (n_rows, n_columns)
        Numeric feature columns, plus the label column of :data:`SAMPLES` if it has one.
    report : ReadReport
        With ``file_format="sample"``; missing values are kept and counted.

    Raises
    ------
    DataError
        For an unknown name or invalid blob parameters.
    """
    if name not in SAMPLES:
        raise DataError(f"There is no sample called '{name}'. Choose one of: {', '.join(SAMPLES)}.")
    if name == "blobs":
        df = _blobs(n_samples, n_components, spread, seed)
        notes = [
            f"{n_samples:,} points around {n_components} centres, spread {spread:g}, seed {seed}."
        ]
    else:
        df, notes = _LOADERS[name](), []
    return df, ReadReport.from_frame(df, source=name, file_format="sample", notes=notes)


def _sklearn(loader: Callable[..., object], label: str) -> pd.DataFrame:
    bunch = loader(as_frame=True)
    return bunch.data.assign(**{label: np.asarray(bunch.target_names)[bunch.target]})


def _blobs(n_samples: int, n_components: int, spread: float, seed: int) -> pd.DataFrame:
    # bool is an Integral: reject it, True points would be a surprise.
    def whole(value: object) -> bool:
        return isinstance(value, Integral) and not isinstance(value, bool)

    if not (whole(n_samples) and 10 <= n_samples <= 1_000_000):
        raise DataError(
            f"The number of points must be a whole number from 10 to 1,000,000, not {n_samples!r}. "
            "Choose a number in that range."
        )
    if not (whole(n_components) and 1 <= n_components <= 20):
        raise DataError(
            f"The number of centres must be a whole number from 1 to 20, not {n_components!r}. "
            "Choose a number in that range."
        )
    if not (isinstance(spread, Real) and math.isfinite(spread) and spread > 0):
        raise DataError(f"The spread must be a positive number, not {spread!r}. Choose e.g. 1.0.")
    if not (whole(seed) and 0 <= seed < 2**32):
        raise DataError(
            f"The seed must be a whole number from 0 to 4,294,967,295, not {seed!r}. Choose e.g. 0."
        )
    X, component = datasets.make_blobs(
        n_samples=n_samples,
        n_features=2,
        centers=n_components,
        cluster_std=spread,
        random_state=seed,
    )
    # Text labels, so that the label is never offered as a feature to cluster on.
    return pd.DataFrame({"x": X[:, 0], "y": X[:, 1], "true_component": component.astype(str)})


def _faithful() -> pd.DataFrame:
    return pd.read_csv(Path(__file__).parents[1] / "datasets" / "faithful.csv")


def _geyser_counts() -> pd.DataFrame:
    """Old Faithful aggregated: rounded (eruptions, waiting) pairs and how many had each.

    Eruptions to the nearest 0.25 min, waiting to the nearest 2 min: 110 distinct pairs
    standing for the 272 eruptions, counts from 1 to 11.
    """
    raw = _faithful()
    rounded = pd.DataFrame(
        {
            "eruptions": (np.round(raw["eruptions"] * 4) / 4).round(2),
            "waiting": (np.round(raw["waiting"] / 2) * 2).astype(np.int64),
        }
    )
    counts = rounded.value_counts(sort=False).rename("count").reset_index()
    return counts.sort_values(["eruptions", "waiting"], ignore_index=True)


_LOADERS: dict[str, Callable[[], pd.DataFrame]] = {
    "iris": lambda: _sklearn(datasets.load_iris, "species"),
    "wine": lambda: _sklearn(datasets.load_wine, "cultivar"),
    # The package reads the CSV it ships; its "NA" cells become NaN and are kept.
    "penguins": load_penguins,
    "faithful": _faithful,
    "geyser_counts": _geyser_counts,
}
