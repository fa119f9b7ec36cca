"""Many parts: the probe test of orthonormality, the one-product ilr, ilr_cov by running sums.

A basis for more than 1,024 parts is first cleared by random probes
(``_probes_clear``) instead of forming ``V^T V``; which bases pass must not
change. A basis larger than ``_BASIS_IN_BLOCKS_BYTES`` is applied to all rows
in one product; its coordinates are checked against ``clr(x) @ V`` and the
Helmert kernel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import coda
from coda import transforms
from coda._validation import _arrays, check_basis

WIDE = 1100  # above _EXACT_GRAM_PARTS


def _random_basis(d: int, seed: int) -> np.ndarray:
    """An orthonormal basis of the clr plane other than Helmert's: Helmert rotated at random."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d - 1, d - 1)))
    return coda.ilr_basis(d) @ q


def _bent(basis: np.ndarray, scale: float) -> np.ndarray:
    """``basis`` with its first column stretched by ``1 + scale``: sums stay zero, V^T V - I is
    ``2 scale`` at (0, 0)."""
    bent = basis.copy()
    bent[:, 0] *= 1.0 + scale
    return bent


def test_the_wide_constant_is_above_the_exact_limit():
    assert _arrays._EXACT_GRAM_PARTS < WIDE


@pytest.mark.parametrize(
    "basis",
    [coda.ilr_basis(WIDE), coda.ilr_basis(WIDE, kind="pivot"), _random_basis(WIDE, 1)],
    ids=["helmert", "pivot", "rotated"],
)
def test_probes_clear_valid_wide_bases(basis):
    assert _arrays._probes_clear(basis, 1e-8)
    np.testing.assert_array_equal(check_basis(basis, "basis", WIDE), basis)


def test_a_wide_float32_basis_passes_through_the_exact_test():
    # Its rounding errors (about 3e-8 in each of 1.2e6 entries of V^T V - I)
    # are too many for the probes to clear; each is within the float32 atol.
    single = coda.ilr_basis(WIDE).astype(np.float32)
    atol = 64 * float(np.finfo(np.float32).eps)
    assert not _arrays._probes_clear(single.astype(np.float64), atol)
    np.testing.assert_array_equal(check_basis(single, "basis", WIDE), single.astype(np.float64))


def test_probes_leave_narrow_bases_to_the_exact_test():
    assert not _arrays._probes_clear(coda.ilr_basis(_arrays._EXACT_GRAM_PARTS), 1e-8)


@pytest.mark.parametrize("scale", [2e-8, 1e-6])
def test_a_wide_basis_off_by_more_than_atol_is_refused_with_the_exact_error(scale):
    bent = _bent(coda.ilr_basis(WIDE), scale)
    assert not _arrays._probes_clear(bent, 1e-8)
    exact = np.abs(bent.T @ bent - np.eye(WIDE - 1)).max()
    with pytest.raises(
        ValueError, match=rf"not an orthonormal basis.*largest \|V\^T V - I\| {exact:.2g}\)"
    ):
        check_basis(bent, "basis", WIDE)
    with pytest.raises(ValueError, match="not an orthonormal basis"):
        coda.ilr(np.ones((2, WIDE)), basis=bent)


def test_a_wide_basis_off_by_less_than_atol_still_passes_through_the_exact_test():
    # 2 * 3e-9 = 6e-9 < atol: the probes cannot clear it, V^T V does.
    bent = _bent(_random_basis(WIDE, 2), 3e-9)
    assert not _arrays._probes_clear(bent, 1e-8)
    np.testing.assert_array_equal(check_basis(bent, "basis", WIDE), bent)


def test_a_basis_made_to_hide_from_seeded_probes_is_refused():
    # Probes from a known seed could be dodged: an error orthogonal to all of
    # them. The probes are new on each call, so this basis (max |V^T V - I|
    # 0.014, found by the review) is refused as the exact test refuses it.
    d = WIDE
    seeded = np.random.default_rng(0).standard_normal((d - 1, _arrays._PROBES))
    q = np.linalg.qr(seeded)[0]
    u = np.random.default_rng(5).standard_normal(d - 1)
    u -= q @ (q.T @ u)
    u /= np.linalg.norm(u)
    for stretch in (0.5, -1.0):  # the second makes the basis rank-deficient
        bent = coda.ilr_basis(d) @ (np.eye(d - 1) + stretch * np.outer(u, u))
        with pytest.raises(ValueError, match="not an orthonormal basis"):
            check_basis(bent, "basis", d)


def test_a_wide_off_diagonal_error_is_refused():
    # Columns 3 and 7 made to overlap by 5e-8; every column still sums to zero.
    basis = _random_basis(WIDE, 3)
    bent = basis.copy()
    bent[:, 3] += 5e-8 * basis[:, 7]
    with pytest.raises(ValueError, match="not an orthonormal basis"):
        check_basis(bent, "basis", WIDE)


# ---------------------------------------------------------------------------
# ilr with a basis applied in one product

D_ONE_PRODUCT = 400  # 400 x 399 float64 = 1.28 MB


def test_the_one_product_size_is_above_the_block_limit():
    assert coda.ilr_basis(D_ONE_PRODUCT).nbytes > transforms._BASIS_IN_BLOCKS_BYTES


@pytest.mark.parametrize("n", [1, 3, 5000])
def test_one_product_ilr_matches_clr_times_basis_and_the_helmert_kernel(n):
    rng = np.random.default_rng(n)
    x = rng.lognormal(size=(n, D_ONE_PRODUCT))
    kept = x.copy()
    basis = _random_basis(D_ONE_PRODUCT, 4)
    got = coda.ilr(x, basis=basis)
    logs = np.log(x)
    clr = logs - logs.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(got, clr @ basis, rtol=0, atol=1e-13)
    np.testing.assert_allclose(
        coda.ilr(x, basis=coda.ilr_basis(D_ONE_PRODUCT)), coda.ilr(x), rtol=0, atol=1e-13
    )
    np.testing.assert_array_equal(x, kept)
    np.testing.assert_allclose(coda.ilr_inv(got, basis=basis), coda.closure(x), rtol=1e-12)


def test_one_product_ilr_in_chunks_of_rows(monkeypatch):
    # Chunks of 256 rows (the least): four chunks for 1,000 rows, the last short.
    monkeypatch.setattr(transforms, "_ONE_PRODUCT_BYTES", 8 * D_ONE_PRODUCT * 100)
    x = np.random.default_rng(8).lognormal(size=(1000, D_ONE_PRODUCT))
    basis = _random_basis(D_ONE_PRODUCT, 9)
    logs = np.log(x)
    expected = (logs - logs.mean(axis=1, keepdims=True)) @ basis
    np.testing.assert_allclose(coda.ilr(x, basis=basis), expected, rtol=0, atol=1e-13)
    x[900, 7] = 0.0  # a bad row in the last chunk is named by its row number
    with pytest.raises(ValueError, match=r"rows 900\)"):
        coda.ilr(x, basis=basis)


def test_one_product_ilr_keeps_labels_and_float32():
    parts = [f"p{i}" for i in range(D_ONE_PRODUCT)]
    x = pd.DataFrame(
        np.random.default_rng(5).uniform(0.5, 2.0, (4, D_ONE_PRODUCT)),
        index=list("abcd"),
        columns=parts,
    )
    basis = pd.DataFrame(
        coda.ilr_basis(D_ONE_PRODUCT), index=parts, columns=[f"b{k}" for k in range(399)]
    )
    got = coda.ilr(x, basis=basis)
    assert list(got.index) == list("abcd") and list(got.columns) == list(basis.columns)
    single = coda.ilr(x.to_numpy(np.float32), basis=basis.to_numpy())
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, got.to_numpy(), rtol=0, atol=1e-5)


def test_one_product_ilr_names_rows_with_zeros():
    x = np.ones((3, D_ONE_PRODUCT))
    x[1, 5] = 0.0
    with pytest.raises(ValueError, match=r"rows 1\).*coda\.replace_zeros"):
        coda.ilr(x, basis=coda.ilr_basis(D_ONE_PRODUCT))


# ---------------------------------------------------------------------------
# ilr_cov by running sums


@pytest.mark.parametrize("basis", ["helmert", "pivot", "explicit"])
def test_ilr_cov_of_many_parts_is_the_covariance_of_the_coordinates(basis):
    d = 300
    x = np.random.default_rng(6).lognormal(size=(400, d))
    v = _random_basis(d, 7) if basis == "explicit" else basis
    got = coda.ilr_cov(x, basis=v)
    z = coda.ilr(x, basis=v)
    np.testing.assert_allclose(got, np.cov(z.T), rtol=0, atol=1e-13)
    np.testing.assert_array_equal(got, got.T)
    named = v if basis == "explicit" else coda.ilr_basis(d, kind=basis)
    np.testing.assert_allclose(got, named.T @ coda.clr_cov(x) @ named, rtol=0, atol=1e-13)
