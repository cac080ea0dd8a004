"""mixrec: a recommender built on the course's EM for Gaussian mixtures.

The public face: what the README shows. ``Recommender`` fits a ratings file, a data frame
or columns and answers in their ids: predictions with their uncertainty, lists, a new
user's list, the taste groups; it saves and loads itself with its ids. Below it, the
index-level functions (``fit``, ``predict``, ``top_n``, ``fold_in``, ...) take users and
items as row and column indices of the training matrix, for those who hold the matrix;
and the readers of ratings files. The code sits in the modules behind this file; dask is
imported only by ``mixrec.distributed``, when a cluster is asked for.
"""
from mixrec.ids import index_of
from mixrec.itemsfile import load_items
from mixrec.metrics import baseline_rmse, compare_lists, list_scores, within_std
from mixrec.model import Model
from mixrec.modelfile import load, save
from mixrec.pairsfile import load_pairs, load_user_ratings
from mixrec.ratings import as_ratings_matrix, from_triples
from mixrec.ratingsfile import load_ratings, load_test_ratings
from mixrec.recommender import Predictions, Recommendations, Recommender, TasteGroup, fit
from mixrec.lists import RANKINGS, TopN, top_n, top_n_all
from mixrec.serving import Group, NewUser, baseline_only, fold_in, groups, predict, predict_new
from mixrec.splits import Hidden, holdout, split_lines
from mixrec.options import DEFAULTS
from mixrec.stages import Progress

__version__ = "1.0.0"

__all__ = [
    "DEFAULTS", "Group", "Hidden", "Model", "NewUser", "Predictions", "Progress", "RANKINGS",
    "Recommendations", "Recommender", "TasteGroup", "TopN", "__version__",
    "as_ratings_matrix", "baseline_only", "baseline_rmse", "compare_lists", "fit", "fold_in",
    "from_triples", "groups", "holdout", "index_of", "list_scores", "load", "load_items",
    "load_pairs", "load_ratings", "load_test_ratings", "load_user_ratings", "predict",
    "predict_new", "save", "split_lines", "top_n", "top_n_all", "within_std",
]
