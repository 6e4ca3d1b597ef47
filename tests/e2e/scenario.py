#!/usr/bin/env python3
"""End-to-end test of scenarios (`--scenario FILE`) on the native runner, against mosquitto.

The three examples in docs/scenarios/ play together, each its own fleet, while one QoS 1
subscriber notes when every message arrives. Against a model of the stages written here
(not the core's), every device's samples fall exactly where the stages put them: the ramp
joins a device every 20/30 s, each stage's interval holds on its own grid, the ramp down takes
the highest devices first, and nothing is made after the last stage, after which the runner
ends by itself. Scripted anomalies land on each named device's first sample at or after their
time, labelled, and on no other. The outage drill's devices are silent while offline (no
DISCONNECT: mosquitto logs their sockets closed) and then deliver everything they made
meanwhile, nothing lost. The storm's front moves every sensor's pressure by its change,
unlabelled. --stats-json names the stage. A bad scenario is refused naming the event and field,
and nothing reaches the broker.

Usage: scenario.py RUNNER_BINARY MQTT_PORT BROKER_LOG
"""

import json
import os
import random
import re
import string
import subprocess
import sys
import time

from harness import Subscriber, broker_log_since, finish, run

RUNNER, MQTT_PORT, BROKER_LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "scenarios")


def load(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return json.load(f)


def expected_times(scenario, fleet_interval_ms=1000):
    """Each device's sample times (ms after Start), from the stages alone: a device joins at
    ceil(ramp x i / change) into its stage, leaves likewise (the highest first), and samples at
    its place (k - 1) / n of the interval on a grid from when it joined or the stage began."""
    stages = scenario["stages"]
    n = max(s["devices"] for s in stages)
    starts, t = [], 0
    for s in stages:
        starts.append(t)
        t += round(s["duration"] * 1000)
    end = t
    joins = {k: [] for k in range(1, n + 1)}  # (join ms, leave ms) spans
    active_since = {}
    before = 0
    for s, start in zip(stages, starts):
        ramp = round(s.get("ramp", 0) * 1000)
        change = abs(s["devices"] - before)
        for i in range(1, change + 1):
            at = start + -(-ramp * i // change)
            if s["devices"] > before:
                active_since[before + i] = at
            else:
                k = before + 1 - i
                joins[k].append((active_since.pop(k), at))
        before = s["devices"]
    for k, since in active_since.items():
        joins[k].append((since, end))
    times = {}
    for k in range(1, n + 1):
        out = []
        for join, leave in joins[k]:
            for s, start in zip(stages, starts):
                stop = start + round(s["duration"] * 1000)
                interval = round(s.get("interval", fleet_interval_ms / 1000) * 1000)
                base = max(start, join)
                if base >= min(stop, leave):
                    continue
                offset = (k - 1) * interval // n
                at = base + offset
                while at < min(stop, leave):
                    out.append(at)
                    at += interval
        times[k] = out
    return times


def play(name, run_id, extra=()):
    """Starts the runner on example `name` as fleet `run_id`."""
    return subprocess.Popen(
        [RUNNER, "--scenario", os.path.join(EXAMPLES, name), "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}",
         "--device-id", run_id, "--stats-json", "--start", "2026-12-01T00:00:00Z", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


START_MS = 1796083200000  # 2026-12-01T00:00:00Z


def ms_of(stamp):
    from datetime import datetime
    return round(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000) - START_MS


def test_the_three_examples_play_as_their_stages_and_events_say():
    ids = {name: "sc" + "".join(random.choices(string.ascii_lowercase, k=4)) for name in
           ["classroom-ramp.json", "storm-with-faults.json", "broker-outage-drill.json"]}
    log_start = os.path.getsize(BROKER_LOG)
    subscriber = Subscriber("device/+/telemetry", MQTT_PORT)
    try:
        procs = {name: play(name, run_id) for name, run_id in ids.items()}
        outputs = {name: proc.communicate(timeout=150) for name, proc in procs.items()}
        time.sleep(1)
    finally:
        subscriber.stop()
    for name, proc in procs.items():
        out, err = outputs[name]
        assert proc.returncode == 0, (name, proc.returncode, err)
        assert "stopping (the scenario's last stage ended)" in err, (name, err)
    log = broker_log_since(BROKER_LOG, log_start)
    details = []
    for name, run_id in ids.items():
        scenario = load(name)
        mine = [(arrived, m) for arrived, m in zip(subscriber.arrived, subscriber.messages)
                if m["device_id"].startswith(run_id + "-")]
        by_device = {}
        for arrived, m in mine:
            k = int(m["device_id"].rsplit("-", 1)[1])
            # QoS 1 may bring a message twice; the first copy counts.
            by_device.setdefault(k, {}).setdefault(m["sequence"], (arrived, m))
        expected = expected_times(scenario)
        assert sorted(by_device) == sorted(expected), (name, sorted(by_device))
        labels = {}
        for k, samples in by_device.items():
            sequences = sorted(samples)
            assert sequences == list(range(1, len(expected[k]) + 1)), (name, k, sequences[-3:], len(expected[k]))
            times = [ms_of(samples[s][1]["timestamp"]) for s in sequences]
            assert times == expected[k], (name, k, times[:5], expected[k][:5])
            for s in sequences:
                m = samples[s][1]
                if m["anomaly"]:
                    labels.setdefault((k, m["anomaly_id"]), (m["anomaly_kind"], ms_of(m["timestamp"])))
        # Each scripted anomaly: on each named device, at its first sample at or after the time.
        want = {}
        for event in scenario.get("events", []):
            if "anomaly" not in event:
                continue
            named = event["devices"]
            if named == "all":
                named = list(by_device)
            elif isinstance(named, str):
                a, b = map(int, named.split("-"))
                named = list(range(a, b + 1))
            for k in named:
                first = next((t for t in expected[k] if t >= event["at"] * 1000), None)
                if first is not None:
                    want.setdefault(k, []).append((event["anomaly"], first))
        got = {}
        for (k, _), (kind, at) in sorted(labels.items(), key=lambda item: item[1][1]):
            got.setdefault(k, []).append((kind, at))
        assert got == want, (name, {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)})
        stats = [json.loads(line) for line in outputs[name][0].splitlines() if '"stage"' in line]
        stages_seen = sorted({s["stage"] for s in stats})
        assert stages_seen == list(range(1, len(scenario["stages"]) + 1)), (name, stages_seen)
        clean = set(re.findall(r"Client (" + re.escape(run_id) + r"[^ ]*) disconnected\.", log))
        lost = re.findall(r"Client (" + re.escape(run_id) + r"[^ ]*) closed its connection\.", log)
        assert len(clean) == len(expected), (name, len(clean))
        if name == "broker-outage-drill.json":
            details.append(outage_checks(by_device, lost, run_id))
        elif name == "storm-with-faults.json":
            details.append(front_checks(by_device))
        else:
            assert not lost, lost
            details.append(f"classroom: 30 joined one per 0.67 s, {sum(len(v) for v in by_device.values())} samples where the stages put them")
    return "; ".join(details)


def outage_checks(by_device, lost, run_id):
    """Devices 11-20 are silent from 10 s to 20 s and all from 35 s to 40 s (arrival times,
    against the wall clock of Start, which the first sample of device 1 carries), and their
    sockets were closed without DISCONNECT: mosquitto says 'closed its connection'."""
    numbers = sorted(int(client.rsplit("-", 1)[1]) for client in lost)
    assert numbers == sorted(list(range(11, 21)) + list(range(1, 21))), numbers
    origin = min(arrived for arrived, _ in by_device[1].values())
    late = 0
    for k, samples in by_device.items():
        for arrived, m in samples.values():
            since = arrived - origin
            made = ms_of(m["timestamp"]) / 1000
            if k >= 11:
                assert not (10.5 < since < 19.5), (k, since)
                if 10 < made < 19:
                    late += 1
                    assert since > 19.5, ("made offline, delivered after", k, made, since)
            assert not (35.5 < since < 39.5), (k, since)
    assert late > 150, late
    return f"outage drill: silent while offline, {late} samples made offline delivered after, nothing lost"


def front_checks(by_device):
    """The storm: the -8 hPa front from 5 s to 35 s, unlabelled, moves every sensor."""
    moved = []
    for k, samples in by_device.items():
        clean = [(ms_of(m["timestamp"]), m["data"]["pressure"]) for _, m in samples.values() if not m["anomaly"]]
        before = [p for t, p in clean if t < 5000]
        after = [p for t, p in clean if 35000 <= t < 45000]
        assert before and after, k
        moved.append(sum(after) / len(after) - sum(before) / len(before))
        unlabelled_during = [m for _, m in samples.values() if 5000 <= ms_of(m["timestamp"]) < 15000]
        assert all(not m["anomaly"] for m in unlabelled_during), k
    assert all(-9.0 < change < -7.0 for change in moved), moved
    return f"storm: the front moved all 10 by {min(moved):.2f} to {max(moved):.2f} hPa, unlabelled"


def test_a_bad_scenario_is_refused_naming_the_event_and_field_and_nothing_is_sent():
    bad = os.path.abspath("target/bad-scenario.json")
    with open(bad, "w") as f:
        json.dump({"stages": [{"duration": 10, "devices": 50}],
                   "events": [{"at": 1, "anomaly": "spike", "devices": [2]},
                              {"at": 2, "offline": 3, "devices": "1-3"},
                              {"at": 3, "weather": "front", "change_hpa": -6},
                              {"at": 4, "anomaly": "stuck", "devices": [60]}]}, f)
    log_start = os.path.getsize(BROKER_LOG)
    refused = subprocess.run([RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--scenario", bad],
                             capture_output=True, text=True, timeout=20)
    assert refused.returncode == 2, refused.stderr
    assert f"--scenario {bad}: events[3].devices: device 60 is not in a fleet of 50" in refused.stderr, refused.stderr
    garbled = subprocess.run([RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--scenario", bad,
                              "--devices", "5"], capture_output=True, text=True, timeout=20)
    assert "--devices: the scenario's stages decide the fleet (50 devices)" in garbled.stderr, garbled.stderr
    assert "New connection" not in broker_log_since(BROKER_LOG, log_start)
    return "exit 2, the event and field named, no connection made"


def main():
    passed, failed = run([
        test_a_bad_scenario_is_refused_naming_the_event_and_field_and_nothing_is_sent,
        test_the_three_examples_play_as_their_stages_and_events_say,
    ])
    finish("scenario", passed, failed)


if __name__ == "__main__":
    main()
