"""Tests of the cluster (mixrec/distributed.py, partitioned.py, blockem.py, blocks.py): the EM
and the recommender on Dask clusters of worker processes on the loopback interface, started
and closed here. Every result is held to the single process's; every test is bounded in
time. The ratings have more than 8,192 users wherever two blocks are wanted: blocks are made
of whole parts of the single machine's (``blocks.part_cuts``)."""
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from scipy import sparse

import common
import em
import mixrec
import products
import synthetic
from mixrec import blocks, mixtures, stages
from test_em import assert_mixture_close, random_mixture, random_ratings
from test_fit import FAST

dask_distributed = pytest.importorskip("dask.distributed",
                                       reason="dask is optional; CI installs it")
from mixrec import distributed, partitioned  # noqa: E402  (they need dask)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def local(n_workers=2, **options):
    return dask_distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                         processes=True, host="127.0.0.1",
                                         dashboard_address=":0", silence_logs=50, **options)


@pytest.fixture(scope="module")
def client():
    with local() as cluster, dask_distributed.Client(cluster) as c:
        yield c


def planted(seed=0, n=600, d=80, n_ratings=12_000):
    return synthetic.planted_sparse_ratings(n, d, n_ratings, K=4, seed=seed)[0]


def wide(seed=4):
    """24,000 users: three of the single machine's parts, so two blocks on two workers, and
    taste groups fitted on every second user, whose parts straddle the blocks."""
    return planted(seed, n=24_000, d=80, n_ratings=72_000)


def moody(X, seed=0):
    """X with a mood per user and day (two days each), and its timestamps: ratings whose
    day biases the single machine's choice keeps."""
    rng = np.random.RandomState(seed)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    day = rng.randint(0, 2, X.nnz)
    mood = rng.normal(0, 1, (X.shape[0], 2))
    X = X.copy()
    X.data = X.data + mood[rows, day]
    return X, (rows * 3 + day) * 86400.0 + rng.randint(0, 80_000, X.nnz)


def pairs(n, d, m=5000, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, n, m), rng.randint(0, d, m)


def assert_same_model(spread, alone, rtol=1e-9):
    """The same ids, shapes and stages; every other array, and the predictions with their
    spread, to rtol (relative to each array's largest value)."""
    exact = ("stage_columns", "stage_sides", "n_components", "rated_indptr", "rated_indices",
             "day_users", "days", "rating_range")
    for name, a, b in zip(mixrec.Model._fields, alone, spread):
        assert np.shape(a) == np.shape(b), name
        if name in exact:
            np.testing.assert_array_equal(b, a, name)
        else:
            a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            np.testing.assert_allclose(b, a, rtol=rtol, err_msg=name,
                                       atol=rtol * np.abs(a).max() if a.size else 0)
    rows, cols = pairs(len(alone.user_bias), len(alone.item_bias))
    for a, b in zip(mixrec.predict(alone, rows, cols, return_std=True),
                    mixrec.predict(spread, rows, cols, return_std=True)):
        np.testing.assert_allclose(b, a, rtol=rtol)


# ---------------------------------------------------------------------------------------
# The course's EM on the blocks

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
    X = wide(1)
    ratings = distributed.scatter_ratings(client, X, n_blocks=5)
    # blocks of whole parts: 24,000 users are three parts, so three blocks at most
    assert len(ratings.blocks) == 3 and ratings.n == 24_000
    assert set(ratings.bounds) <= set(blocks.part_cuts(24_000))
    starts = [common.init(X, 3, seed)[0] for seed in range(3)]
    together = distributed.run_many(ratings, starts, min_variance=.5, mean_prior=2.0,
                                    pattern_weight=0.2, tol=1e-6, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        alone = mixtures.run_many(X, starts, min_variance=.5, mean_prior=2.0,
                                  pattern_weight=0.2, tol=1e-6, max_iter=30)
    for a, b in zip(together, alone):
        assert a.iterations == b.iterations and a.log_likelihood == pytest.approx(
            b.log_likelihood, rel=1e-10)
        assert_mixture_close(a.mixture, b.mixture, rtol=1e-10)


@pytest.mark.timeout(120)
def test_predict_and_fill_matrix_work_on_the_workers(client):
    X = random_ratings(50, 9, seed=2)
    mixture = random_mixture(X, 3, seed=0)
    ratings = distributed.scatter_ratings(client, X, n_blocks=3)
    rows, cols = pairs(50, 9, 200)
    np.testing.assert_allclose(distributed.predict(ratings, mixture, rows, cols),
                               em.predict(X, mixture, rows, cols), rtol=1e-12)
    np.testing.assert_allclose(distributed.fill_matrix(ratings, mixture),
                               em.fill_matrix(X, mixture), rtol=1e-12)


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
    with pytest.raises(ValueError, match="client must be a dask.distributed.Client"):
        distributed.fit(X, **FAST)
    ratings = distributed.scatter_ratings(client, X)
    with pytest.raises(ValueError, match="times go with the ratings"):
        distributed.fit(ratings, times=np.zeros(X.nnz), **FAST)
    with pytest.raises(ValueError, match="pattern_dir must be an existing folder"):
        distributed.fit(ratings, pattern_dir=os.path.join(ROOT, "no such folder"), **FAST)
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        distributed.fit(ratings, n_seed=3)
    with pytest.raises(ValueError, match="holds no rating"):
        distributed.fit(sparse.csr_array((5, 4)), client)


def test_a_block_of_rows_draws_the_same_starts_as_the_whole_matrix():
    whole = stages.dirichlet_starts([3, 8], 4, 0, 1000)
    for first, last in ((0, 7), (7, 300), (300, 1000), (999, 1000)):
        np.testing.assert_array_equal(stages.dirichlet_starts([3, 8], 4, first, last),
                                      whole[:, first:last])


def test_a_packed_copy_gives_its_piece_back_bit_for_bit():
    X = sparse.csr_matrix(planted(3))
    times = np.arange(X.nnz) * 7.5
    again = blocks.unpack(blocks.pack(blocks.Piece(5, X, times)))
    assert again.first == 5 and again.X.shape == X.shape
    for a, b in ((again.X.data, X.data), (again.X.indices, X.indices),
                 (again.X.indptr, X.indptr), (again.times, times)):
        np.testing.assert_array_equal(a, b)  # the same values (scipy may narrow an index)
    assert sys.getsizeof(blocks.pack(blocks.Piece(0, X, None))) < X.data.nbytes


# ---------------------------------------------------------------------------------------
# The recommender, partitioned

@pytest.mark.timeout(240)
def test_the_recommender_on_the_cluster_is_the_single_process_model(client, monkeypatch):
    """The cluster fits the stages' model: ``mixrec.fit(..., blend_holdout=0)``'s on one
    machine, with the capacity (item_components, item_stages) and the day biases chosen
    from the data as one machine chooses them."""
    X, times = moody(wide())
    cheap = {k: v for k, v in FAST.items() if k not in ("item_stages", "blend_holdout")}
    alone = mixrec.fit(X, times=times, blend_holdout=0, **cheap)
    assert alone.blend_weights.size == 0 and len(alone.day_bias) > 0  # the days kept
    seen = []
    # blend_holdout left to its default: on a cluster, the stages' model
    spread = mixrec.fit(X, times=times, client=client, callback=seen.append, **cheap)
    # the sums over users added in the single machine's order: its float32 sums, bit for
    # bit; what is left is float64 rounding (the baseline's sums, the Gram matrices)
    assert_same_model(spread, alone, rtol=1e-9)
    assert spread.blend_weights.size == 0 and len(spread.stage_sides) == 3  # 4 x 2 + 1
    assert isinstance(spread.rated_indices, np.memmap)  # on disk, not in the client's RAM
    assert {(p.stage, p.run) for p in seen} >= {(0, 1), (1, 1), (1, 2), (3, 1), (3, 2)}
    assert {p.phase for p in seen} == {"fit"}
    # past IN_ORDER_BYTES the blocks' sums go up a tree: the same model to float32 rounding
    monkeypatch.setattr(partitioned, "IN_ORDER_BYTES", 0)
    tree = mixrec.fit(X, times=times, client=client, **FAST)
    assert_same_model(tree, mixrec.fit(X, times=times, **FAST), rtol=1e-6)


@pytest.mark.timeout(120)
def test_what_a_cluster_does_not_fit_is_said(client):
    X = planted(1)
    with pytest.raises(ValueError, match="blend_holdout = 0.1: a cluster fits the stages' "
                                         "model only"):
        mixrec.fit(X, client=client, blend_holdout=0.1)
    with pytest.raises(ValueError, match="user_reg=None .* one machine only"):
        mixrec.fit(X, client=client, user_reg=None, **FAST)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    ratings = distributed.scatter_ratings(client, X, times=rows * 90_000.0)
    with pytest.raises(ValueError, match="pass day_biases=True or False"):
        mixrec.fit(ratings, **FAST)
    untimed = distributed.scatter_ratings(client, X)
    with pytest.raises(ValueError, match="day_biases=True needs the ratings' timestamps"):
        mixrec.fit(untimed, day_biases=True, **FAST)
    # what one machine refuses before any work, refused on the blocks before the baseline
    with pytest.raises(ValueError, match="bias_epochs must be an integer in 0..10000"):
        mixrec.fit(untimed, bias_epochs=10 ** 12, **FAST)
    # the spread taken as one machine takes it, and refused as it is refused there
    tiny = X * 1e-20
    for where in ({}, {"client": client}):
        with pytest.raises(ValueError, match="spread around the baseline is 1.*e-20"):
            mixrec.fit(tiny, **where, **FAST)


@pytest.mark.timeout(240)
@pytest.mark.filterwarnings("ignore:EM did not converge")
def test_ratings_read_on_the_workers_fit_as_the_file_read_here(client, tmp_path):
    X = wide(6)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    path = tmp_path / "ratings.csv"
    # leading zeros: text ids, kept verbatim; ratings of 0; a timestamp per rating
    path.write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{'0' if r % 7 == 0 else ''}{r},i{c},{v - 3:g},{(r * 13 + c) * 20_000}\n"
        for r, c, v in zip(rows, X.indices, X.data)))
    ratings = distributed.read_ratings(client, str(path))
    Y, user_ids, item_ids, stamps = mixrec.load_ratings(path, timestamps=True)
    assert list(ratings.user_ids) == list(user_ids) and list(ratings.item_ids) == list(item_ids)
    assert len(ratings.pieces) == 2 and ratings.n == Y.shape[0] and ratings.d == Y.shape[1]
    # on the cluster, the day biases' choice must be said (it is made on held-out ratings)
    assert_same_model(mixrec.fit(ratings, day_biases=True, **FAST),
                      mixrec.fit(Y, times=stamps, day_biases=True, **FAST))
    # the course's EM on the same blocks
    mixture, post = common.init(Y, 3, seed=0)
    spread = distributed.run(ratings, mixture, None, tol=1e-6, max_iter=5)
    alone = em.run(products.summarise(Y, stored_zeros=True), mixture, post, tol=1e-6,
                   max_iter=5)
    assert spread[2] == pytest.approx(alone[2], rel=1e-10)


@pytest.mark.timeout(120)
def test_compressed_files_parquet_folders_and_bad_files(client, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X = planted(7)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    frame = pd.DataFrame({"user": rows, "item": X.indices, "rating": X.data})
    frame.to_csv(tmp_path / "r.csv.gz", index=False)
    (tmp_path / "parts").mkdir()
    dd.from_pandas(frame, npartitions=3).to_parquet(str(tmp_path / "parts"))
    for source in (tmp_path / "r.csv.gz", tmp_path / "parts"):
        ratings = distributed.read_ratings(client, str(source))
        assert list(ratings.user_ids) == list(range(X.shape[0]))
        assert list(ratings.item_ids) == list(range(X.shape[1]))
        found = sparse.vstack([piece.X for piece in client.gather(ratings.pieces)])
        assert abs(found - X).max() == 0 and found.nnz == X.nnz
    (tmp_path / "no-header.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="header naming the columns"):
        distributed.read_ratings(client, str(tmp_path / "no-header.csv"))
    with pytest.raises(ValueError, match="columns must name"):
        distributed.read_ratings(client, str(tmp_path / "r.csv.gz"), columns=["a", "b"])
    with pytest.raises(ValueError, match="cannot read ratings there"):
        distributed.read_ratings(client, str(tmp_path / "none-*.csv"))
    with pytest.raises(ValueError, match="cannot reach a Dask scheduler"):
        distributed.connect("tcp://127.0.0.1:9", timeout=2)


@pytest.mark.timeout(120)
def test_a_model_fitted_on_a_cluster_serves_and_saves_like_any_other(client, tmp_path):
    X = wide(8)
    alone = mixrec.fit(X, **FAST)
    spread = mixrec.fit(X, client=client, **FAST)
    path = tmp_path / "model.npz"
    mixrec.save(spread, path)
    loaded = mixrec.load(path)
    assert_same_model(loaded, alone)
    for model in (spread, loaded):
        np.testing.assert_array_equal(mixrec.top_n(model, None, 17, n=5)[0],
                                      mixrec.top_n(alone, None, 17, n=5)[0])
        np.testing.assert_array_equal(mixrec.top_n_all(model, n=3, users=np.arange(50))[0],
                                      mixrec.top_n_all(alone, n=3, users=np.arange(50))[0])
        for a, b in zip(mixrec.groups(model), mixrec.groups(alone)):
            assert a.weight == pytest.approx(b.weight, rel=1e-9)
            np.testing.assert_array_equal(a.above, b.above)


# ---------------------------------------------------------------------------------------
# Less than one machine, and lost workers

def _vm_hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


@pytest.mark.timeout(300)
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
def test_the_fit_completes_on_workers_too_small_for_a_replica_of_the_ratings(tmp_path):
    """What a replica costs is measured: a process that holds every rating and fits them
    (as each worker did when the ratings were replicated) peaks at R. Two workers limited
    to 60% of R fit the same ratings, partitioned, and neither passes its limit."""
    X = planted(9, n=32_768, d=300, n_ratings=4_000_000)  # four parts: two blocks of two
    options = {"n_seeds": 1, "item_stages": 1, "user_stages": 0, "max_iter": 1,
               "blend_holdout": 0}  # the stages' model, which is what a cluster fits
    sparse.save_npz(tmp_path / "X.npz", X)
    code = ("import dask.distributed, scipy.sparse, mixrec\n"
            f"X = scipy.sparse.load_npz({str(tmp_path / 'X.npz')!r}).tocsr()\n"
            f"mixrec.fit(X, **{options!r})\n"
            "print([int(l.split()[1]) * 1024 for l in open('/proc/self/status') "
            "if l.startswith('VmHWM:')][0])\n")
    replica = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 cwd=ROOT, timeout=240, check=True).stdout.split()[-1])
    limit = int(0.6 * replica)
    # no spilling to disk (it would hide memory), no pausing, and no worker ended by its
    # nanny (polled every 100 ms) either: the workers' own peaks, measured after the fit,
    # are held to the limit instead, a stricter check
    config = {"distributed.worker.memory.target": False,
              "distributed.worker.memory.spill": False,
              "distributed.worker.memory.pause": False,
              "distributed.worker.memory.terminate": False}
    with dask_config(config), local(memory_limit=limit) as cluster, \
            dask_distributed.Client(cluster) as c:
        workers = set(c.scheduler_info()["workers"])
        with warnings.catch_warnings():
            warnings.simplefilter("error", partitioned.Retried)
            model = distributed.fit(X, c, **options)
        peaks = c.run(_vm_hwm)
        assert set(peaks) == workers  # none was restarted
    print(f"replica peak {replica / 2**20:.0f} MB, workers limited to {limit / 2**20:.0f} MB, "
          f"their peaks {sorted(round(p / 2**20) for p in peaks.values())} MB")
    assert replica > limit and max(peaks.values()) < limit, (replica, limit, peaks)
    assert model.user_factors.shape[0] == 32_768 and len(model.stage_sides) == 1


def dask_config(values):
    import dask
    return dask.config.set(values)


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_fit_gives_the_same_model_from_the_copies():
    X = wide(5)
    expected = mixrec.fit(X, **FAST)
    with local() as cluster, dask_distributed.Client(cluster) as c:
        victims = list(cluster.workers.values())
        killed = []

        def kill_once(progress):  # mid-fit for sure: during the first stage's runs
            if not killed and progress.stage == 1 and progress.iteration == 2:
                killed.append(victims[0].process.process.pid)
                os.kill(killed[0], 9)
        start = time.monotonic()
        with pytest.warns(partitioned.Retried, match="lost a worker"):
            model = distributed.fit(X, c, callback=kill_once, lost_after=30, **FAST)
        assert killed and time.monotonic() - start < 200
    assert_same_model(model, expected)


@pytest.mark.timeout(120)
def test_a_cluster_left_without_workers_is_a_clear_error_in_bounded_time():
    X = wide(2)
    with local(n_workers=1) as cluster, dask_distributed.Client(cluster) as c:
        def empty_the_cluster(progress):
            if progress.stage == 1 and progress.iteration == 1:
                cluster.scale(0)
        start = time.monotonic()
        with pytest.raises(ValueError, match="no worker"):
            distributed.fit(X, c, callback=empty_the_cluster, lost_after=3, **FAST)
        assert time.monotonic() - start < 60
