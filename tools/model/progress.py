"""Progress of a long loop on stderr: where it is (done/total), its rate and the time left.

On a terminal one line is redrawn in place (a carriage return, at most twice a second); anywhere
else (a log, CI) a plain line every 10 seconds and a last one at the end, so that a log stays
readable. No dependency: tools/setup-model's converter environment is pinned to what it needs.
"""
import sys
import time


class Progress:
    def __init__(self, label, total, unit, every=10.0):
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self.started = self.last = time.monotonic()
        self.terminal = sys.stderr.isatty()
        # On a terminal the line is cheap to redraw; elsewhere each one stays in the log.
        self.every = 0.5 if self.terminal else every
        self._write(f"{label}: started, {total} {unit}")

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._write(self._line(now), redraw=self.terminal)

    def close(self):
        elapsed = time.monotonic() - self.started
        rate = self.done / max(elapsed, 1e-9)
        if self.terminal:
            sys.stderr.write("\r\033[K")
        self._write(f"{self.label}: done, {self.done}/{self.total} {self.unit} in {elapsed:.1f} s ({rate:.0f}/s)")

    def _line(self, now):
        elapsed = now - self.started
        rate = self.done / max(elapsed, 1e-9)
        percent = 100 * self.done // max(self.total, 1)
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (f"{self.label}: {self.done}/{self.total} {self.unit} ({percent} %), {rate:.0f}/s, "
                f"{elapsed:.1f} s, eta {eta:.0f} s")

    def _write(self, line, redraw=False):
        if redraw:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
