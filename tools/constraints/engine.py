"""MarketLounge as the benchmark drives it: the generator, an index built by the CLI, the demo's
opportunity scores, a server on a free loopback port, and /api/v1/match queries. Every step is
bounded in time; the server is stopped by its own process id."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .refdata import path as repo_path

# The end of the generated history (datagen's default --end): the demo applies scores as of it.
DEMO_AS_OF = "2026-06-30"


def log(msg):
    print(f"eval-constraints: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(file, lines=30):
    try:
        with open(file, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class StepFailed(Exception):
    pass


def run_step(what, argv, logfile, timeout):
    """Runs one command with its output in `logfile`; a failure or a timeout names the step and
    shows the end of its log."""
    started = time.monotonic()
    with open(logfile, "ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"{what}: no answer after {timeout} s (log: {logfile})\n{tail(logfile)}")
    if proc.returncode != 0:
        raise StepFailed(f"{what}: exit status {proc.returncode} (log: {logfile})\n{tail(logfile)}")
    return time.monotonic() - started


class MarketLounge:
    def __init__(self, bin_dir, work, embedder, base_settings=None, vector_cache=None):
        self.bin = os.path.join(bin_dir, "marketlounge")
        self.datagen_bin = os.path.join(bin_dir, "datagen")
        for exe in (self.bin, self.datagen_bin):
            if not os.access(exe, os.X_OK):
                raise StepFailed(f"{exe} is missing or not executable (--bin-dir)")
        self.work = work
        self.embedder = embedder
        self.data = os.path.join(work, "index")
        self.logfile = os.path.join(work, "marketlounge.log")
        self.settings = os.path.join(work, "settings.json")
        settings = json.load(open(base_settings or repo_path("schema", "settings.default.json"), encoding="utf-8"))
        # The embedder is in the settings, not only on the command line: the server embeds the
        # queries with the settings' embedder, which must be the index's.
        settings.setdefault("index", {})["embedder"] = embedder
        # One indexing thread makes the build reproducible: with two, the order of the documents
        # in the index changes from run to run, and with it about 3 % of the top-10s.
        settings["index"]["indexing_threads"] = 1
        if vector_cache:
            os.makedirs(vector_cache, exist_ok=True)
            settings.setdefault("embedding", {})["vector_cache_dir"] = os.path.abspath(vector_cache)
        with open(self.settings, "w", encoding="utf-8") as f:
            json.dump(settings, f, indent=2)
        self.proc = None
        self.url = None
        self.timings = {}

    def version(self):
        try:
            return subprocess.run([self.bin, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    def generate(self, companies, seed, out):
        self.timings["datagen_s"] = run_step(
            "datagen", [self.datagen_bin, "--companies", str(companies), "--seed", str(seed), "--out", out],
            self.logfile, 300)

    def build(self, companies_file, timeout):
        log(f"indexing with the {self.embedder} embedder (log: {self.logfile})")
        self.timings["index_build_s"] = run_step(
            "marketlounge index build",
            [self.bin, "--settings", self.settings, "index", "build", "--data", self.data,
             "--companies", companies_file, "--embedder", self.embedder],
            self.logfile, timeout)

    def apply_scores(self, input_dir, timeout=300):
        """What tools/demo does once: ingest the generated signals, articles and outcomes, train
        the opportunity model, apply it (the search prior) as of the end of the history."""
        started = time.monotonic()
        base = [self.bin, "--settings", self.settings, "score"]
        run_step("score ingest", base + [
            "ingest", "--data", self.data,
            "--signals", os.path.join(input_dir, "signals.ndjson"),
            "--articles", os.path.join(input_dir, "articles.ndjson"),
            "--outcomes", os.path.join(input_dir, "outcomes.ndjson")], self.logfile, timeout)
        run_step("score train", base + ["train", "--data", self.data], self.logfile, timeout)
        run_step("score apply", base + ["apply", "--data", self.data, "--as-of", DEMO_AS_OF], self.logfile, timeout)
        self.timings["scores_s"] = time.monotonic() - started

    def start(self, expected_documents, timeout=120):
        started = time.monotonic()
        for attempt in range(3):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            out = open(self.logfile, "ab")
            out.write(f"$ serve on 127.0.0.1:{port}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [self.bin, "--settings", self.settings, "serve", "--data", self.data, "--addr", f"127.0.0.1:{port}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            out.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                        health = json.load(r)
                    if health.get("documents") == expected_documents:
                        self.timings["serve_start_s"] = time.monotonic() - started
                        return health
                except (OSError, ValueError):
                    pass
                time.sleep(0.2)
            if self.proc.poll() is None:
                self.stop()
                raise StepFailed(f"marketlounge serve: not healthy with {expected_documents} documents after "
                                 f"{timeout} s (log: {self.logfile})\n{tail(self.logfile)}")
            self.proc = None
            if "in use" not in tail(self.logfile, 5).lower():
                break
        raise StepFailed(f"marketlounge serve exited (log: {self.logfile})\n{tail(self.logfile)}")

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: the server drains and exits
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def match(self, text, k=10, mode="hybrid", timeout=30):
        body = json.dumps({"query": text, "k": k, "mode": mode}).encode()
        for attempt in range(6):
            req = urllib.request.Request(self.url + "/api/v1/match", data=body,
                                         headers={"content-type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    answer = json.load(r)
                return [h["id"] for h in answer.get("hits", [])], answer
            except urllib.error.HTTPError as err:
                detail = err.read()[:300].decode("utf-8", "replace")
                if err.code == 503 and attempt < 5:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise StepFailed(f"/api/v1/match {text!r}: HTTP {err.code} {detail}")
        raise StepFailed(f"/api/v1/match {text!r}: overloaded")
