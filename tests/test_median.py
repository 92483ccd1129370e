"""The running median of HPSS equals scipy's median filter exactly (sonicdreams.audio._median)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import median_filter

from sonicdreams.audio._median import _median_rows_py, median_filter_rows


def scipy_rows(x: np.ndarray, k: int) -> np.ndarray:
    return median_filter(np.asarray(x, dtype=np.float32), size=(1, k), mode="reflect")


def numpy_rows(x: np.ndarray, k: int) -> np.ndarray:
    """The definition: rows padded ``d c b a | a b c d | d c b a`` (numpy's "symmetric", repeated
    for long pads, = scipy's "reflect"), then the median of each window."""
    x = np.asarray(x, dtype=np.float32)
    padded = np.pad(x, ((0, 0), (k // 2, k // 2)), mode="symmetric")
    return np.median(sliding_window_view(padded, k, axis=1), axis=-1).astype(np.float32)


def reference(x: np.ndarray, k: int) -> np.ndarray:
    # scipy 1.17 reads garbage past its line buffer when the pad is several times longer than
    # the row (e.g. 2 values, window >= 17; see scipy gh-23075/gh-23293); there the definition
    # is checked with numpy instead. Up to a pad of one row length both agree.
    return scipy_rows(x, k) if k // 2 <= x.shape[1] else numpy_rows(x, k)


values = st.one_of(
    # few distinct values: many ties, the hard case for the sorted window
    st.sampled_from([0.0, 1.0, -1.0, 2.5, 0.5]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32),
)


@settings(max_examples=300, deadline=None)
@given(
    x=arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 80)), elements=values),
    k=st.sampled_from([1, 3, 5, 7, 9, 15, 17, 31, 33, 63, 101]),
)
def test_equals_scipy_reflect(x, k):
    got = median_filter_rows(x, k)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_array_equal(got, reference(x, k))
    np.testing.assert_array_equal(got, numpy_rows(x, k))


@settings(max_examples=100, deadline=None)
@given(
    x=arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 40)), elements=values),
    k=st.sampled_from([3, 5, 31, 45]),
)
def test_pure_python_path_equals_scipy(x, k):
    """The same algorithm without numba (what runs where numba is missing)."""
    np.testing.assert_array_equal(_median_rows_py(x, k, np.empty_like(x)), reference(x, k))


@pytest.mark.parametrize("n", [15, 16, 17, 20, 29, 30, 31, 32])
def test_rows_shorter_than_kernel_equal_scipy(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n)).astype(np.float32)
    np.testing.assert_array_equal(median_filter_rows(x, 31), scipy_rows(x, 31))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 14])
def test_rows_much_shorter_than_kernel(n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 4, (3, n)).astype(np.float32)
    np.testing.assert_array_equal(median_filter_rows(x, 31), numpy_rows(x, 31))


def test_two_values_long_window():
    # period 4 of (5 3 | 5 3 ...) reflected: 5 3 3 5; a 17-window centred on 5 holds nine 5s
    np.testing.assert_array_equal(median_filter_rows(np.array([[5, 3]], np.float32), 17),
                                  [[5, 3]])
    np.testing.assert_array_equal(median_filter_rows(np.array([[7.0]], np.float32), 31), [[7]])


def test_known_values():
    x = np.array([[5, 1, 4, 2, 3, 9, 0]], dtype=np.float32)
    # reflect: (1 5 | 5 1 4 2 3 9 0 | 0 9)
    np.testing.assert_array_equal(median_filter_rows(x, 3), [[5, 4, 2, 3, 3, 3, 0]])
    np.testing.assert_array_equal(median_filter_rows(x, 5), [[4, 4, 3, 3, 3, 2, 3]])
    # a single spike is removed, a step edge kept
    spike = np.zeros((1, 9), np.float32)
    spike[0, 4] = 100
    np.testing.assert_array_equal(median_filter_rows(spike, 3), np.zeros((1, 9)))
    step = np.repeat([[0.0, 1.0]], 5, axis=1).astype(np.float32).reshape(1, -1)
    step = np.sort(step, axis=1)
    np.testing.assert_array_equal(median_filter_rows(step, 5), step)


def test_spectrogram_sized_input_both_axes():
    """As HPSS uses it: across time (rows) and across frequency (transposed)."""
    rng = np.random.default_rng(0)
    spec = np.abs(rng.standard_normal((1025, 200))).astype(np.float32) ** 2
    np.testing.assert_array_equal(median_filter_rows(spec, 31), scipy_rows(spec, 31))
    np.testing.assert_array_equal(median_filter_rows(spec.T, 31).T,
                                  median_filter(spec, size=(31, 1), mode="reflect"))


def test_non_contiguous_and_float64_input():
    rng = np.random.default_rng(1)
    x64 = rng.standard_normal((6, 50))
    view = x64[::2, ::-1]
    got = median_filter_rows(view, 7)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, scipy_rows(view.astype(np.float32), 7))
    assert np.all(x64 == x64)  # input untouched


def test_size_one_and_empty():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = median_filter_rows(x, 1)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    assert median_filter_rows(np.zeros((3, 0), np.float32), 5).shape == (3, 0)


def test_one_dimensional_input_is_one_row():
    x = np.array([3, 0, 9, 1, 5], dtype=np.float32)
    got = median_filter_rows(x, 3)
    assert got.shape == (5,)
    np.testing.assert_array_equal(got, median_filter(x, size=3, mode="reflect"))


@pytest.mark.parametrize("size", [0, 2, 4, -1, -3])
def test_rejects_even_or_non_positive_size(size):
    with pytest.raises(ValueError, match="odd"):
        median_filter_rows(np.zeros((2, 5), np.float32), size)
