"""What the command line shows: text from files made safe for a terminal, progress on
stderr, and the fit's plot (matplotlib, imported only when a plot is asked for)."""
import sys
import time

from mixrec import outputs


def safe(text):
    """Text from a file, safe to print: control and format characters (terminal escapes,
    newlines, NULs, bidirectional overrides) escaped as ``\\xNN`` / ``\\uNNNN``."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else
                   f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)


def on_terminal(stream=None):
    """Whether a stream (stderr by default) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    return hasattr(stream, "isatty") and stream.isatty()


def load_progress(path, quiet=False):
    """A ``load_ratings`` progress that reports every tenth of the file on stderr."""
    start, shown = time.perf_counter(), [-1]

    def progress(done, total):
        if quiet:
            return
        tenth = 10 * done // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            print(f"  loading {path}: {done / 1e6:.0f} of {total / 1e6:.0f} MB "
                  f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return progress


def sweep_progress(K, seeds):
    """A ``run`` callback for em.best_run that reports each iteration on stderr."""
    start, seed = time.perf_counter(), iter(seeds)
    current = [None]

    def callback(iteration, ll):
        if iteration == 1:  # best_run starts the next seed's run
            current[0] = next(seed)
        print(f"  K = {K} seed {current[0]} iteration {iteration}: log-likelihood {ll:.4f} "
              f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return callback


class FitProgress:
    """A ``recommender.fit`` callback: progress per stage on stderr, and each run's trace.

    On a terminal, one line per stage that updates in place (stage, runs still going,
    iteration, elapsed time and an estimate of the time left); elsewhere (a log file) one
    plain line as each stage starts and one as the fit ends.
    """

    def __init__(self, quiet, traces, what, stream=None):
        self.quiet, self.traces, self.what = quiet, traces, what
        self.stream = sys.stderr if stream is None else stream
        self.live = on_terminal(self.stream)
        self.start = self.stage_start = time.perf_counter()
        self.stage = None
        self.sides = {}  # stage -> "items" or "users": which are its mixtures' rows
        self.stage_seconds = {}  # side -> seconds per finished stage of that side
        self.shown_at = 0.0

    def __call__(self, progress):
        self.traces.setdefault((progress.stage, progress.run), []).append(
            progress.log_likelihood)
        self.sides[progress.stage] = progress.side
        if self.quiet:
            return
        now = time.perf_counter()
        if progress.stage != self.stage:
            self._stage_done(now)
            self.stage, self.side, self.stage_start = progress.stage, progress.side, now
            self.n_stages = progress.n_stages
            if not self.live:
                print(f"  {self._name(progress)}: {progress.n_runs} EM runs "
                      f"({now - self.start:.1f} s)", file=self.stream, flush=True)
        self.going = progress.run
        if self.live and (now - self.shown_at > 0.2 or progress.iteration == 1):
            self.shown_at = now
            left = self._time_left(progress, now)
            line = (f"  {self._name(progress)}: iteration {progress.iteration}, "
                    f"{now - self.start:.0f} s elapsed" + (f", about {left:.0f} s left"
                                                             if left is not None else ""))
            print("\r\x1b[K" + line, end="", file=self.stream, flush=True)

    def _name(self, progress):
        if progress.stage == 0:
            return f"fitting on {self.what}: taste groups"
        return f"stage {progress.stage}/{progress.n_stages}, {progress.side} as rows"

    def _stage_done(self, now):
        if self.stage is not None and self.stage > 0:
            self.stage_seconds.setdefault(self.side, []).append(now - self.stage_start)
        if self.live and self.stage is not None:
            print(file=self.stream)

    def _time_left(self, progress, now):
        """Seconds left: the stages to come, at the pace of the finished ones of their side
        (the current one from its own pace when none has finished)."""
        done = [s for seconds in self.stage_seconds.values() for s in seconds]
        if not done:
            return None
        pace = sum(done) / len(done)
        return max(0.0, pace * (progress.n_stages - progress.stage + 1) - (now - self.stage_start))

    def close(self):
        """End the progress display (its last line, and the total time)."""
        if self.quiet or self.stage is None:
            return
        if self.live:
            print(file=self.stream)
        print(f"  fitted in {time.perf_counter() - self.start:.1f} s", file=self.stream,
              flush=True)


def require_matplotlib():
    """ValueError saying how to get matplotlib when it cannot be imported (before a fit)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install matplotlib") from None


def plot_fit(path, traces, scores, title, sides=None):
    """Each EM run's log-likelihood per iteration, a panel per stage, and the held-out RMSEs.

    A stage fits residuals of its own, so each has its own axis. A stage with items as rows
    is drawn from its second iteration: from there the pattern of ratings is part of the
    objective, which makes the first value incomparable. The RMSEs are labelled bars on an
    axis from 0. Written atomically; the format follows the extension.
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    sides = sides or {}
    stages = sorted({stage for stage, _ in traces})
    columns = min(3, len(stages) + 1)
    rows = -(-(len(stages) + 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows),
                                squeeze=False)
    panels = list(axes.ravel())
    colours = plt.get_cmap("tab10")
    for panel, stage in zip(panels, stages):
        side = sides.get(stage, "")
        first = 2 if side == "items" and stage > 0 else 1
        for run in sorted(run for s, run in traces if s == stage):
            lls = traces[(stage, run)][first - 1:]
            panel.plot(range(first, first + len(lls)), lls, color=colours(stage % 10),
                       alpha=.6, lw=1)
        panel.set_title("taste groups (users as rows)" if stage == 0 else
                        f"stage {stage}" + (f": {side} as rows" if side else ""), fontsize=9)
        panel.set_xlabel("EM iteration", fontsize=8)
        panel.set_ylabel("log-likelihood of each run", fontsize=8)
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.tick_params(labelsize=7)
    bars = panels[len(stages)]
    names = sorted(scores, key=scores.get)
    values = [scores[name] for name in names]
    bars.barh(range(len(names)), values, color="tab:blue")
    bars.set_yticks(range(len(names)), [name.split(" (")[0] for name in names], fontsize=8)
    bars.invert_yaxis()
    bars.set_xlim(0, 1.3 * max(values))
    for position, value in enumerate(values):
        bars.text(value, position, f" {value:.4f}", va="center", fontsize=8)
    bars.set_title("held-out RMSE (lower is better)", fontsize=9)
    bars.tick_params(axis="x", labelsize=7)
    for panel in panels[len(stages) + 1:]:
        panel.set_visible(False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with outputs.atomic_write(path) as f:
        figure.savefig(f, dpi=110, format=path.rsplit(".", 1)[-1].lower())
    plt.close(figure)
