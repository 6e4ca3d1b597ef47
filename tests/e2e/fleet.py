#!/usr/bin/env python3
"""End-to-end tests of fleets and max rate through the built page and a real mosquitto.

A fleet of 50 devices, with a connection each and through one shared connection, checked by a
QoS 1 subscriber on the broker's plain listener: every sequence 1..N of every device arrives,
the counters and the fleet table add up, and after Stop `acked + dropped == samples`. Then
`interval=0` (as fast as possible) for 5 s: the page shows a rate, and after Stop every
PUBLISH was acknowledged.

And the page against the native runner (runner/, given as RUNNER_BINARY): the same settings,
seed and start time give the same payload bytes, telemetry and labels, collected from both
through mosquitto.

Usage: fleet.py DIST_DIR MQTT_PORT WS_PORT RUNNER_BINARY BROKER_LOG
"""

import csv
import json
import os
import re
import random
import shutil
import signal
import string
import subprocess
import sys
import time
import urllib.parse

from harness import RawSubscriber, Subscriber, broker_log_since, check_schema, run_suite

DIST, MQTT_PORT, WS_PORT, RUNNER, BROKER_LOG = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]


def counter(driver, testid):
    return int(driver.text(testid))


def run_fleet(driver, base, connection):
    run = "f" + "".join(random.choices(string.ascii_lowercase, k=5))
    subscriber = Subscriber(f"fleet/{run}/#", MQTT_PORT)
    connected_at = None
    try:
        driver.open(
            f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id={run}&topic=fleet/{run}/%7Bdevice_id%7D"
            f"&devices=50&connection={connection}&interval=0.5&profile=seed&anomaly_mode=off&autostart=1"
        )
        started = time.time()
        progress = set()

        def all_connected():
            status = driver.text("status")
            progress.add(status)
            return status == "connected"

        driver.wait_for("every device connected", all_connected, timeout=60)
        connected_at = time.time() - started
        # Ten seconds of publishing from Start (devices still connecting queue their samples).
        time.sleep(max(0, 10 - (time.time() - started)) + 1)
        driver.click("stop")
        driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=15)
        samples, published, acked, dropped = (
            counter(driver, name) for name in ("samples", "published", "acked", "dropped")
        )
        rows = driver.fleet_rows()
        deadline = time.time() + 10
        while len(subscriber.messages) < published and time.time() < deadline:
            time.sleep(0.1)
        driver.screenshot(f"fleet-{connection}.png")
    finally:
        subscriber.stop()
    assert acked + dropped == samples, (acked, dropped, samples)
    assert (dropped, published) == (0, acked), (dropped, published, acked)
    # The table lists all 50 devices (one page), and its columns add up to the totals; per
    # device, everything published was acknowledged, nothing is in flight or dropped.
    assert len(rows) == 50, len(rows)
    assert [r[0] for r in rows] == [f"{run}-{n:02d}" for n in range(1, 51)], rows[:3]
    columns = [[int(r[i]) for r in rows] for i in range(2, 7)]
    assert (sum(columns[0]), sum(columns[1])) == (published, acked), (columns[0][:3], published, acked)
    assert sum(columns[2]) == 0 and sum(columns[3]) == 0 and sum(columns[4]) == 0, rows[:3]
    for row in rows:
        assert row[2] == row[3] and row[1] == "disconnected", row
    per_device_published = {row[0]: int(row[2]) for row in rows}
    by_device = {}
    for message in subscriber.messages:
        check_schema(message, message["device_id"])
        by_device.setdefault(message["device_id"], []).append(message["sequence"])
    assert sorted(by_device) == [f"{run}-{n:02d}" for n in range(1, 51)], sorted(by_device)[:3]
    for device_id, sequences in by_device.items():
        # Every sequence the device published reached the subscriber, none more.
        expected = list(range(1, per_device_published[device_id] + 1))
        assert sorted(set(sequences)) == expected, (device_id, sequences)
    received = sum(len(set(s)) for s in by_device.values())
    assert received == published, (received, published)
    if connection == "per-device":
        assert any(s.startswith("connected ") and "/50" in s for s in progress), progress
    return f"{published} messages from 50 devices, every sequence; all connected after {connected_at:.1f} s"


def test_a_fleet_of_50_with_a_connection_each_delivers_every_sequence(driver, base):
    return run_fleet(driver, base, "per-device")


def test_a_fleet_of_50_through_one_shared_connection_delivers_every_sequence(driver, base):
    return run_fleet(driver, base, "shared")


def test_max_rate_for_5_s_then_stop_acknowledges_everything(driver, base):
    device_id = "e2e-max-" + "".join(random.choices(string.ascii_lowercase, k=4))
    driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id={device_id}&interval=0&autostart=1")
    driver.wait_for("connected", lambda: driver.text("status") == "connected")
    time.sleep(5)
    rate = counter(driver, "rate")
    shown = driver.execute("return document.querySelector('.rate').textContent;")
    assert "as fast as possible" in shown, shown
    driver.click("stop")
    driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
    samples, published, acked, dropped = (
        counter(driver, name) for name in ("samples", "published", "acked", "dropped")
    )
    assert rate > 100, f"rate {rate} msg/s"
    assert acked == published == samples and dropped == 0, (samples, published, acked, dropped)
    return f"{published} messages in about 5 s, {rate} msg/s shown, all acknowledged"


def by_topic_and_sequence(messages, run):
    """Payload text by (topic, sequence), of this run's devices; a label is keyed by its first
    sequence. A label of an event that Stop cut short is left out: the page and the runner stop
    at different samples."""
    keyed, last = {}, {}
    for topic, payload in messages:
        message = json.loads(payload)
        if not message["device_id"].startswith(run):
            continue
        if "sequence" in message:
            keyed[(topic, message["sequence"])] = payload
            last[message["device_id"]] = max(last.get(message["device_id"], 0), message["sequence"])
    for topic, payload in messages:
        message = json.loads(payload)
        if message["device_id"].startswith(run) and "first_sequence" in message:
            if message["last_sequence"] < last.get(message["device_id"], 0):
                keyed[(topic, message["first_sequence"])] = payload
    return keyed


def test_the_page_and_the_native_runner_publish_the_same_bytes(driver, base):
    """Every setting that shapes a payload set away from its default in one run or the other:
    the realistic profile (the default) with random anomalies on one shared connection and inline
    labels; the seed program's profile with periodic anomalies of two kinds, a connection each,
    blind (labels on their own topic)."""
    run = "same" + "".join(random.choices(string.ascii_lowercase, k=4))
    common = {"device_id": run, "topic": f"same/{run}/{{device_id}}", "devices": "3", "interval": "0.2",
              "start": "2026-03-01T06:00:00Z"}
    runs = {
        "inline": {**common, "connection": "shared", "profile": "realistic", "seed": "31", "precision": "64",
                   "altitude": "420", "tide": "0.9", "temperature": "18", "tz": "+05:30", "anomaly_mode": "random",
                   "anomaly_probability": "0.2", "anomaly_scale": "0.7", "anomaly_duration": "1.5",
                   "labels": "inline"},
        "topic": {**common, "connection": "per-device", "profile": "seed", "seed": "8", "anomaly_mode": "every",
                  "anomaly_every": "4", "anomaly_kinds": "spike,stuck", "anomaly_duration": "2",
                  "labels": "topic"},
    }
    collected = {}
    for labels, settings in runs.items():
        subscriber = RawSubscriber(MQTT_PORT, f"same/{run}/#", "device/+/labels")
        try:
            query = urllib.parse.urlencode(settings, safe="{}/:")
            driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&{query}&autostart=1")
            driver.wait_for("connected", lambda: driver.text("status") == "connected")
            time.sleep(4)
            driver.click("stop")
            driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=15)
            time.sleep(1)
            page = list(subscriber.messages)
            subscriber.messages.clear()
            flags = [f"--{name}={value}" for name, value in settings.items()]
            proc = subprocess.Popen([RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", *flags],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(4)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, (proc.returncode, err)
            time.sleep(1)
            native = list(subscriber.messages)
        finally:
            subscriber.stop()
        collected[labels] = (by_topic_and_sequence(page, run), by_topic_and_sequence(native, run))
    report = []
    for labels, (page, native) in collected.items():
        common = sorted(set(page) & set(native))
        telemetry = [key for key in common if key[0].endswith(("-1", "-2", "-3"))]
        label_keys = [key for key in common if key[0].endswith("/labels")]
        # Both ran about 4 s at 5 Hz: 3 devices x about 20 samples each.
        assert len(telemetry) >= 45, (labels, len(telemetry), sorted(page)[:3], sorted(native)[:3])
        assert {key[0] for key in telemetry} == {f"same/{run}/{run}-{n}" for n in (1, 2, 3)}, telemetry[:3]
        if labels == "topic":
            assert label_keys, (labels, sorted(page)[-3:])
            assert all('"anomaly"' not in page[key] for key in telemetry), telemetry[:1]
        else:
            assert any('"anomaly":true' in page[key] for key in telemetry), "no anomaly in the inline run"
        for key in common:
            assert page[key] == native[key], (key, page[key], native[key])
        report.append(f"{labels}: {len(telemetry)} samples and {len(label_keys)} labels")
    return "identical byte for byte (" + "; ".join(report) + ")"


RECORDING = os.path.abspath("tests/data/srrl-golden-2018-10-18.csv")


def test_the_page_replays_a_station_recording_as_the_runner_does_and_refuses_a_bad_file(driver, base):
    """A day of NREL's Golden station (scripts/recording_from_pvlib.py), served beside the page
    and named by the `replay` parameter, played once by 2 sensors on one connection at 100 Hz
    with spikes and steps: every unlabelled reading is the recording's row, the page stops by
    itself at the end, and the runner with the same settings and file publishes the same bytes.
    Then the file picker: a bad file is refused at its field by row and column, a good one is
    taken (the profile becomes replay); and a file dropped on the page is taken too."""
    with open(RECORDING) as f:
        readings = [(f"{float(r['pressure']):.4f}", f"{float(r['temperature']):.3f}") for r in csv.DictReader(f)]
    rows = len(readings)
    shutil.copy(RECORDING, os.path.join(DIST, "station.csv"))
    run = "rp" + "".join(random.choices(string.ascii_lowercase, k=4))
    settings = {"device_id": run, "topic": f"rp/{run}/{{device_id}}", "devices": "2", "connection": "shared",
                "interval": "0.01", "replay_loop": "false", "anomaly_every": "30", "anomaly_kinds": "spike,step",
                "seed": "3", "start": "2026-03-01T06:00:00Z"}
    subscriber = RawSubscriber(MQTT_PORT, f"rp/{run}/#")
    log_start = os.path.getsize(BROKER_LOG)
    try:
        query = urllib.parse.urlencode(settings, safe="{}/:")
        driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&{query}&replay=station.csv&autostart=1")
        driver.wait_for("every row of both sensors", lambda: len(subscriber.messages) >= 2 * rows, timeout=90)
        driver.wait_for("stopped by itself", lambda: driver.text("status") == "disconnected", timeout=15)
        time.sleep(1)
        # Its DISCONNECT went out: mosquitto logged the page's client leaving cleanly.
        with open(BROKER_LOG) as f:
            f.seek(log_start)
            assert re.search(r"Client " + re.escape(run) + r"\S* disconnected\.", f.read()), "no clean DISCONNECT"
        page = list(subscriber.messages)
        subscriber.messages.clear()
        flags = [f"--{name}={value}" for name, value in settings.items()]
        proc = subprocess.run([RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--replay", RECORDING, *flags],
                              capture_output=True, text=True, timeout=90)
        assert proc.returncode == 0, proc.stderr
        time.sleep(1)
        native = list(subscriber.messages)
    finally:
        subscriber.stop()
    log = driver.text("log")
    assert "the recording ended" in log and "recording station.csv: 1440 readings, with temperatures" in log, log[-400:]
    assert len(page) == 2 * rows, len(page)
    labelled = 0
    for _, payload in page:
        message = json.loads(payload)
        k = int(message["device_id"].rsplit("-", 1)[1])
        row = ((k - 1) * rows // 2 + message["sequence"] - 1) % rows
        seen = (f"{message['data']['pressure']:.4f}", f"{message['data']['temperature']:.3f}")
        if message["anomaly"]:
            labelled += 1
            assert seen[0] != readings[row][0], message
        else:
            assert seen == readings[row], (message, readings[row])
    assert sorted(page) == sorted(native), "the page and the runner publish the same bytes"
    # The picker: a bad recording is refused where its field is; a good one is taken.
    bad = os.path.abspath("target/e2e-bad-recording.csv")
    with open(bad, "w") as f:
        f.write("timestamp,pressure\n1,927.9\n2,101325\n")
    driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}")
    picker = driver.find("#replay-file")
    driver.s("POST", f"/element/{picker}/value", {"text": bad})
    driver.wait_for("the refusal", lambda: "row 3, column pressure: 101325 is outside" in driver.text("error-replay"))
    assert driver.value("#profile") == "realistic", "nothing changed"
    driver.s("POST", f"/element/{picker}/value", {"text": RECORDING})
    driver.wait_for("the recording taken", lambda: driver.value("#replay") == "file:" + os.path.basename(RECORDING))
    assert driver.value("#profile") == "replay" and driver.text("error-replay") == ""
    # Dropped anywhere on the page: a JSON-lines recording made in the page, as a file.
    driver.execute(
        "const file = new File([arguments[0]], 'dropped.jsonl');"
        "const transfer = new DataTransfer(); transfer.items.add(file);"
        "document.querySelector('#run-status').dispatchEvent("
        "new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));",
        ['{"timestamp":"a","data":{"pressure":1000.5,"temperature":20}}\n'
         '{"timestamp":"b","data":{"pressure":1000.6,"temperature":20}}\n'],
    )
    driver.wait_for("the dropped recording taken", lambda: driver.value("#replay") == "file:dropped.jsonl")
    assert "recording file:dropped.jsonl: 2 readings, with temperatures" in driver.text("log")
    # Opened again (remembered, or from a link), a picked file is not there: said, not fetched.
    driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&replay=file:dropped.jsonl&autostart=1")
    driver.wait_for("the refusal", lambda: "is not on this page: pick it again" in driver.text("error-replay"))
    return f"{len(page)} readings as recorded ({labelled} labelled), stopped by itself, same bytes as the runner; a bad file refused by row and column, a picked and a dropped one taken"

SCENARIO = {
    "name": "page and runner",
    "profile": "realistic", "seed": 11, "anomaly_mode": "off",
    "stages": [{"duration": 6, "devices": 2, "interval": 0.5},
               {"duration": 8, "devices": 4, "ramp": 4, "interval": 0.25},
               {"duration": 4, "devices": 1}],
    "events": [{"at": 3, "anomaly": "spike", "devices": [2]},
               {"at": 7, "anomaly": "stuck", "devices": "1-3", "duration": 2},
               {"at": 11, "offline": 2, "devices": [3, 4]},
               {"at": 2, "weather": "front", "change_hpa": -5, "over": 6}],
}


def test_the_scenario_player_plays_a_scenario_as_the_runner_does_and_refuses_a_bad_one(driver, base):
    """The simulator page given `?scenario=URL` opens the scenario player, which fetches it,
    shows its timeline, starts (autostart waits for the fetch), plays its stages, events and
    outage, and ends by itself with the last stage; the runner given the same file, seed and
    Start time publishes the same payloads byte for byte. A bad scenario pasted is refused
    naming the event and field, and nothing is sent."""
    run = "scn" + "".join(random.choices(string.ascii_lowercase, k=4))
    with open(os.path.join(DIST, f"{run}.json"), "w") as f:
        json.dump(SCENARIO, f)
    common = {"device_id": run, "topic": f"scn/{run}/{{device_id}}", "start": "2026-03-01T06:00:00Z",
              "connection": "per-device"}
    subscriber = RawSubscriber(MQTT_PORT, f"scn/{run}/#")
    try:
        query = urllib.parse.urlencode(common, safe="{}/:")
        driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&{query}&scenario={base}/{run}.json&autostart=1")
        driver.wait_for("the player", lambda: "/player/" in driver.execute("return location.pathname"))
        driver.wait_for("connected", lambda: driver.text("status").startswith("connect"), timeout=15)
        driver.wait_for("the timeline's cursor", lambda: driver.execute(
            "const n = document.querySelector('[data-testid=timeline-now]'); return n ? +n.dataset.ms : 0") > 2000)
        timeline = driver.execute("return document.getElementById('timeline').innerHTML")
        assert timeline.count("<g ") == 4 and ">front</text>" in timeline, timeline
        driver.wait_for("the end of the last stage", lambda: driver.text("status") == "disconnected", timeout=40)
        assert "the scenario ended with its last stage" in driver.text("log"), driver.text("log")[:500]
        share = driver.execute("return document.querySelector('[data-testid=share-link]').href")
        assert f"scenario={urllib.parse.quote(base + '/' + run + '.json', safe='')}" in share, share
        time.sleep(1)
        page = list(subscriber.messages)
        subscriber.messages.clear()
        path = os.path.join(DIST, f"{run}.json")
        flags = [f"--{name}={value}" for name, value in common.items() if name != "connection"]
        proc = subprocess.run([RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--scenario", path,
                               "--connection", "per-device", *flags],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (proc.returncode, proc.stderr)
        time.sleep(1)
        native = list(subscriber.messages)
    finally:
        subscriber.stop()
    page, native = by_topic_and_sequence(page, run), by_topic_and_sequence(native, run)
    assert set(page) == set(native), (sorted(set(page) ^ set(native))[:5])
    assert len(page) > 100, len(page)
    for key in page:
        assert page[key] == native[key], (key, page[key], native[key])
    labelled = sum('"anomaly":true' in payload for payload in page.values())
    assert labelled == 1 + 3 * 10, labelled
    # A bad scenario pasted: refused naming the event and field; nothing reaches the broker.
    driver.open(f"{base}/player/?broker=ws://127.0.0.1:{WS_PORT}&device_id={run}x")
    bad = dict(SCENARIO, events=[{"at": 1, "anomaly": "spike", "devices": [9]}])
    driver.execute("const a = document.getElementById('scenario'); a.value = arguments[0];"
                   "a.dispatchEvent(new Event('input', {bubbles: true}))", [json.dumps(bad)])
    log_start = os.path.getsize(BROKER_LOG)
    driver.click("start")
    driver.wait_for("the refusal", lambda: "events[0].devices: device 9 is not in a fleet of 4" in driver.text("scenario-error"))
    log = broker_log_since(BROKER_LOG, log_start)
    assert "New client connected" not in log and "New connection" not in log, log
    return f"{len(page)} payloads identical to the runner's ({labelled} labelled), ended with the last stage; a bad one refused"


def main():
    run_suite(
        "fleet",
        DIST,
        [
            test_a_fleet_of_50_with_a_connection_each_delivers_every_sequence,
            test_a_fleet_of_50_through_one_shared_connection_delivers_every_sequence,
            test_max_rate_for_5_s_then_stop_acknowledges_everything,
            test_the_page_and_the_native_runner_publish_the_same_bytes,
            test_the_page_replays_a_station_recording_as_the_runner_does_and_refuses_a_bad_file,
            test_the_scenario_player_plays_a_scenario_as_the_runner_does_and_refuses_a_bad_one,
        ],
    )


if __name__ == "__main__":
    main()
