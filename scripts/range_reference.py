#!/usr/bin/env python3
"""Scores the NAB reference cases (core/src/score/testdata/nab_reference.json) with the `prts`
package's range-based precision and recall (Tatbul et al., NeurIPS 2018: alpha 0, cardinality
"one", bias "flat") and writes what it says, for core/src/score/tests.rs to check ours against.

    pip install --target /tmp/prts prts==1.0.0.3 'numpy<2'
    PYTHONPATH=/tmp/prts python3 scripts/range_reference.py > core/src/score/testdata/range_reference.json

Each file's real series is 1 on the rows inside its windows, its predicted series 1 on the
flagged rows. prts refuses a series without a 1 (our figure is undefined there): those files
are left out. The corpus figure treats every file's ranges as one pool, as prts does when the
files are laid end to end with a 0 between them; it is computed that way here.
"""
import json
import os
import sys

from prts import ts_precision, ts_recall

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "core", "src", "score", "testdata", "nab_reference.json")


def series(case):
    real = [0] * case["rows"]
    for a, b in case["windows"]:
        for i in range(a, b + 1):
            real[i] = 1
    predicted = [0] * case["rows"]
    for i in case["flags"]:
        predicted[i] = 1
    return real, predicted


def main():
    with open(FIXTURE) as f:
        cases = json.load(f)["cases"]
    out, real_all, predicted_all = [], [], []
    for case in cases:
        real, predicted = series(case)
        if 1 not in real or 1 not in predicted:
            continue
        precision = ts_precision(real, predicted, alpha=0.0, cardinality="one", bias="flat")
        recall = ts_recall(real, predicted, alpha=0.0, cardinality="one", bias="flat")
        out.append({"name": case["name"], "precision": float(precision), "recall": float(recall)})
        real_all += real + [0]
        predicted_all += predicted + [0]
    corpus = {
        "precision": float(ts_precision(real_all, predicted_all, alpha=0.0, cardinality="one", bias="flat")),
        "recall": float(ts_recall(real_all, predicted_all, alpha=0.0, cardinality="one", bias="flat")),
    }
    json.dump({"source": "prts 1.0.0.3 ts_precision / ts_recall (alpha 0, one, flat)", "cases": out,
               "corpus": corpus}, sys.stdout, separators=(",", ":"))
    print()


if __name__ == "__main__":
    main()
