"""The recommender's front: ``fit`` on this machine or on a Dask cluster, and ``Recommender``,
the id-level face of the package.

``fit`` checks where the ratings are and hands them to the single-machine fit
(``stages.py``) or, when a cluster is asked for, to ``distributed.py``, which is imported
only then (dask is optional). It takes and gives row and column indices.

``Recommender`` holds a fitted model with its users' and items' ids, and speaks in them, as
scikit-surprise's raw ids do: fit it on a ratings file, a data frame or columns; ask it for
predictions, lists, a new user's list and the taste groups, with the ids of the data; save
and load it. An id it does not know is a ValueError naming it, or (``unknown="baseline"``)
scored by the baseline. Results come as named tuples of arrays whose ``to_frame()`` gives a
pandas DataFrame (pandas is imported only then).
"""
import os
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from mixrec import ensemble, ids, lists, modelfile, options, serving
from mixrec.ratings import from_triples
from mixrec.ratingsfile import read
from mixrec.textfiles import ROLES, parse_columns


def fit(X, *, seed=0, callback=None, times=None, client=None, **hyper_parameters):
    """Fit the recommender to a ratings matrix (``ensemble.fit``), here or on a cluster.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or distributed.DistributedRatings
        Users as rows, items as columns. Every stored entry of a sparse X is a rating, 0
        included (as ``load_ratings`` stores a rating of 0); so is every unmasked entry of a
        masked array; a dense X's zeros are missing. Ratings held on a cluster
        (``distributed.read_ratings``, ``from_frame``, ``scatter_ratings``) are fitted there,
        their client implied.
    seed : int, default 0
        Seed of the EM starts.
    callback : callable or None
        Called with a ``stages.Progress`` after each EM iteration of each run.
    times : array_like of shape (nnz,) or None
        Each rating's timestamp in seconds (NaN where unknown), in the order of X's stored
        entries as a canonical CSR array: the baseline then learns a bias per user and day.
    client : dask.distributed.Client or None
        Fit on a Dask cluster (``distributed.fit``), the ratings partitioned over its
        workers: the stages' model, the same as this function's with ``blend_holdout=0``
        on one machine (no neighbour stage, no blend; a ``blend_holdout`` other than 0 is
        a ValueError there).
    **hyper_parameters
        Any of ``options.DEFAULTS``.

    Returns
    -------
    Model
    """
    _check_hooks(callback, client)
    if client is not None or getattr(type(X), "distributed", False) is True:
        from mixrec import distributed  # dask is optional: only for a cluster
        return distributed.fit(X, client, seed=seed, callback=callback, times=times,
                               **hyper_parameters)
    return ensemble.fit(X, seed=seed, callback=callback, times=times, **hyper_parameters)


def _check_hooks(callback, client):
    """ValueError naming a callback that can't be called or a client that is not one (a
    scheduler's address), before any work rather than midway through it."""
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be a callable or None, got {type(callback).__name__}")
    if client is not None and not hasattr(client, "scheduler_info"):
        raise ValueError(f"client must be a dask.distributed.Client (Client('tcp://...')), "
                         f"got {type(client).__name__}")


# ---------------------------------------------------------------------------------------
# Results, in ids

def _frame(columns):
    """A pandas DataFrame of these columns (pandas imported here, and only here)."""
    try:
        import pandas
    except ImportError:
        raise ValueError("to_frame needs pandas: pip install pandas (or 'mixrec[pandas]')") \
            from None
    return pandas.DataFrame(columns)


class Predictions(NamedTuple):
    """Predicted ratings of (user, item) pairs, in the caller's ids."""

    users: np.ndarray  # (m,) the ids asked for
    items: np.ndarray  # (m,)
    prediction: np.ndarray  # (m,)
    std: Optional[np.ndarray]  # (m,) predictive standard deviations, or None
    known: np.ndarray  # (m,) bool: whether the model knows both the user and the item

    def to_frame(self):
        """A DataFrame: user, item, prediction[, std], known."""
        columns = {"user": self.users, "item": self.items, "prediction": self.prediction}
        if self.std is not None:
            columns["std"] = self.std
        columns["known"] = self.known
        return _frame(columns)


class Recommendations(NamedTuple):
    """One user's list, best first, in item ids."""

    user: Any  # the user's id (None for a new user)
    items: np.ndarray  # (k,) item ids
    rating: np.ndarray  # (k,) predicted ratings
    std: np.ndarray  # (k,) their standard deviations
    key: np.ndarray  # (k,) what the list is ranked by (lists.RANKINGS)
    ranking: str

    def to_frame(self):
        """A DataFrame: rank, item, rating, std and the ranking's key."""
        return _frame({"rank": np.arange(1, len(self.items) + 1), "item": self.items,
                       "rating": self.rating, "std": self.std, self.ranking: self.key})


class TasteGroup(NamedTuple):
    """A taste group of users, in item ids (``serving.Group``)."""

    weight: float
    above: np.ndarray  # item ids it rates most above the baseline, most first
    above_by: np.ndarray
    below: np.ndarray
    below_by: np.ndarray


# ---------------------------------------------------------------------------------------
# The fitted object

Ids = Union[Sequence, np.ndarray]
UNKNOWN = ("error", "baseline")


class Recommender:
    """The mixture recommender, fitted and asked in the ids of its data.

    Parameters
    ----------
    **hyper_parameters
        Any of ``mixrec.DEFAULTS`` (checked here, before any fit).

    Attributes
    ----------
    model : Model or None
        The fitted arrays (``None`` before ``fit``); the index-level functions
        (``mixrec.predict``, ``mixrec.top_n``, ...) take it, with rows and columns.
    user_ids, item_ids : ndarray
        The ids of the model's rows and columns, sorted.
    summary : dict
        What the last fit read: ratings, users, items, pairs merged and how.
    """

    def __init__(self, **hyper_parameters: Any):
        options.check_hyper_parameters(hyper_parameters)
        self.hyper_parameters = dict(hyper_parameters)
        self.model = self.user_ids = self.item_ids = None
        self.summary = {}

    def __repr__(self):
        state = (f"{len(self.user_ids)} users x {len(self.item_ids)} items"
                 if self.model is not None else "not fitted")
        return f"Recommender({state})"

    # -- fitting -------------------------------------------------------------------------

    def fit(self, data: Any = None, *, users: Optional[Ids] = None,
            items: Optional[Ids] = None, ratings: Optional[Sequence[float]] = None,
            timestamps: Optional[Sequence] = None, columns: Any = None,
            duplicates: Optional[str] = None, seed: int = 0, callback=None,
            client=None) -> "Recommender":
        """Fit to ratings: a file, a data frame, or columns of users, items and ratings.

        Parameters
        ----------
        data : path, DataFrame or None
            A ratings file (any format ``load_ratings`` reads, compressed too), or a data
            frame whose columns are named as a ratings file's header may name them
            (``userId``, ``movieId``, ``rating``, ``timestamp``...; ``columns`` otherwise).
        users, items, ratings, timestamps : array_like of shape (m,)
            The columns themselves, instead of ``data``.
        columns : str, sequence or mapping
            For a file or a frame: each column's role in order (``"user,item,rating"``), or
            for a frame ``{"user": "uid", "item": "book", "rating": "stars"}``.
        duplicates : str or None
            A pair rated more than once (``mixrec.ratings.DUPLICATES``): by default the
            latest rating where there are timestamps, else the mean.
        seed, callback, client
            As ``mixrec.fit``'s.

        Returns
        -------
        self
        """
        if (data is None) == (ratings is None):
            raise ValueError("give the ratings as data (a file or a data frame) or as users, "
                             "items and ratings columns, one of the two")
        if data is not None and (users is not None or items is not None):
            raise ValueError("give users and items as columns of data, or as arrays without "
                             "data, not both")
        _check_hooks(callback, client)
        if data is not None and timestamps is not None:
            raise ValueError("give timestamps as a column of data (columns={'timestamp': "
                             "...}), or as an array without data, not both")
        if isinstance(data, (str, bytes, os.PathLike)):
            found = read(data, columns=columns, duplicates=duplicates)
            X, user_ids, item_ids, times = found.X, found.user_ids, found.item_ids, found.times
            self.summary = {"ratings": found.lines, "merged": found.merged,
                            "duplicates": found.policy}
        else:
            if data is not None:
                users, items, ratings, timestamps = _frame_columns(data, columns)
            built = from_triples(users, items, ratings, timestamps=timestamps,
                                 duplicates=duplicates)
            X, user_ids, item_ids = built[:3]
            times = built[3] if timestamps is not None else None
            self.summary = {"ratings": len(np.asarray(ratings).reshape(-1))}
        times = times if times is not None and np.isfinite(times).any() else None
        self.model = fit(X, seed=seed, callback=callback, times=times, client=client,
                         **self.hyper_parameters)
        self.user_ids, self.item_ids = user_ids, item_ids
        self.summary.update(users=len(user_ids), items=len(item_ids), stored=int(X.nnz),
                            timestamps=times is not None)
        return self

    # -- asking --------------------------------------------------------------------------

    def predict(self, users: Ids, items: Ids, *, times: Optional[Sequence[float]] = None,
                std: bool = True, unknown: str = "error") -> Predictions:
        """Predicted ratings of (user, item) pairs, given by id.

        Parameters
        ----------
        users, items : array_like of shape (m,)
            Ids as the data wrote them (integers or strings).
        times : array_like of shape (m,) or None
            Seconds, for the day biases.
        std : bool, default True
            Also the predictive standard deviations.
        unknown : "error" or "baseline"
            An id the model lacks: a ValueError naming it, or the baseline for that pair.

        Returns
        -------
        Predictions
        """
        rows = self._rows(users, "user", unknown)
        cols = self._cols(items, "item", unknown)
        if len(rows) != len(cols):
            raise ValueError(f"users and items must be as many, got {len(rows)} and "
                             f"{len(cols)}")
        found = serving.predict(self.model, rows, cols, unknown=True, return_std=std,
                                times=times)
        pred, spread = found if std else (found, None)
        return Predictions(np.asarray(users), np.asarray(items), pred, spread,
                           (rows >= 0) & (cols >= 0))

    def recommend(self, user: Any, n: int = 10, *, ranking: str = lists.DEFAULT_RANKING,
                  time: Optional[float] = None, unknown: str = "error") -> Recommendations:
        """A user's n best items among those they have not rated, in item ids.

        ``ranking`` is one of ``mixrec.RANKINGS`` (by default the chance of a relevant
        rating); a user the model lacks is an error, or with ``unknown="baseline"`` gets a
        new user's list placed from no rating.
        """
        row = self._rows([user], "user", unknown)[0]
        who = row if row >= 0 else serving.fold_in(self.model, np.zeros(0, int), np.zeros(0))
        return self._in_ids(user, lists.top_n(self.model, None, who, n, ranking=ranking,
                                              time=time), ranking)

    def recommend_new(self, ratings: Union[Mapping[Any, float], tuple], n: int = 10, *,
                      times: Optional[Sequence[float]] = None,
                      ranking: str = lists.DEFAULT_RANKING) -> Recommendations:
        """A new user's list, placed from their own ratings without a refit (milliseconds).

        Parameters
        ----------
        ratings : mapping or (items, ratings)
            ``{item id: rating}``, or two sequences; items the model lacks are left out.
        times : array_like or None
            Each rating's time (seconds), for the new user's day biases.
        """
        self._fitted()
        if isinstance(ratings, Mapping):
            items, values = list(ratings.keys()), list(ratings.values())
        elif isinstance(ratings, (tuple, list)) and len(ratings) == 2:
            items, values = ratings
        else:
            raise ValueError(f"ratings must be {{item id: rating}} or (items, ratings), got "
                             f"{serving.display_of(ratings)}")
        cols = ids.index_of(self.item_ids, _as_ids(items, "items"))
        placed = serving.fold_in(self.model, cols, values, times=times)
        return self._in_ids(None, lists.top_n(self.model, None, placed, n, ranking=ranking),
                            ranking)

    def groups(self, n: int = 5, *, min_ratings: int = 0) -> list:
        """The taste groups, largest first: each one's share of users, and the items (with
        at least ``min_ratings`` training ratings) it rates most above and below the
        baseline, in item ids."""
        counts = np.bincount(self._fitted().rated_indices, minlength=len(self.item_ids))
        if isinstance(min_ratings, bool) or not isinstance(min_ratings, (int, float, np.integer,
                                                                          np.floating)) \
                or not min_ratings >= 0:  # NaN too: it would leave every list empty
            raise ValueError(f"min_ratings must be a number >= 0, got {min_ratings!r}")
        found = serving.groups(self.model, n, candidates=counts >= min_ratings)
        return [TasteGroup(g.weight, self.item_ids[g.above], g.above_by,
                           self.item_ids[g.below], g.below_by) for g in found]

    # -- the file ------------------------------------------------------------------------

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the model and its ids to path (atomically; read back by ``load``)."""
        modelfile.save(self._fitted(), path, user_ids=self.user_ids, item_ids=self.item_ids)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Recommender":
        """A Recommender from a file ``save`` (or ``mixrec fit``) wrote, its ids with it."""
        found = cls.__new__(cls)
        found.hyper_parameters, found.summary = {}, {}
        found.model, found.user_ids, found.item_ids = modelfile.load_with_ids(path)
        return found

    # -- ids to indices and back ---------------------------------------------------------

    def _fitted(self):
        if self.model is None:
            raise ValueError("this Recommender is not fitted: call fit (or load) first")
        return self.model

    def _rows(self, values, name, unknown):
        return self._index(self.user_ids, values, name, unknown)

    def _cols(self, values, name, unknown):
        return self._index(self.item_ids, values, name, unknown)

    def _index(self, known, values, name, unknown):
        """Each id's index among known ids; an unknown one is an error naming it, or -1."""
        self._fitted()
        if unknown not in UNKNOWN:
            raise ValueError(f"unknown must be one of {UNKNOWN}, got {unknown!r}")
        found = ids.index_of(known, _as_ids(values, f"{name}s"))
        missing = np.flatnonzero(found < 0)
        if len(missing) and unknown == "error":
            shown = ids.texts(np.asarray(_as_ids(values, name))[missing[:1]])[0]
            raise ValueError(f"{name} {shown!r} is not in the model ({len(known)} {name}s"
                             + (f"; {len(missing)} of the ids asked for are not" if
                                len(missing) > 1 else "")
                             + "); unknown='baseline' scores such pairs by the baseline")
        return found

    def _in_ids(self, user, found, ranking):
        return Recommendations(user, self.item_ids[found.items], found.scores, found.std,
                               found.key, ranking)


def _as_ids(values, name):
    """Ids asked for as a 1-D array (a scalar id is refused: it names one, give a list)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ids, got shape {array.shape}")
    if array.size == 0:  # [] is float to numpy: no id asked for, an empty answer
        return array.astype(np.int64)
    if array.dtype.kind not in "iuOU":
        raise ValueError(f"{name} must hold integer or string ids, got dtype {array.dtype}")
    return array


def _frame_columns(frame, columns):
    """(users, items, ratings, timestamps or None) from a data frame, its columns found by
    their names (``textfiles.ROLES``), by roles in order, or by a {role: name} mapping."""
    if not hasattr(frame, "columns") or not hasattr(frame, "__getitem__"):
        raise ValueError(f"data must be a ratings file's path or a data frame, got "
                         f"{type(frame).__name__} (columns go in users=, items=, ratings=)")
    labels = list(frame.columns)
    names = [str(label) for label in labels]
    if isinstance(columns, Mapping):
        chosen = _mapped_columns(columns, labels, names)
    elif columns is not None:
        roles = parse_columns(columns, "ratings")
        if len(roles) != len(labels):
            raise ValueError(f"columns names {len(roles)} roles for a frame of {len(labels)} "
                             "columns")
        chosen = {role: label for role, label in zip(roles, labels) if role != "-"}
    else:
        chosen = _named_columns(labels, names)
    missing = [role for role in ("user", "item", "rating") if role not in chosen]
    if missing:
        raise ValueError(f"the frame's columns {names} name no {' and no '.join(missing)} "
                         "column; say which is which with columns={'user': ..., 'item': ..., "
                         "'rating': ...}")
    # datetimes (any unit, timezone-aware too) become seconds in baseline.check_times
    times = frame[chosen["timestamp"]] if "timestamp" in chosen else None
    return (frame[chosen["user"]], frame[chosen["item"]], frame[chosen["rating"]], times)


def _named_columns(labels, names):
    """{role: label} from the columns' names; a role two columns name is refused (as a
    file's header naming a column twice is), never settled by which comes first."""
    chosen = {}
    for label, name in zip(labels, names):
        key = "".join(c for c in name.lower() if c.isalnum())
        role = next((role for role, known in ROLES.items() if key in known), None)
        if role is None:
            continue
        if role in chosen:
            raise ValueError(f"the frame's columns {str(chosen[role])!r} and {name!r} both "
                             f"name the {role}; say which is which with columns={{'user': "
                             "..., 'item': ..., 'rating': ...}")
        chosen[role] = label
    return chosen


def _mapped_columns(columns, labels, names):
    """{role: label} from columns={role: column name}, or ValueError naming the entry: a
    role that is not one, a column the frame lacks, or one column given two roles."""
    roles = ("user", "item", "rating", "timestamp")
    chosen = {}
    for role, name in columns.items():
        if role not in roles:
            raise ValueError(f"columns names the role {role!r}; the roles are "
                             f"{', '.join(roles)}")
        if name in labels:  # the column's own label (an int, say) or its text
            label = labels[labels.index(name)]
        elif names.count(str(name)) == 1:
            label = labels[names.index(str(name))]
        else:
            raise ValueError(f"columns[{role!r}] is {name!r}, which is not a column of the "
                             f"frame (its columns: {names})")
        if any(label is other or label == other for other in chosen.values()):
            raise ValueError(f"columns gives the column {str(label)!r} two roles")
        chosen[role] = label
    return chosen

