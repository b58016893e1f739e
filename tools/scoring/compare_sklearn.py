#!/usr/bin/env python3
"""Checks `marketlounge score train-table` against scikit-learn, trusting none of its own numbers.

Usage: compare_sklearn.py OURS_JSON OURS_PREDICTIONS CSV LABEL ID DROP[,DROP…]
           [--max-auc-gap 0.01] [--max-ece 0.03] [--max-relative-gap 1e-3]

The split is the trainer's: a row trains when FNV-1a (64 bits) of its id text, modulo 100, is
below 70. Features are every column but the label, the id and the dropped ones. The reference
solves the trainer's objective with its default options (`schema/settings.default.json`), fixed
here, not read from our report: StandardScaler (population standard deviation, fitted on the
training part), LogisticRegression(C=1, L2, class_weight="balanced", unpenalised intercept),
minimised by Newton's method to a tight tolerance.

Checks, each one a failure when not met:
  - our coefficients and intercept, on the columns' original scale, are scikit-learn's to a
    relative difference of 1e-3 (with an absolute floor near 0, see COEFFICIENT_FLOOR);
  - our per-row output is the test part of the split, in order, with the CSV's labels, and each
    row's logit is the one our reported coefficients give;
  - ROC-AUC and ECE are recomputed here from our per-row probabilities (scikit-learn and numpy):
    the AUC is within 0.01 of scikit-learn's own model's, the ECE at most 0.03, and the metrics
    our binary reported equal the recomputed ones (a check of our metrics code).
Exit status 1 when a check fails.
"""

import argparse
import csv
import json
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

# The objective of the reference: the trainer's defaults (schema/settings.default.json,
# scoring.c and scoring.balance_classes). A binary fitted with other options must fail.
C = 1.0
CLASS_WEIGHT = "balanced"

# Absolute floor of the coefficient comparison, in logits per standard deviation of the
# feature: a coefficient is compared to 1e-3 relative to max(|its value|, this floor). Both fits
# stop at a gradient tolerance, not at the exact optimum, so a coefficient close to 0 keeps an
# absolute error of the order of the tolerance divided by the curvature, which no relative
# bound can absorb. At 0.01 per standard deviation a coefficient moves a row's logit by less
# than 0.04 across ±2 standard deviations of its feature (under one point of probability), and
# the floor still demands agreement to 1e-5 logits per standard deviation, far above both fits'
# stopping error (on UniversalBank.csv the largest relative gap is about 1e-14 and no
# coefficient is small enough for the floor to apply). The floor is scaled to each column's
# unit by its standard deviation; the intercept is already in logits.
#
# How sharp the bound is, measured on UniversalBank.csv: our binary run with scoring.c = 1.01
# (`--settings`) fails (relative gap 4.3e-3 on Age), with 1.001 it passes (4.3e-4); without
# class balancing the gap is 1.8.
COEFFICIENT_FLOOR = 0.01

# Our reported metrics must equal the recomputed ones up to summation-order rounding.
METRIC_ROUNDING = 1e-9


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error, written from its definition: over equal-width bins on [0, 1]
    (bin floor(p * bins), p = 1 in the last), the sum of |sum of p - positives| over n."""
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        gap += abs(p[inside].sum() - y[inside].sum())
    return gap / len(p)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ours")
    parser.add_argument("predictions")
    parser.add_argument("csv")
    parser.add_argument("label")
    parser.add_argument("id")
    parser.add_argument("drop")
    parser.add_argument("--max-auc-gap", type=float, default=0.01)
    parser.add_argument("--max-ece", type=float, default=0.03)
    parser.add_argument("--max-relative-gap", type=float, default=1e-3)
    args = parser.parse_args()

    with open(args.ours) as f:
        ours = json.load(f)
    with open(args.predictions) as f:
        predictions = [json.loads(line) for line in f if line.strip()]
    drop = {d for d in args.drop.split(",") if d}
    with open(args.csv, newline="") as f:
        rows = [[cell.strip() for cell in row] for row in csv.reader(f)]
    header, body = rows[0], [r for r in rows[1:] if r]
    label_at, id_at = header.index(args.label), header.index(args.id)
    features = [j for j, name in enumerate(header) if j not in (label_at, id_at) and name not in drop]
    names = [header[j] for j in features]
    x = np.array([[float(r[j]) for j in features] for r in body])
    y = np.array([int(float(r[label_at])) for r in body])
    ids = [r[id_at] for r in body]
    train = np.array([fnv1a64(i) % 100 < 70 for i in ids])
    failures = []

    # The reference fit, on the same objective.
    scaler = StandardScaler().fit(x[train])
    reference = LogisticRegression(C=C, class_weight=CLASS_WEIGHT, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reference.fit(scaler.transform(x[train]), y[train])
    sk_slopes = reference.coef_[0] / scaler.scale_
    sk_intercept = reference.intercept_[0] - sk_slopes @ scaler.mean_

    n_train, n_test = int(train.sum()), int((~train).sum())
    print(f"split: {n_train} train / {n_test} test (ours: {ours['n_train']} / {ours['n_test']})")
    if (n_train, n_test) != (ours["n_train"], ours["n_test"]):
        failures.append("the splits differ")
    options = ours["logistic"]
    print(f"ours: C {options['c']}, balanced classes {options['balance_classes']}, "
          f"{ours['iterations']} Newton steps, converged {ours['converged']}; reference: C {C}, {CLASS_WEIGHT}")
    if not ours["converged"]:
        failures.append("our fit did not converge")

    # Coefficients, by column name and in order.
    our_names = [c["feature"] for c in ours["coefficients"]]
    if our_names != names:
        failures.append(f"our coefficients name {our_names}, the table's features are {names}")
    else:
        our_slopes = np.array([c["value"] for c in ours["coefficients"]])
        compared = [("(intercept)", ours["intercept"], sk_intercept, COEFFICIENT_FLOOR)]
        compared += [(n, o, s, COEFFICIENT_FLOOR / sd) for n, o, s, sd in zip(names, our_slopes, sk_slopes, scaler.scale_)]
        worst = 0.0
        print(f"{'coefficient':<20} {'ours':>14} {'scikit-learn':>14} {'gap / bound':>12}")
        for name, o, s, floor in compared:
            gap = abs(o - s) / max(abs(s), floor)
            worst = max(worst, gap)
            print(f"{name:<20} {o:>14.8g} {s:>14.8g} {gap / args.max_relative_gap:>12.2e}")
            if not gap <= args.max_relative_gap:
                failures.append(f"coefficient {name}: ours {o:.8g}, scikit-learn {s:.8g} "
                                f"(relative gap {gap:.2e} > {args.max_relative_gap})")
        print(f"largest relative gap {worst:.2e} (bound {args.max_relative_gap})")

    # Our per-row output: the test rows, in order, with their labels and our coefficients' logits.
    test_ids = [i for i, t in zip(ids, train) if not t]
    if [p["id"] for p in predictions] != test_ids:
        failures.append(f"our predictions are not the {n_test} test rows in order ({len(predictions)} rows)")
        p_ours = np.array([])
    else:
        p_ours = np.array([p["probability"] for p in predictions])
        labels = np.array([int(p["label"]) for p in predictions])
        if not np.array_equal(labels, y[~train]):
            failures.append("our predictions' labels are not the CSV's")
        if our_names == names:
            logits = ours["intercept"] + x[~train] @ np.array([c["value"] for c in ours["coefficients"]])
            written = np.array([p["logit"] for p in predictions])
            off = np.abs(logits - written) / np.maximum(np.abs(logits), 1.0)
            if not off.max() <= 1e-9:
                failures.append(f"our written logits are not our coefficients' (relative gap up to {off.max():.2e})")
        if not (np.all(np.isfinite(p_ours)) and np.all((p_ours > 0) & (p_ours < 1))):
            failures.append("our probabilities are not all inside (0, 1)")

    if len(p_ours) == n_test and not any("inside (0, 1)" in f for f in failures):
        y_test = y[~train]
        auc = roc_auc_score(y_test, p_ours)
        our_ece = ece(p_ours, y_test)
        sk_auc = roc_auc_score(y_test, reference.predict_proba(scaler.transform(x[~train]))[:, 1])
        gap = abs(auc - sk_auc)
        print(f"ROC-AUC of our probabilities {auc:.4f}, of scikit-learn's model {sk_auc:.4f}: "
              f"gap {gap:.4f} (bound {args.max_auc_gap})")
        print(f"ECE of our probabilities {our_ece:.4f} (bound {args.max_ece})")
        if not gap <= args.max_auc_gap:
            failures.append(f"ROC-AUC gap {gap:.4f} > {args.max_auc_gap}")
        if not our_ece <= args.max_ece:
            failures.append(f"ECE {our_ece:.4f} > {args.max_ece}")
        for name, recomputed in [("auc", auc), ("ece", our_ece)]:
            if not abs(ours[name] - recomputed) <= METRIC_ROUNDING:
                failures.append(f"our report's {name} {ours[name]!r} is not the recomputed {float(recomputed)!r}")

    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
