"""A recommender built from the course's Gaussian-mixture EM.

The baselines come first: the global mean and the item means (what every recommender must
beat).
"""
import numpy as np

import summary


def global_mean(X):
    """The mean of the ratings of X (sparse or dense, 0 = missing)."""
    _, _, values = summary.summarise(X).entries()
    return float(values.mean())


def item_means(X):
    """Each item's mean rating, shape (d,); the global mean for an item nobody rated."""
    ratings = summary.summarise(X)
    _, cols, values = ratings.entries()
    counts = np.bincount(cols, minlength=ratings.d)
    sums = np.bincount(cols, weights=values, minlength=ratings.d)
    return np.where(counts > 0, sums / np.maximum(counts, 1), values.mean())
