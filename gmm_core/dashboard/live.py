"""When a fit is cheap enough to run on every change of a setting ("live"), and a fit cache.

Nothing here knows about Streamlit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

#: A fit expected to take at most this many seconds runs as soon as a setting changes; a
#: longer one waits for one press of **Fit**.
LIVE_SECONDS = 2.0

# Throughput of the compiled E+M pass in "component-row-feature-squared" units per second,
# measured on the 2-core CI machine (bench/em_speed.py: cases A to D give 6.5e9 to 2e10);
# the lower end, so that the estimate errs towards asking.
_UNITS_PER_SECOND = 5e9
# Building the frames and the figure: about 0.5 s at 3,000 drawn points and 100 frames.
_FIGURE_SECONDS = 0.5


def estimated_seconds(
    n_samples: int, n_features: int, n_components: int, max_iter: int, n_init: int
) -> float:
    """A deliberately pessimistic estimate of a fit's wall time, figures included.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of the matrix EM fits.
    n_components, max_iter, n_init : int
        The EM settings (K, iterations per run, restarts).

    Returns
    -------
    float
        Seconds.
    """
    per_pass = n_samples * n_components * (n_features + n_features**2)
    return (max_iter + 1) * n_init * per_pass / _UNITS_PER_SECOND + _FIGURE_SECONDS


def is_live(seconds: float) -> bool:
    """Whether a fit estimated at ``seconds`` runs without asking."""
    return seconds <= LIVE_SECONDS


class FitCache:
    """The last few fits of one session, by what they were fitted on and with which settings.

    Going back to a setting tried a moment ago shows its fit again at once. Failed fits are
    kept too (as their message), so a setting that fails is not refitted on every rerun.
    """

    def __init__(self, max_entries: int = 3):
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self.max_entries = max_entries

    def get(self, key: Hashable) -> Any:
        """The stored fit (or failure message) for ``key``, or None."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value``; the least recently used entry goes beyond ``max_entries``."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def describe_settings(settings: Any) -> str:
    """What was fitted, in one line: "K = 3, full covariance, k-means++ start, …".

    Parameters
    ----------
    settings : FitSettings
    """
    s = settings
    parts = [
        f"K = {s.n_components}",
        f"{s.covariance_type} covariance",
        f"{s.init_params} start (seed {s.random_state})",
        f"at most {s.max_iter} iterations",
        "tolerance 0 (every iteration runs)" if s.tol == 0 else f"tolerance {s.tol:g}",
        s.regularisation,
    ]
    if s.n_init > 1:
        parts.append(f"best of {s.n_init} restarts")
    return "Fitted: " + ", ".join(parts)


def rows_line(view: Any, dataset: Any, preparation: Any) -> str:
    """ " on 144 of 150 rows (6 dropped: missing values)", or " on all 150 rows".

    A weighted fit adds what the rows stand for: ", standing for 272 observations (weights
    from count)".

    Parameters
    ----------
    view : FitView
        What EM fits (a fit's ``result.view``, or the Model selection page's view).
    dataset : Dataset
        The loaded table the rows come from.
    preparation : Preparation
        Its preparation (how missing values were handled).
    """
    fitted, total = len(view.X), len(dataset.table)
    weighted = ""
    if view.sample_weight is not None:
        weighted = (
            f", standing for {view.n_observations:,.6g} observations (weights from "
            f"{view.weight_column})"
        )
    if fitted == total:
        return f", on all {total:,} rows{weighted}"
    dropped = total - fitted
    rows = "row" if dropped == 1 else "rows"
    how = f"{rows} with a missing value dropped" if preparation.missing == "drop" else "dropped"
    return f", on {fitted:,} of {total:,} rows ({dropped:,} {how}){weighted}"
