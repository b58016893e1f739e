#!/usr/bin/env python3
"""Compares `marketlounge score train-table` with scikit-learn on the same split and features.

Usage: compare_sklearn.py OURS_JSON CSV LABEL ID DROP[,DROP…] [--max-auc-gap 0.01] [--max-ece 0.03]

The split is the trainer's: a row trains when FNV-1a (64 bits) of its id text, modulo 100, is
below 70. Features are every column but the label, the id and the dropped ones. The reference is
StandardScaler (fitted on the training part) and LogisticRegression(C=1, L2,
class_weight="balanced"), the trainer's defaults; its ROC-AUC on the 30 % is compared with ours,
and our ECE is checked against the bound. Exit status 1 when a bound is not met.
"""

import argparse
import csv
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ours")
    parser.add_argument("csv")
    parser.add_argument("label")
    parser.add_argument("id")
    parser.add_argument("drop")
    parser.add_argument("--max-auc-gap", type=float, default=0.01)
    parser.add_argument("--max-ece", type=float, default=0.03)
    args = parser.parse_args()

    ours = json.load(open(args.ours))
    drop = {d for d in args.drop.split(",") if d}
    with open(args.csv, newline="") as f:
        rows = [[cell.strip() for cell in row] for row in csv.reader(f)]
    header, body = rows[0], [r for r in rows[1:] if r]
    label_at, id_at = header.index(args.label), header.index(args.id)
    features = [j for j, name in enumerate(header) if j not in (label_at, id_at) and name not in drop]
    x = np.array([[float(r[j]) for j in features] for r in body])
    y = np.array([int(float(r[label_at])) for r in body])
    train = np.array([fnv1a64(r[id_at]) % 100 < 70 for r in body])

    scaler = StandardScaler().fit(x[train])
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=10000)
    model.fit(scaler.transform(x[train]), y[train])
    p = model.predict_proba(scaler.transform(x[~train]))[:, 1]
    sk_auc = roc_auc_score(y[~train], p)

    n_train, n_test = int(train.sum()), int((~train).sum())
    gap = abs(ours["auc"] - sk_auc)
    print(f"split: {n_train} train / {n_test} test (ours: {ours['n_train']} / {ours['n_test']})")
    print(f"ROC-AUC  ours {ours['auc']:.4f}  scikit-learn {sk_auc:.4f}  gap {gap:.4f} (bound {args.max_auc_gap})")
    print(f"ECE      ours {ours['ece']:.4f} (bound {args.max_ece});  PR-AUC {ours['pr_auc']:.4f}, "
          f"Brier {ours['brier']:.4f}, lift@10% {ours['lift_at_10pct']:.2f}")
    failures = []
    if (n_train, n_test) != (ours["n_train"], ours["n_test"]):
        failures.append("the splits differ")
    if gap > args.max_auc_gap:
        failures.append(f"ROC-AUC gap {gap:.4f} > {args.max_auc_gap}")
    if ours["ece"] > args.max_ece:
        failures.append(f"ECE {ours['ece']:.4f} > {args.max_ece}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
