"""dashboard.animation: the frames of a recorded EM run, and the half-steps in textbook order."""

import itertools

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from gmm_core.dashboard.animation import (
    DisplayMap,
    animation_frames,
    half_step_frames,
    snapshot_frame,
)
from gmm_core.em import e_step
from gmm_core.model import GaussianMixtureEM


@pytest.fixture(scope="module")
def run():
    """(rows, snapshots) of a short EM run from a poor start, so every iteration moves."""
    X, _ = make_blobs(n_samples=300, centers=[[0, 0], [6, 0], [0, 6]], random_state=1)
    model = GaussianMixtureEM(3, init_params="random", max_iter=6, tol=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning):  # tol=0 runs every iteration, by design
        model.fit(X)
    return X, list(model.history_)


def responsibilities(X, snapshot):
    resp = np.exp(e_step(X, snapshot.params)[1])
    return resp.argmax(axis=1), resp.max(axis=1)


def test_half_steps_run_e_then_m_within_each_iteration(run):
    X, snapshots = run
    frames = half_step_frames(snapshots, X, DisplayMap("identity"))
    n_iter = len(snapshots) - 1
    assert [(f.iteration, f.phase) for f in frames] == [
        (j, phase) for j in range(1, n_iter + 1) for phase in ("E-step", "M-step")
    ]
    for j in range(1, n_iter + 1):
        e, m = frames[2 * j - 2], frames[2 * j - 1]
        labels, confidence = responsibilities(X, snapshots[j - 1])
        # E-step j: responsibilities under the parameters of j - 1, Gaussians unchanged.
        np.testing.assert_array_equal(e.labels, labels)
        np.testing.assert_allclose(e.confidence, confidence)
        np.testing.assert_allclose(e.means, snapshots[j - 1].means)
        np.testing.assert_allclose(e.weights, snapshots[j - 1].weights)
        assert e.log_likelihood == snapshots[j - 1].log_likelihood
        # M-step j: the new parameters, the E-step's colours.
        np.testing.assert_array_equal(m.labels, labels)
        np.testing.assert_allclose(m.means, snapshots[j].means)
        np.testing.assert_allclose(m.covariances, snapshots[j].params.full_covariances())
        assert m.log_likelihood == snapshots[j].log_likelihood


def test_half_steps_change_colours_or_gaussians_never_both(run):
    X, snapshots = run
    frames = half_step_frames(snapshots, X, DisplayMap("identity"))
    for before, after in itertools.pairwise(frames):
        same_gaussians = np.allclose(before.means, after.means) and np.allclose(
            before.covariances, after.covariances
        )
        same_colours = np.array_equal(before.labels, after.labels) and np.allclose(
            before.confidence, after.confidence
        )
        if after.phase == "M-step":
            assert same_colours and after.iteration == before.iteration
        else:  # E-step of the next iteration: recoloured under the Gaussians just fitted
            assert same_gaussians and after.iteration == before.iteration + 1


def test_half_steps_thin_whole_iterations_and_keep_the_ends(run):
    X, snapshots = run
    frames = half_step_frames(snapshots, X, DisplayMap("identity"), max_frames=6)
    assert len(frames) <= 6
    assert [f.phase for f in frames] == ["E-step", "M-step"] * (len(frames) // 2)
    assert frames[0].iteration == 1 and frames[-1].iteration == len(snapshots) - 1
    np.testing.assert_allclose(frames[-1].means, snapshots[-1].means)


def test_half_steps_of_a_start_alone(run):
    X, snapshots = run
    (frame,) = half_step_frames(snapshots[:1], X, DisplayMap("identity"))
    assert (frame.iteration, frame.phase) == (0, "")


def test_full_steps_colour_by_their_own_snapshot(run):
    X, snapshots = run
    frames = animation_frames(snapshots, X, DisplayMap("identity"))
    assert [f.iteration for f in frames] == list(range(len(snapshots)))
    for frame, snapshot in zip(frames, snapshots, strict=True):
        np.testing.assert_array_equal(frame.labels, responsibilities(X, snapshot)[0])
    relabelled = snapshot_frame(snapshots[2], X, DisplayMap("identity"), iteration=7)
    assert relabelled.iteration == 7
