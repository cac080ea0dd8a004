"""The recommender's baseline: the mean plus user, item and user-day biases.

``r_ul(t) ~ mean + user_bias[u] + item_bias[l] + day_bias[u, day(t)]``, fitted by
alternating closed forms (scikit-surprise's ``BaselineOnly``, with timeSVD++'s day term):
each bias is the regularised mean of what the others leave,

    item_bias[l]     = sum_{u rated l} (r - mean - user_bias - day_bias) / (item_reg + n_l)
    user_bias[u]     = sum_{l rated by u} (r - mean - item_bias - day_bias) / (user_reg + n_u)
    day_bias[u, t]   = sum_{ratings of u on day t} (r - mean - item_bias - user_bias)
                       / (day_reg + n_ut)

The regularisers are pseudo-counts (ratings' worth of evidence), so they mean the same on
any rating scale. A pseudo-count given as None is learned: with Gaussian priors on the
biases, mean-field variational Bayes (Lim and Teh's, for matrix factorisation) alternates
each bias's posterior, its mean the update above, its variance ``noise / (reg + n)``, with
the prior's variance, the mean posterior second moment of the biases that have ratings, and
the noise, the expected squared error; the pseudo-count is ``noise / prior variance``.
Learned (``user_reg=None, item_reg=None``), the users' and the items' pseudo-counts gain
0.005 RMSE on MovieTweetings' validation ratings but lose 0.001-0.003 on FilmTrust and
MovieLens, and the predictive std then runs narrow (MovieTweetings: 93% within two std, 90%
after 20 epochs): the fixed ones stay the default. A day is a UTC calendar day of the ratings' timestamps: users rate in
sessions, and a user's mood of the day is a bias of its own (97% of MovieLens' held-out
ratings fall on a day the user also rated in training). A day the user never rated on in
training, "now" included, has no day bias: what a user felt on the days they rated says
nothing about today.
"""
from typing import NamedTuple

import numpy as np

SECONDS_PER_DAY = 86400
# Timestamps are seconds since 1970-01-01 UTC, from 1900-01-01 to 2200-01-01: any later or
# earlier is a unit mistake (milliseconds, days) or garbage, refused rather than misfiled.
TIME_RANGE = (-2_208_988_800.0, 7_258_118_400.0)
# Day numbers lie within +-MAX_DAY (TIME_RANGE's days do), so (user, day) keys cannot collide.
MAX_DAY = 100_000


def check_times(times, m, name="times"):
    """Timestamps as a float (m,) array, NaN where unknown, or ValueError naming them: each
    must be NaN or seconds within TIME_RANGE (1900 to 2200)."""
    try:
        times = np.asarray(seconds_of(times), dtype=float).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold numbers (seconds since 1970) or datetimes, got "
                         f"{err}") from None
    if times.shape != (m,):
        raise ValueError(f"{name} must hold one timestamp per rating ({m}), got {times.shape}")
    known = ~np.isnan(times)
    bad = np.flatnonzero(known & ~((times >= TIME_RANGE[0]) & (times <= TIME_RANGE[1])))
    if len(bad):
        raise ValueError(f"{name}[{bad[0]}] is {times[bad[0]]!r}: a timestamp is seconds since "
                         "1970 between 1900 and 2200 (NaN where unknown)")
    return times


def seconds_of(times):
    """Datetimes as seconds since 1970 (float, NaT as NaN): numpy datetime64 of any unit
    (float() would read 2005-01-01 in days as 12784 seconds), or a pandas Series of them,
    timezone-aware ones taken in UTC. Anything else is returned as it is."""
    zone = getattr(getattr(times, "dt", None), "tz", None)  # .dt only on datetimes
    if zone is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    array = np.asarray(times)
    if array.dtype.kind == "M":
        return (array - np.datetime64(0, "s")) / np.timedelta64(1, "s")
    return times


class Baseline(NamedTuple):
    """A fitted baseline: plain arrays."""

    mean: float
    user_bias: np.ndarray  # (n,)
    item_bias: np.ndarray  # (d,)
    day_users: np.ndarray  # (m,) int: the user of each (user, day) with a bias
    days: np.ndarray  # (m,) int64: its UTC day number, sorted by (user, day)
    day_bias: np.ndarray  # (m,)
    user_reg: float = 0.0  # the pseudo-counts it was fitted with, given or learned
    item_reg: float = 0.0
    day_reg: float = 0.0


# Where a learned pseudo-count starts (surprise's BaselineOnly's, in ratings' worth).
STARTS = {"user": 15.0, "item": 10.0, "day": 5.0}


# Rounds of alternating updates (of a fit's biases, or of a new user's) at most: each is a
# pass over the ratings, and the updates settle in tens; 10**12 asked for would never end.
MAX_EPOCHS = 10_000


def check_epochs(name, epochs):
    """Return epochs as an int in 0..MAX_EPOCHS, or ValueError naming it."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or \
            not 0 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"{name} must be an integer in 0..{MAX_EPOCHS} (the updates settle "
                         f"in tens), got {epochs!r}")
    return int(epochs)


def fit(rows, cols, ratings, shape, times=None, *, user_reg=15.0, item_reg=10.0,
        day_reg=5.0, epochs=10):
    """Fit the baseline to ratings given as triples (every triple a rating).

    Parameters
    ----------
    rows, cols : ndarray of int, shape (m,)
        User and item of each rating.
    ratings : ndarray of shape (m,)
    shape : (n, d)
    times : ndarray of shape (m,) or None
        Timestamps in seconds (NaN where unknown); None fits no day biases.
    user_reg, item_reg, day_reg : float or None
        Pseudo-counts >= 0 of the three biases, or None to learn one.
    epochs : int
        Rounds of alternating updates.

    Returns
    -------
    Baseline
    """
    epochs = check_epochs("epochs", epochs)
    n, d = shape
    mean = float(ratings.mean())
    user_count = np.bincount(rows, minlength=n)
    item_count = np.bincount(cols, minlength=d)
    day_users, days, day_of = _day_groups(rows, times)
    day_count = np.bincount(day_of[day_of >= 0], minlength=len(days))
    dated = day_of >= 0
    user_bias, item_bias, day_bias = np.zeros(n), np.zeros(d), np.zeros(len(days))
    day_term = np.zeros(len(ratings))
    given = {"user": user_reg, "item": item_reg, "day": day_reg}
    regs = {name: STARTS[name] if reg is None else float(reg) for name, reg in given.items()}
    noise = float(np.var(ratings))
    for _ in range(epochs):
        item_bias = np.bincount(cols, ratings - mean - user_bias[rows] - day_term, d) / (
            regs["item"] + item_count)
        user_bias = np.bincount(rows, ratings - mean - item_bias[cols] - day_term, n) / (
            regs["user"] + user_count)
        if len(days):
            left = (ratings - mean - item_bias[cols] - user_bias[rows])[dated]
            day_bias = np.bincount(day_of[dated], left, len(days)) / (regs["day"] + day_count)
            day_term = np.where(dated, day_bias[np.maximum(day_of, 0)], 0.0)
        if None in given.values():
            noise = _learn(regs, given, noise, ratings - mean - item_bias[cols]
                           - user_bias[rows] - day_term, {"user": (user_bias, user_count),
                                                          "item": (item_bias, item_count),
                                                          "day": (day_bias, day_count)})
    return Baseline(mean, user_bias, item_bias, day_users, days, day_bias, regs["user"],
                    regs["item"], regs["day"])


def _learn(regs, given, noise, error, biases):
    """One variational Bayes update of the pseudo-counts given as None (in ``regs``, in
    place) and of the noise, which it returns.

    Each bias's posterior variance is ``noise / (reg + count)``; the noise becomes the
    expected squared error, ``error`` and those variances; a prior's variance the mean
    posterior second moment of the biases that have ratings; a pseudo-count noise / prior
    variance. ``biases`` maps each name to (biases, their rating counts)."""
    variances = {name: noise / (regs[name] + count) for name, (_, count) in biases.items()}
    spread = sum(float(biases[name][1] @ var) for name, var in variances.items())
    noise = max(float(error @ error + spread) / len(error), 1e-300)
    for name, (bias, count) in biases.items():
        rated = count > 0
        if given[name] is None and rated.any():
            prior = float(np.mean(bias[rated] ** 2 + variances[name][rated]))
            # a prior variance of 0 (every bias 0) would be an infinite pseudo-count
            regs[name] = min(noise / max(prior, 1e-300), MAX_REG)
    return noise


# The largest pseudo-count: a bias held at 0 by the evidence of 1e12 ratings.
MAX_REG = 1e12


def _day_groups(rows, times):
    """The distinct (user, day) pairs of dated ratings, sorted, and each rating's pair (-1
    for a rating without a time)."""
    if times is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty.astype(np.int32), empty, np.full(len(rows), -1)
    dated = np.isfinite(times)
    day = np.where(dated, np.floor(np.where(dated, times, 0) / SECONDS_PER_DAY), 0)
    key = _key(rows, day.astype(np.int64))
    distinct, day_of = np.unique(key[dated], return_inverse=True)
    out = np.full(len(rows), -1)
    out[dated] = day_of
    users, days = _unkey(distinct)
    return users.astype(np.int32), days, out


# (user, day) as one sortable int64, user * (2 MAX_DAY + 1) + (day + MAX_DAY): no two pairs
# share a key, since every day lies within +-MAX_DAY (days before 1970 sort too).
_DAYS_PER_USER = 2 * MAX_DAY + 1


def _key(users, days):
    return users.astype(np.int64) * _DAYS_PER_USER + (days + MAX_DAY)


def _unkey(keys):
    users, days = np.divmod(keys, _DAYS_PER_USER)
    return users, days - MAX_DAY


def day_numbers(times):
    """UTC day numbers of timestamps in seconds (int64; -2**62 where a time is NaN)."""
    times = np.asarray(times, dtype=float)
    known = np.isfinite(times)
    return np.where(known, np.floor(np.where(known, times, 0) / SECONDS_PER_DAY),
                    -2 ** 62).astype(np.int64)


def predict(baseline, rows, cols, times=None):
    """The baseline at (user, item[, time]) triples; -1 marks a user or item it lacks.

    Parameters
    ----------
    baseline : Baseline
    rows, cols : ndarray of int, shape (m,)
        -1 for a user or item without a training rating: its bias is 0.
    times : ndarray of shape (m,) or None
        Timestamps in seconds; a day bias applies where the user rated on that day in
        training. None (or NaN): no day bias.

    Returns
    -------
    ndarray of shape (m,)
    """
    user_known, item_known = rows >= 0, cols >= 0
    safe_rows, safe_cols = np.maximum(rows, 0), np.maximum(cols, 0)
    out = (baseline.mean + np.where(user_known, baseline.user_bias[safe_rows], 0)
           + np.where(item_known, baseline.item_bias[safe_cols], 0))
    if times is not None and len(baseline.days):
        found = day_index(baseline, rows, times)
        out = out + np.where(found >= 0, baseline.day_bias[np.maximum(found, 0)], 0)
    return out


def day_index(baseline, rows, times):
    """The row of each (user, day of time) in the baseline's day table, or -1."""
    days = day_numbers(times)
    keys = _key(baseline.day_users, baseline.days)
    if len(keys) == 0:
        return np.full(len(rows), -1)
    dated = np.abs(days) <= MAX_DAY  # NaN times' -2**62 and anything out of range: no day
    wanted = _key(np.maximum(rows, 0), np.where(dated, days, 0))
    position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    hit = (keys[position] == wanted) & (rows >= 0) & dated
    return np.where(hit, position, -1)
