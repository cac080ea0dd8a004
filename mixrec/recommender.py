"""The recommender's front: ``fit`` on this machine or on a Dask cluster.

``fit`` checks where the ratings are and hands them to the single-machine fit
(``stages.py``) or, when a cluster is asked for, to ``distributed.py``, which is imported
only then (dask is optional).
"""
from mixrec import stages


def fit(X, *, seed=0, callback=None, times=None, client=None, **hyper_parameters):
    """Fit the recommender to a ratings matrix (``stages.fit``), here or on a cluster.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Users as rows, items as columns. Every stored entry of a sparse X is a rating, 0
        included (as ``load_ratings`` stores a rating of 0); so is every unmasked entry of a
        masked array; a dense X's zeros are missing.
    seed : int, default 0
        Seed of the EM starts.
    callback : callable or None
        Called with a ``stages.Progress`` after each EM iteration of each run.
    times : array_like of shape (nnz,) or None
        Each rating's timestamp in seconds (NaN where unknown), in the order of X's stored
        entries as a canonical CSR array: the baseline then learns a bias per user and day.
    client : dask.distributed.Client or None
        Fit on a Dask cluster (``distributed.fit``): the same model.
    **hyper_parameters
        Any of ``stages.DEFAULTS``.

    Returns
    -------
    Model
    """
    if client is not None:
        from mixrec import distributed  # dask is optional: only for a cluster
        return distributed.fit(X, client, seed=seed, callback=callback, times=times,
                               **hyper_parameters)
    return stages.fit(X, seed=seed, callback=callback, times=times, **hyper_parameters)
