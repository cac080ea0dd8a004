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


class LoadProgress:
    """A ``read`` / ``load_ratings`` progress on stderr: on a terminal one line that updates
    in place, elsewhere (a log) one line once the file is read."""

    def __init__(self, path, quiet=False, stream=None):
        self.path, self.quiet = path, quiet
        self.stream = sys.stderr if stream is None else stream
        self.live = on_terminal(self.stream)
        self.start, self.shown_at, self.finished = time.perf_counter(), 0.0, False

    def __call__(self, done, total):
        if self.quiet or self.finished:
            return
        now = time.perf_counter()
        line = (f"  loading {safe(self.path)}: {done / 1e6:.0f} of {total / 1e6:.0f} MB "
                f"({now - self.start:.1f} s)")
        if done >= total:
            self.finished = True
            line = (f"  loaded {safe(self.path)} ({total / 1e6:.0f} MB) in "
                    f"{now - self.start:.1f} s")
            print(("\r\x1b[K" if self.live else "") + line, file=self.stream, flush=True)
        elif self.live and now - self.shown_at > 0.2:
            self.shown_at = now
            print("\r\x1b[K" + line, end="", file=self.stream, flush=True)


def load_progress(path, quiet=False):
    """A progress for reading a ratings file (``LoadProgress``)."""
    return LoadProgress(path, quiet)


class SweepProgress:
    """An ``em.best_run`` callback for the sweep: on a terminal one line per K that updates
    at each iteration; elsewhere one line per run (seed) as it ends."""

    def __init__(self, K, seeds, quiet=False, stream=None):
        self.K, self.seeds, self.quiet = K, iter(seeds), quiet
        self.stream = sys.stderr if stream is None else stream
        self.live = on_terminal(self.stream)
        self.start = time.perf_counter()
        self.seed = self.ll = None
        self.iterations = 0

    def __call__(self, iteration, ll):
        if iteration == 1:  # best_run starts the next seed's run
            self._run_done()
            self.seed = next(self.seeds)
        self.iterations, self.ll = iteration, ll
        if self.live and not self.quiet:
            print(f"\r\x1b[K  K = {self.K} seed {self.seed} iteration {iteration}: "
                  f"log-likelihood {ll:.4f} ({time.perf_counter() - self.start:.1f} s)",
                  end="", file=self.stream, flush=True)

    def _run_done(self):
        if self.seed is None or self.quiet or self.live:
            return
        print(f"  K = {self.K} seed {self.seed}: {self.iterations} iterations, log-likelihood "
              f"{self.ll:.4f} ({time.perf_counter() - self.start:.1f} s)", file=self.stream,
              flush=True)

    def close(self):
        """End the display: the last run's line, or the end of the updating line."""
        self._run_done()
        if self.live and not self.quiet and self.seed is not None:
            print("\r\x1b[K", end="", file=self.stream, flush=True)


class FitProgress:
    """A ``fit`` callback: progress per stage on stderr, and each run's trace.

    On a terminal, one line per stage that updates in place (the stage, its iteration, the
    elapsed time and an estimate of the time left) and ends as "done in N s"; elsewhere (a
    log file) one plain line as the fit starts and one as it ends.
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
        if progress.phase == "fit":  # the model's own runs, not the blend's first fit
            self.traces.setdefault((progress.stage, progress.run), []).append(
                progress.log_likelihood)
            self.sides[progress.stage] = progress.side
        if self.quiet:
            return
        now = time.perf_counter()
        if (progress.phase, progress.stage) != self.stage:
            if self.stage is None and not self.live:
                print(f"  fitting on {self.what}: {progress.n_stages} stages"
                      + (", twice: first on part of the ratings, to weigh the blend"
                         if progress.phase == "blend" else ""), file=self.stream, flush=True)
            self._stage_done(now)
            self.stage, self.side, self.stage_start = ((progress.phase, progress.stage),
                                                       progress.side, now)
            self.name = self._name(progress)
        if self.live and (now - self.shown_at > 0.2 or progress.iteration == 1):
            self.shown_at = now
            left = self._time_left(progress, now)
            line = (f"  {self.name}: iteration {progress.iteration}, "
                    f"{now - self.start:.0f} s elapsed" + (f", about {left:.0f} s left"
                                                             if left is not None else ""))
            print("\r\x1b[K" + line, end="", file=self.stream, flush=True)

    def _name(self, progress):
        first = "for the blend, " if progress.phase == "blend" else ""
        if progress.stage == 0:
            return f"fitting on {self.what}: {first}taste groups"
        return f"{first}stage {progress.stage}/{progress.n_stages}, {progress.side} as rows"

    def _stage_done(self, now):
        """Close the stage's line: on a terminal it ends as done, not as time left."""
        if self.stage is None:
            return
        if self.stage[1] > 0:
            self.stage_seconds.setdefault(self.side, []).append(now - self.stage_start)
        if self.live:
            print(f"\r\x1b[K  {self.name}: done in {now - self.stage_start:.1f} s",
                  file=self.stream, flush=True)

    def _time_left(self, progress, now):
        """Seconds left: the stages to come, at the pace of the finished ones (None before
        one has finished)."""
        done = [s for seconds in self.stage_seconds.values() for s in seconds]
        if not done:
            return None
        pace = sum(done) / len(done)
        to_come = progress.n_stages - progress.stage + 1
        if progress.phase == "blend":  # and the whole fit after it
            to_come += progress.n_stages
        return max(0.0, pace * to_come - (now - self.stage_start))

    def close(self):
        """End the progress display: the last stage's line, and the total time."""
        if self.quiet or self.stage is None:
            return
        self._stage_done(time.perf_counter())
        self.stage = None
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
