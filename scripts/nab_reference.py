#!/usr/bin/env python3
"""Scores test cases with numenta/NAB's own sweeper and writes what it says, for
core/src/score/tests.rs to check our NAB against (to 1e-9).

    python3 scripts/nab_reference.py PATH/TO/NAB > core/src/score/testdata/nab_reference.json

PATH/TO/NAB is a checkout of https://github.com/numenta/NAB (its nab/sweeper.py is plain
Python, standard library only, and is loaded from there; nothing of it is kept here; NAB_DIR in
the environment works too). `nab_reference.py PATH/TO/NAB --check` scores every case again and
exits 1 when the file kept here differs from what the sweeper says.

Each case is a data file: `rows` rows (timestamps 0..rows-1), `flags` (the rows whose anomaly
score is 1.0; every other row's is 0.0), `windows` (row index pairs, sorted, neither overlapping
nor touching) and, where the case tests our merging, `given` (the windows before merging).
NAB's `Sweeper.scoreDataSet(..., threshold=0.5)` gives the raw score of each profile; where it
returns no row (every score at or above the threshold) its last threshold row is taken.
NAB divides by zero after a window one row wide (`prevWindowWidth - 1`); cases with such a
window are scored by the sweeper with that one expression changed to `max(prevWindowWidth - 1,
1)` (the case says `"patched": true`), which is what our code does there.
"""
import json
import os
import random
import sys
import types

PROFILES = [
    {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0},
    {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0},
    {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0},
]


def load_sweepers(nab_dir):
    path = os.path.join(nab_dir, "nab", "sweeper.py")
    with open(path) as f:
        source = f.read()
    patch = "denominator = float(prevWindowWidth - 1)"
    if patch not in source:
        sys.exit(f"{path}: the expression to patch is not there; a different NAB?")
    sweepers = []
    for text in (source, source.replace(patch, "denominator = float(max(prevWindowWidth - 1, 1))")):
        module = types.ModuleType("sweeper")
        exec(compile(text, path, "exec"), module.__dict__)
        sweepers.append(module.Sweeper)
    return sweepers


def nab_scores(sweeper_class, case):
    rows = case["rows"]
    flags = set(case["flags"])
    timestamps = list(range(rows))
    scores = [1.0 if i in flags else 0.0 for i in timestamps]
    windows = [tuple(w) for w in case["windows"]]
    raws, counted = [], None
    for matrix in PROFILES:
        sweeper = sweeper_class(probationPercent=0.15, costMatrix=matrix)
        _, row = sweeper.scoreDataSet(timestamps, scores, windows, "device", 0.5)
        if row is None:
            points = sweeper.calcSweepScore(timestamps, scores, windows, "device")
            row = sweeper.calcScoreByThreshold(points)[-1]
        raws.append(row.score)
        points = sweeper.calcSweepScore(timestamps, scores, windows, "device")
        scorable = [p for p in points if p.windowName != "probationary"]
        counted = len(sweeper._prepareScoreByThresholdParts(scorable)) - 1
    return raws, counted


def merge(given):
    merged = []
    for a, b in sorted(given):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def random_windows(rng, rows, count, min_width):
    windows, at = [], rng.randrange(0, max(1, rows // 3) + 1)
    for _ in range(count):
        width = rng.randrange(min_width, max(min_width, rows // 8) + 2)
        if at + width > rows:
            break
        windows.append([at, at + width - 1])
        at += width + 1 + rng.randrange(0, max(1, rows // 4))
    return windows


def cases():
    rng = random.Random(368)
    out = []

    def add(name, rows, flags, windows, given=None):
        case = {"name": name, "rows": rows, "flags": sorted(set(flags)), "windows": windows}
        if given is not None:
            case["given"] = given
        case["patched"] = any(a == b for a, b in windows)
        out.append(case)

    # Edge cases.
    add("no rows", 0, [], [])
    add("one row, flagged", 1, [0], [])
    add("nothing flagged", 100, [], [[40, 49]])
    add("everything flagged", 100, list(range(100)), [[40, 49], [70, 79]])
    add("flags only in probation", 100, [0, 5, 14], [[40, 49]])
    add("a window wholly in probation, flagged after", 100, [3, 20, 30], [[2, 6], [50, 59]])
    add("a window across the end of probation", 100, [10, 16, 20], [[10, 20]])
    add("flags before the first window", 200, [40, 41, 90], [[100, 119]])
    add("flags right after a window and far after", 300, [120, 121, 140, 290], [[100, 119]])
    add("the window's first and last rows", 200, [100, 119], [[100, 119]])
    add("a window one row wide at the end", 200, [150, 199], [[199, 199]])
    add("a window one row wide, then a false alarm", 200, [100, 101, 150], [[100, 100]])
    add("touching windows merged", 200, [100, 115, 160], [[100, 119]], given=[[100, 109], [110, 119]])
    add("overlapping windows merged", 200, [105, 150, 170], [[100, 129], [150, 160]],
        given=[[100, 119], [110, 129], [150, 155], [153, 160]])
    add("probation capped at 750 rows", 6000, [700, 760, 3000, 3001, 5000], [[749, 800], [2990, 3010]])
    add("long file, dense flags", 6000, list(range(0, 6000, 7)), [[1000, 1199], [4000, 4010]])
    # Random cases, some with one-row windows (scored by the patched sweeper).
    for k in range(160):
        rows = rng.choice([5, 20, 57, 100, 333, 1000, 2500])
        windows = random_windows(rng, rows, rng.randrange(0, 6), 1 if k % 3 == 0 else 2)
        density = rng.choice([0.0, 0.01, 0.05, 0.2, 0.6, 1.0])
        flags = [i for i in range(rows) if rng.random() < density]
        # A touching pair now and then, merged for NAB.
        given = None
        if windows and k % 5 == 0:
            a, b = windows[0]
            if b > a:
                cut = rng.randrange(a, b)
                given = [[a, cut], [cut + 1, b]] + windows[1:]
        add(f"random {k}", rows, flags, windows, given)
    return out


def main():
    nab_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NAB_DIR")
    fixture = os.path.join(os.path.dirname(__file__), "..", "core", "src", "score", "testdata",
                           "nab_reference.json")
    if not nab_dir:
        sys.exit("usage: nab_reference.py PATH/TO/NAB (a checkout of numenta/NAB)")
    plain, patched = load_sweepers(nab_dir)
    result = []
    for case in cases():
        assert merge(case.get("given", case["windows"])) == case["windows"], case["name"]
        raws, counted = nab_scores(patched if case["patched"] else plain, case)
        result.append({**case, "nab_raw": raws, "nab_windows": counted})
    # The corpus: every case a file, normalised as NAB's runner does (null = -fnWeight and
    # perfect = tpWeight per window scored).
    corpus = []
    windows = sum(c["nab_windows"] for c in result)
    for k, matrix in enumerate(PROFILES):
        raw = sum(c["nab_raw"][k] for c in result)
        null, perfect = -matrix["fnWeight"] * windows, matrix["tpWeight"] * windows
        corpus.append(100 * (raw - null) / (perfect - null))
    text = json.dumps({"source": "numenta/NAB nab/sweeper.py", "cases": result, "corpus": corpus},
                      indent=None, separators=(",", ":"))
    if len(sys.argv) > 2 and sys.argv[2] == "--check":
        with open(fixture) as f:
            kept = json.load(f)
        if kept != json.loads(text):
            sys.exit("nab_reference.json differs from what NAB's sweeper says now")
        print(f"nab_reference.json agrees with NAB's sweeper ({len(result)} cases)")
        return
    print(text)


if __name__ == "__main__":
    main()
