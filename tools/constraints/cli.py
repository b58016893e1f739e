"""tools/eval-constraints: the constraint benchmark, MarketLounge's /api/v1/match beside SQLite
FTS5 on the same generated companies and queries (see tools/constraints/README.md)."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import judge, metrics, queries
from .engine import MarketLounge, StepFailed, log
from .fts import Fts5
from .refdata import REPO, RefData


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="tools/eval-constraints",
        description="Constraint precision@10 and nDCG@10 of MarketLounge's /api/v1/match beside SQLite FTS5, "
                    "on generated companies and templated multi-constraint queries.")
    p.add_argument("--set", choices=("dev", "holdout"), default="dev",
                   help="template set: tune on dev only; holdout has other phrasings, places and seed (default dev)")
    p.add_argument("--companies", type=int, default=2000, help="companies to generate (default 2000, the demo's size)")
    p.add_argument("--seed", type=int, help="generator and query seed (default: the set's, dev 42, holdout 2027)")
    p.add_argument("--queries-per-kind", type=int, default=40, help="queries per kind (default 40)")
    p.add_argument("--kinds", help="comma-separated kinds to run (fr.material, en.near, … or a type: near)")
    p.add_argument("--min-relevant", type=int, default=1,
                   help="keep only (process, constraint) pairs with at least this many relevant companies (default 1)")
    p.add_argument("--embedder", choices=("hashed", "onnx", "static", "none"), default="hashed",
                   help="MarketLounge's embedder (default hashed: fast, no model; onnx as tools/demo)")
    p.add_argument("--mode", choices=("hybrid", "lexical", "vector", "rrf"), default="hybrid",
                   help="/api/v1/match mode (default hybrid)")
    p.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--bin-dir", help="directory with the marketlounge and datagen binaries "
                   "(default: build them with tools/cargo-env's build_workspace)")
    p.add_argument("--settings", help="base settings JSON (default schema/settings.default.json); the embedder is set on top")
    p.add_argument("--no-scores", action="store_true",
                   help="skip the demo's opportunity scores (ingest, train, apply); the prior then uses the default base rate")
    p.add_argument("--vector-cache", help="persistent document-vector cache directory (worth it with onnx: "
                   "a second run reuses the vectors; default WORK/vector-cache with --work)")
    p.add_argument("--work", help="working directory (kept; its index is rebuilt every run); "
                   "default a temporary one, removed at the end")
    p.add_argument("--keep", action="store_true", help="keep the temporary working directory")
    p.add_argument("--build-timeout", type=int, help="seconds for the index build (default 600, 3600 with onnx)")
    p.add_argument("--templates", help="templates file (default tools/constraints/templates.json)")
    p.add_argument("--out", help="write the JSON report here")
    p.add_argument("--dump", help="write one JSON line per query here: text, kind, relevant count, each engine's "
                   "hits with the constraints each meets, MarketLounge's interpretation")
    p.add_argument("--check", action="store_true",
                   help="exit 1 unless ML overall P@10 >= 0.85, ML >= FTS5 + 0.15 on every kind, English within 0.10 of French")
    return p.parse_args(argv)


def build_binaries(embedder):
    """The default: the one workspace build every tools/ script makes (tools/cargo-env)."""
    if embedder in ("onnx", "static"):
        subprocess.run([os.path.join(REPO, "tools", "setup-model")], check=True)
    log("building (tools/cargo-env build_workspace; pass --bin-dir to skip)")
    out = subprocess.run(
        ["bash", "-c", 'source tools/cargo-env && build_workspace >&2 && printf %s "$CARGO_TARGET_DIR/release"'],
        cwd=REPO, check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout.strip()


def git_revision():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    ref = RefData(args.templates)
    set_cfg = ref.templates["sets"][args.set]
    seed = args.seed if args.seed is not None else set_cfg["seed"]
    bin_dir = os.path.abspath(args.bin_dir) if args.bin_dir else build_binaries(args.embedder)
    build_timeout = args.build_timeout or (3600 if args.embedder in ("onnx", "static") else 600)

    if args.work:
        work = os.path.abspath(args.work)
        os.makedirs(work, exist_ok=True)
        if os.path.exists(os.path.join(work, "index")):
            shutil.rmtree(os.path.join(work, "index"))
        temporary = False
    else:
        work = tempfile.mkdtemp(prefix="eval-constraints-")
        temporary = not args.keep
    engine = None
    started = time.monotonic()
    try:
        # The index directory is rebuilt every run; a kept working directory keeps the vectors.
        vector_cache = args.vector_cache or (os.path.join(work, "vector-cache") if args.work else None)
        engine = MarketLounge(bin_dir, work, args.embedder, args.settings, vector_cache)
        input_dir = os.path.join(work, "input")
        log(f"{args.set} set: generating {args.companies} companies (seed {seed}) in {input_dir}")
        engine.generate(args.companies, seed, input_dir)
        companies_file = os.path.join(input_dir, "companies.ndjson")
        with open(companies_file, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        facts = [judge.Facts(r, ref) for r in records]
        facts_by_id = {f.id: f for f in facts}

        kinds = set(args.kinds.split(",")) if args.kinds else None
        qs = queries.generate_all(ref, facts, args.set, seed, args.queries_per_kind, kinds, args.min_relevant)
        if not qs:
            raise StepFailed("no query has a relevant company: more --companies?")
        all_kinds = [k for k in queries.Generator(ref, facts, args.set).kinds()
                     if any(q["kind"] == k for q in qs)]
        log(f"{len(qs)} queries in {len(all_kinds)} kinds")

        t = time.monotonic()
        fts = Fts5(records, ref)
        fts_hits = [fts.search(q["text"], args.k) for q in qs]
        fts_seconds = time.monotonic() - t

        engine.build(companies_file, build_timeout)
        if not args.no_scores:
            engine.apply_scores(input_dir)
        engine.start(len(records))
        log(f"serving on {engine.url}; running {len(qs)} queries (mode {args.mode}, k {args.k})")
        t = time.monotonic()
        ml_answers = [engine.match(q["text"], args.k, args.mode) for q in qs]
        ml_seconds = time.monotonic() - t
        engine.stop()

        rows, dump_lines = [], []
        for q, (ml_ids, answer), f_ids in zip(qs, ml_answers, fts_hits):
            judged = {"ml": judge.judge_hits(q["constraints"], ml_ids, facts_by_id),
                      "fts5": judge.judge_hits(q["constraints"], f_ids, facts_by_id)}
            scores = metrics.score_query(q, judged, args.k)
            rows.append((q, scores))
            if args.dump:
                dump_lines.append({
                    "id": q["id"], "kind": q["kind"], "query": q["text"], "n_relevant": len(q["relevant"]),
                    "constraints": q["constraints"], "process_level": q["process_level"],
                    "relevant_sample": q["relevant"][:10],
                    "ml": {"p": scores["ml"]["p"], "ndcg": scores["ml"]["ndcg"], "hits": judged["ml"],
                           "interpretation": answer.get("interpretation")},
                    "fts5": {"p": scores["fts5"]["p"], "ndcg": scores["fts5"]["ndcg"], "hits": judged["fts5"]},
                })
        by_kind, groups = metrics.summarize(rows, all_kinds)
        results = metrics.checks(by_kind, groups)
        table = metrics.markdown(by_kind, groups)
        misses = metrics.markdown_misses(by_kind)

        title = (f"Constraint benchmark, {args.set} set: {len(records)} companies (seed {seed}), "
                 f"{len(qs)} queries, MarketLounge {args.mode} with the {args.embedder} embedder"
                 f"{'' if args.no_scores else ' and the demo opportunity scores'}, k={args.k}")
        print(title + "\n\n" + table + "\n\n" + misses + "\n")
        for c in results:
            print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {c['value']:.3f}")

        report = {
            "config": {
                "set": args.set, "companies": len(records), "seed": seed, "queries_per_kind": args.queries_per_kind,
                "min_relevant": args.min_relevant, "embedder": args.embedder, "mode": args.mode, "k": args.k,
                "scores": not args.no_scores, "marketlounge": engine.version(), "git": git_revision(),
                "bin_dir": bin_dir,
            },
            "timings": dict(engine.timings, fts5_queries_s=round(fts_seconds, 3), ml_queries_s=round(ml_seconds, 3),
                            ml_mean_took_ms=round(sum(a.get("took_ms", 0) for _, a in ml_answers) / len(qs), 2),
                            total_s=round(time.monotonic() - started, 1)),
            "by_kind": {k: dict(v, label=queries.kind_label(k)) for k, v in by_kind.items()},
            "groups": groups,
            "checks": results,
            "markdown": table,
        }
        if args.out:
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(report, f, ensure_ascii=False, indent=2)
        if args.dump:
            with open(args.dump, "w", encoding="utf-8") as f:
                for line in dump_lines:
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")
        log(f"done in {time.monotonic() - started:.1f} s")
        if args.check and not all(c["ok"] for c in results):
            return 1
        return 0
    except StepFailed as err:
        log(f"error: {err}")
        return 2
    finally:
        if engine is not None:
            engine.stop()
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
        elif not args.work:
            log(f"working directory kept: {work}")
