"""Covariance and partial correlations on a dask.distributed cluster smaller than the data.

Two worker processes with 1 GB each read 4 GB of compositions generated on
the workers, one 50 MB block at a time; the oracle is the same blocks
generated again on the client, one at a time, with plain numpy sums.
"""

from __future__ import annotations

import os

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, KilledWorker, LocalCluster
from distributed.diagnostics import MemorySampler

import coda

SEED = 20261128
N_PARTS = 50
BLOCK_ROWS = 125_000  # 125_000 x 50 float64: 50 MB per block
N_BLOCKS = 80  # 10 million rows, 4 GB in all: twice what the two workers may hold
# Relative to the largest entry: the cluster's shifted syrk and Chan merge
# against numpy's plain sums over the same 10 million rows.
RTOL = 1e-10


def _block(k: int) -> np.ndarray:
    """Block ``k`` of the composition: the same numbers wherever it is made."""
    rng = np.random.default_rng([SEED, k])
    x = rng.random((BLOCK_ROWS, N_PARTS))
    x += 0.5
    # Parts 2k and 2k + 1 share a factor: they are partially correlated.
    x[:, 1::2] *= x[:, 0::2]
    return x


def _generated(block_id=None) -> np.ndarray:
    return _block(block_id[0])


def _composition():
    """The 4 GB composition as a lazy dask array whose blocks are made on the workers."""
    return da.map_blocks(
        _generated,
        chunks=((BLOCK_ROWS,) * N_BLOCKS, (N_PARTS,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )


def _oracle() -> tuple[np.ndarray, np.ndarray]:
    """``(clr_cov, pcor)`` from numpy sums over the blocks made one at a time on the client."""
    total = np.zeros(N_PARTS)
    products = np.zeros((N_PARTS, N_PARTS))
    for k in range(N_BLOCKS):
        logs = np.log(_block(k))
        total += logs.sum(axis=0)
        products += logs.T @ logs
    n = BLOCK_ROWS * N_BLOCKS
    mean = total / n
    # The logs have mean about -0.05 and variance about 0.08: no harmful cancellation.
    cov = (products - n * np.outer(mean, mean)) / (n - 1)
    centring = np.eye(N_PARTS) - 1.0 / N_PARTS
    gamma = centring @ cov @ centring
    omega = np.linalg.pinv(gamma, hermitian=True)
    scale = 1.0 / np.sqrt(np.diag(omega))
    rho = -omega * scale[:, None] * scale[None, :]
    np.fill_diagonal(rho, 1.0)
    return gamma, rho


def _assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


@pytest.fixture(scope="module")
def client():
    with (
        # If the workers are lost (the host's memory is shared, and the OOM
        # killer may take them and their nannies), tasks fail after 2 minutes
        # instead of waiting for a worker forever.
        dask.config.set({"distributed.scheduler.no-workers-timeout": "120s"}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit="1GB",
            processes=True,
            dashboard_address=":0",  # any free port: other clusters may hold 8787
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _workers(client) -> dict:
    """Worker address -> process id: a worker killed and restarted changes both."""
    return client.run(os.getpid)


def test_data_larger_than_the_workers_memory(client):
    x = _composition()
    limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    assert sum(limits) == 2e9
    assert x.nbytes == 4e9 == 2 * sum(limits)


def test_pcor_and_clr_cov_on_the_cluster_match_numpy_sums(client):
    before = _workers(client)
    x = _composition()
    memory = MemorySampler()
    with memory.sample("cluster", interval=0.2):
        gamma = coda.clr_cov(x)
        rho = coda.pcor(x)
    after = _workers(client)
    assert after == before, "a worker was killed or restarted during the computation"
    expected_gamma, expected_rho = _oracle()
    assert isinstance(gamma, np.ndarray)
    assert gamma.shape == rho.shape == (N_PARTS, N_PARTS)
    _assert_close(gamma, expected_gamma)
    _assert_close(rho, expected_rho)
    # The data have structure to find: parts 2k and 2k + 1 are partially correlated.
    assert np.diag(rho, k=1)[0::2].min() > 0.3
    # Both workers' processes together stayed below the level at which
    # distributed pauses a worker (80% of its limit): measured about 1.2 GB,
    # of which about 0.6 GB is the two idle processes.
    assert memory.to_pandas()["cluster"].max() < 0.8 * 2e9


def _dies_on_block_3(block, block_id=None):
    # os._exit, not an exception: the worker process dies as if the OS killed it.
    if block_id[0] == 3:
        os._exit(1)
    return block


def test_a_worker_dying_mid_computation_raises():
    # A separate one-worker cluster that gives up on a task at its first lost
    # worker, so that the error surfaces without rounds of restarts.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            memory_limit="1GB",
            processes=True,
            dashboard_address=":0",  # any free port: other clusters may hold 8787
        ) as cluster,
        Client(cluster) as client,
    ):
        x = da.from_array(np.exp(np.random.default_rng(SEED).normal(size=(600, 4))), chunks=100)
        fatal = x.map_blocks(_dies_on_block_3, dtype=x.dtype)
        with pytest.raises(KilledWorker):
            coda.pcor(fatal)
        # The cluster recovers (the nanny restarts the worker) and the same data then compute.
        _assert_close(coda.pcor(x), coda.pcor(x.compute()))
        assert len(client.scheduler_info()["workers"]) == 1
