"""Tests of mixrec/distributed.py: the EM and the recommender on a Dask cluster of two worker
processes on the loopback interface, started and closed here. Every result is held to the
single-process one; every test is bounded in time."""
import numpy as np
import pytest

import common
import em
import mixrec
import products
import synthetic
from mixrec import mixtures
from test_em import assert_mixture_close, random_mixture, random_ratings
from test_fit import FAST


dask_distributed = pytest.importorskip("dask.distributed",
                                       reason="dask is optional; CI installs it")
from mixrec import distributed  # noqa: E402  (after the skip: it needs dask)


@pytest.fixture(scope="module")
def client():
    with dask_distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50) as local:
        with dask_distributed.Client(local) as c:
            yield c


def planted(seed=0):
    X, _ = synthetic.planted_sparse_ratings(600, 80, 12_000, K=4, seed=seed)
    return X


@pytest.mark.timeout(120)
def test_em_run_on_the_cluster_is_the_single_process_run(client):
    X = planted()
    mixture, post = common.init(X, 4, seed=1)
    alone = em.run(X, mixture, post, tol=1e-6)
    spread = distributed.run(X, mixture, post, tol=1e-6, client=client)
    assert spread[2] == pytest.approx(alone[2], rel=1e-10)
    assert_mixture_close(spread[0], alone[0], rtol=1e-10)
    assert isinstance(spread[1], distributed.Posteriors)  # left on the workers
    np.testing.assert_allclose(spread[1].collect(), alone[1], rtol=1e-9, atol=1e-12)


@pytest.mark.timeout(120)
def test_blocks_scattered_once_serve_many_runs_with_the_pattern_too(client):
    X = planted(1)
    ratings = distributed.scatter_ratings(client, X, n_blocks=5)
    assert len(ratings.blocks) == 5 and ratings.n == 600
    starts = [common.init(X, 3, seed)[0] for seed in range(3)]
    together = distributed.run_many(ratings, starts, min_variance=.5, mean_prior=2.0,
                                    pattern_weight=0.2, tol=1e-6)
    alone = mixtures.run_many(X, starts, min_variance=.5, mean_prior=2.0, pattern_weight=0.2,
                              tol=1e-6)
    for a, b in zip(together, alone):
        assert a.iterations == b.iterations and a.log_likelihood == pytest.approx(
            b.log_likelihood, rel=1e-10)
        assert_mixture_close(a.mixture, b.mixture, rtol=1e-10)


@pytest.mark.timeout(120)
def test_predict_and_fill_matrix_work_on_the_workers(client):
    X = random_ratings(50, 9, seed=2)
    mixture = random_mixture(X, 3, seed=0)
    ratings = distributed.scatter_ratings(client, X, n_blocks=3)
    rows = np.random.RandomState(0).randint(0, 50, 200)
    cols = np.random.RandomState(1).randint(0, 9, 200)
    np.testing.assert_allclose(distributed.predict(ratings, mixture, rows, cols),
                               em.predict(X, mixture, rows, cols), rtol=1e-12)
    np.testing.assert_allclose(distributed.fill_matrix(ratings, mixture),
                               em.fill_matrix(X, mixture),
                               rtol=1e-12)


@pytest.mark.timeout(120)
def test_bad_input_is_refused_as_without_a_cluster(client):
    X = planted(2)
    mixture, post = common.init(X, 3, seed=0)
    bad = mixture._replace(var=-mixture.var)
    for run in (lambda: em.run(X, bad, post),
                lambda: distributed.run(X, bad, post, client=client)):
        with pytest.raises(ValueError, match="mixture.var must be finite and positive"):
            run()
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        distributed.run(X, mixture, post, tol=-1, client=client)


@pytest.mark.timeout(120)
def test_a_data_frame_becomes_blocks_on_the_workers_with_verbatim_ids(client, tmp_path):
    dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe needs pandas")
    path = tmp_path / "r.csv"
    X = planted(3)
    rows = np.repeat(np.arange(600), np.diff(X.indptr))
    path.write_text("user,item,rating\n" + "".join(
        f"{'0' if r % 7 == 0 else ''}{r},i{c},{v - 3:g}\n"  # leading zeros: text ids; zeros
        for r, c, v in zip(rows, X.indices, X.data)))
    frame = dd.read_csv(str(path), dtype={"user": str, "item": str}, blocksize=40_000)
    assert frame.npartitions > 2
    ratings = distributed.from_frame(client, frame, n_blocks=4)
    Y, user_ids, item_ids = mixrec.load_ratings(path)
    assert list(ratings.user_ids) == list(user_ids) and list(ratings.item_ids) == list(item_ids)
    mixture, post = common.init(Y, 3, seed=0)
    spread = distributed.run(ratings, mixture, None, tol=1e-6)
    alone = em.run(products.summarise(Y, stored_zeros=True), mixture, post, tol=1e-6)
    assert spread[2] == pytest.approx(alone[2], rel=1e-10)


@pytest.mark.timeout(240)
def test_the_recommender_on_the_cluster_is_the_same_model(client):
    X = planted(4)
    times = np.arange(X.nnz, dtype=float) * 3000.0
    alone = mixrec.fit(X, times=times, **FAST)
    spread = mixrec.fit(X, times=times, client=client, **FAST)
    for name, a, b in zip(mixrec.Model._fields, alone, spread):
        np.testing.assert_allclose(np.asarray(b, dtype=float), np.asarray(a, dtype=float),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    seen = []
    mixrec.fit(X, client=client, callback=seen.append, **FAST)
    assert {(p.stage, p.run) for p in seen} >= {(1, 1), (1, 2), (2, 1), (2, 2)}


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_fit_gives_the_model_or_a_clear_error():
    X = planted(5)
    expected = mixrec.fit(X, **FAST)
    with dask_distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50) as local:
        with dask_distributed.Client(local) as c:
            import threading
            victim = list(local.workers.values())[0]
            timer = threading.Timer(1.0, lambda: victim.process.process.kill())
            timer.start()
            try:
                model = mixrec.fit(X, client=c, **FAST)
            except ValueError as err:
                assert "worker" in str(err)
            else:
                np.testing.assert_allclose(model.user_factors, expected.user_factors,
                                           rtol=1e-10, atol=1e-12)
            finally:
                timer.cancel()
