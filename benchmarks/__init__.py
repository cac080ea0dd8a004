"""The benchmarks: ``python -m benchmarks.NAME`` from the checkout's root, or by path.

- ``speed``: the course's EM against its baselines (the textbook steps, the per-user loop,
  the products no iteration avoids), and ratings files at scale against ``np.loadtxt``;
- ``recommender``: the recommender's accuracy, calibration, lists and scale beside the
  baselines and the tools people use (``peers.py``, run in those tools' own environments);
- ``distributed``: the EM and the recommender on a Dask cluster;
- ``peers``: scikit-surprise and myFM, run by their own Python (imports nothing of this
  project).

Benchmarks import the library, never the tests.
"""
