#!/usr/bin/env python3
"""End-to-end test of blind telemetry and the live scoreboard, through a real mosquitto.

One simulator page in blind mode (Labels: topic) publishes 60 s of telemetry at 10 Hz with
every anomaly kind. Four monitor pages score four detectors side by side, under four verdict
prefixes: the built-in baseline detector (its verdicts go through the broker like anyone's),
the README's paho-mqtt skeleton run as printed there, a detector this test plays that flags
every sample, and one that flags nothing. The test
subscribes to the labels and the verdicts itself and scores them with its own implementation of
the README's rules; each scoreboard must show exactly that. The detector that flags everything
finds every event, and scores under the baseline on F1 and on NAB.

Usage: scoring.py DIST_DIR MQTT_PORT WS_PORT
"""

import json
import os
import random
import string
import subprocess
import sys
import threading
import time

from harness import ROOT, Subscriber, audit, independent_score, run_suite

DIST, MQTT_PORT, WS_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
RUN_SECONDS = 60


def readme_skeleton():
    """The README's paho-mqtt detector skeleton, as printed there, pointed at the test's broker."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    start = readme.index("```python\n", readme.index("### Test your detector")) + len("```python\n")
    source = readme[start:readme.index("```", start)]
    source = "\n".join(line[3:] if line.startswith("   ") else line for line in source.splitlines())
    assert len(source.strip().splitlines()) <= 22, "the skeleton is about 20 lines"
    connect = 'client.connect("127.0.0.1", 1883)'
    assert connect in source, source
    return source.replace(connect, f'client.connect("127.0.0.1", {MQTT_PORT})')


class Skeleton:
    """The README's detector, run as a user would run it (paho-mqtt from .tools/python)."""

    def __init__(self):
        path = os.path.join(ROOT, "target", "e2e", "skeleton_detector.py")
        with open(path, "w") as f:
            f.write(readme_skeleton())
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".tools", "python"))
        self.log = open(os.path.join(ROOT, "target", "e2e", "skeleton_detector.log"), "w")
        self.proc = subprocess.Popen([sys.executable, path], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        assert self.proc.poll() is None, "the skeleton detector died: see target/e2e/skeleton_detector.log"
        self.proc.terminate()
        self.proc.wait()


def flagged_by(verdicts):
    """The samples flagged: the last verdict on a sample wins."""
    last = {}
    for verdict in verdicts:
        last[verdict["sequence"]] = verdict["anomaly"]
    return {sequence for sequence, anomaly in last.items() if anomaly}


def shown(value):
    return "-" if value is None else f"{value:.3f}"


class FlagEverything:
    """A detector that flags every sample it receives: mosquitto_sub on the telemetry, one
    verdict line per message into `mosquitto_pub -l` (one PUBLISH per line, QoS 1)."""

    def __init__(self, telemetry, verdict_topic):
        self.pub = subprocess.Popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-q", "1", "-l", "-t", verdict_topic],
            stdin=subprocess.PIPE, text=True,
        )
        self.sub = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-q", "1", "-t", telemetry],
            stdout=subprocess.PIPE, text=True,
        )
        self.sent = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        for line in self.sub.stdout:
            sequence = json.loads(line)["sequence"]
            self.pub.stdin.write(json.dumps({"sequence": sequence, "anomaly": True, "score": 1.0}) + "\n")
            self.pub.stdin.flush()
            self.sent += 1

    def stop(self):
        self.sub.terminate()
        self.sub.wait()
        self.pub.stdin.close()
        self.pub.wait(timeout=10)


def board(driver):
    """The scoreboard's figures as the page shows them."""
    return driver.execute(
        "const q = id => document.querySelector(`[data-testid=${id}]`)?.textContent;"
        "const kinds = {};"
        "document.querySelectorAll('[data-testid^=score-recall-]').forEach(e => {"
        "  kinds[e.dataset.testid.slice(13)] = e.textContent; });"
        "return {tp: q('score-tp'), fp: q('score-fp'), fn: q('score-fn'), precision: q('score-precision'),"
        " recall: q('score-recall'), f1: q('score-f1'), delay: q('score-delay'), nab: q('score-nab'), kinds,"
        " status: q('monitor-status')};"
    )


def download_report(driver):
    """Clicks Download report and returns the JSON the browser was handed to save."""
    driver.execute(
        "window.__saved = null;"
        "const click = HTMLAnchorElement.prototype.click;"
        "HTMLAnchorElement.prototype.click = function () {"
        "  if (this.download) { window.__saved = [this.download, this.href]; } else { click.call(this); } };"
    )
    driver.click("download-report")
    driver.wait_for("a report", lambda: driver.execute("return window.__saved;") is not None, timeout=5)
    name, _ = driver.execute("return window.__saved;")
    assert name.startswith("dps368-score-") and name.endswith(".json"), name
    text = driver.s("POST", "/execute/async", {
        "script": "const done = arguments[arguments.length - 1];"
                  "fetch(window.__saved[1]).then(r => r.text()).then(done);",
        "args": [],
    })
    return json.loads(text)


def on_a_phone(driver):
    """The monitor at 360 px: nothing scrolls sideways but the tables' own boxes."""
    driver.s("POST", "/window/rect", {"width": 360, "height": 800})
    try:
        time.sleep(0.5)
        widths = driver.execute("return [document.documentElement.scrollWidth, window.innerWidth];")
        assert widths[0] <= widths[1], widths
        return widths[0]
    finally:
        driver.s("POST", "/window/rect", {"width": 1280, "height": 1000})


def new_window(driver, url):
    handle = driver.s("POST", "/window/new", {"type": "window"})["handle"]
    driver.s("POST", "/window", {"handle": handle})
    driver.open(url)
    return handle


def switch(driver, handle):
    driver.s("POST", "/window", {"handle": handle})


def test_blind_telemetry_is_scored_live_as_an_independent_scorer_scores_it(driver, base):
    device_id = "e2e-score-" + "".join(random.choices(string.ascii_lowercase, k=5))
    telemetry_topic = f"device/{device_id}/telemetry"
    broker = f"ws://localhost:{WS_PORT}"
    telemetry = Subscriber(telemetry_topic, MQTT_PORT)
    labels = Subscriber(f"device/{device_id}/labels", MQTT_PORT)
    baseline = Subscriber(f"baseline/{device_id}/verdict", MQTT_PORT)
    skeleton_verdicts = Subscriber(f"device/{device_id}/verdict", MQTT_PORT)
    everything = FlagEverything(telemetry_topic, f"all/{device_id}/verdict")
    skeleton = Skeleton()
    windows = {}
    try:
        monitor = (
            f"{base}/?view=monitor&broker={broker}&filter={telemetry_topic}"
            f"&labels_filter=device/{device_id}/labels&autostart=1"
        )
        # `?view=monitor` forwards to the monitor page with the query intact; a `+` in a link
        # is a `+`.
        driver.open(monitor + "&verdicts=baseline/+/verdict&detector=baseline")
        driver.wait_for("the monitor page", lambda: "/monitor/" in driver.execute("return location.pathname;"))
        windows["baseline"] = driver.s("GET", "/window")
        windows["everything"] = new_window(driver, monitor + "&verdicts=all/%2B/verdict")
        windows["nothing"] = new_window(driver, monitor + "&verdicts=none/+/verdict")
        windows["skeleton"] = new_window(driver, monitor + "&verdicts=device/+/verdict")
        for name, handle in windows.items():
            switch(driver, handle)
            driver.wait_for(f"monitor {name} subscribed",
                            lambda: board(driver)["status"].startswith("subscribed"), timeout=20)
        windows["simulator"] = new_window(
            driver,
            f"{base}/?broker={broker}&device_id={device_id}&interval=0.1&labels=topic"
            f"&anomaly_every=20&anomaly_kinds=all&seed=1010&autostart=1",
        )
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        time.sleep(RUN_SECONDS)
        # Stop just after an event has ended: the next starts 20 samples (2 s) later, so no
        # event is cut short by Stop (a dropout cut at Stop could never be seen).
        ended = len(labels.messages)
        driver.wait_for("an event to end", lambda: len(labels.messages) > ended, timeout=20)
        driver.click("stop")
        driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
        published = int(driver.text("published"))
        assert int(driver.text("acked")) == published
        assert "labels: " in driver.text("log") and " 0 dropped" in driver.text("log")
        driver.wait_for("every sample at the subscriber", lambda: len(telemetry.messages) == published, timeout=10)
        driver.wait_for("a verdict per sample",
                        lambda: len(baseline.messages) == published and everything.sent == published
                        and len(skeleton_verdicts.messages) == published, timeout=20)
        time.sleep(1.5)  # the verdicts' way back to the monitors, and one more tick
    finally:
        everything.stop()
        skeleton.stop()
        for subscriber in (telemetry, labels, baseline, skeleton_verdicts):
            subscriber.stop()

    for message in telemetry.messages:
        assert not {"anomaly", "anomaly_kind", "anomaly_id"} & set(message), message
    events = {(l["anomaly_id"]) for l in labels.messages}
    kinds = {l["kind"] for l in labels.messages}
    assert len(events) >= 20 and len(kinds) == 7, (len(events), kinds)
    sequences = [m["sequence"] for m in telemetry.messages]
    results = {}
    for name, flagged in [
        ("baseline", flagged_by(baseline.messages)),
        ("everything", set(sequences)),
        ("nothing", set()),
        ("skeleton", flagged_by(skeleton_verdicts.messages)),
    ]:
        expected = independent_score(labels.messages, {device_id: flagged}, {device_id: set(sequences)})
        switch(driver, windows[name])
        shown_board = board(driver)
        got = {k: shown_board[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")}
        want = {"tp": str(expected["tp"]), "fp": str(expected["fp"]), "fn": str(expected["fn"]),
                "precision": shown(expected["precision"]), "recall": shown(expected["recall"]),
                "f1": shown(expected["f1"])}
        assert got == want, (name, got, want)
        for kind, (found, total) in expected["kinds"].items():
            assert shown_board["kinds"][kind] == shown(found / total), (name, kind, shown_board["kinds"])
        got["nab"] = shown_board["nab"]
        results[name] = got
        if name == "baseline":
            violations = audit(driver)
            assert violations == [], violations
            driver.screenshot("monitor.png")
            # Dark too: its buttons were white on light blue (2.39:1).
            driver.execute("document.documentElement.dataset.theme = 'dark';")
            time.sleep(0.2)
            violations = audit(driver)
            driver.execute("document.documentElement.dataset.theme = 'auto';")
            assert violations == [], ("dark", violations)
            report = download_report(driver)
            assert report["total"]["tp"] == expected["tp"] and report["total"]["fp"] == expected["fp"], report["total"]
            events_in_report = report["devices"][0]["events"]
            assert len(events_in_report) == len(events), len(events_in_report)
            assert sum(e["found"] for e in events_in_report) == expected["tp"]
            assert report["settings"]["detector"] == "baseline"
            phone_width = on_a_phone(driver)
    assert results["everything"]["recall"] == "1.000", results
    # Flagging everything is no perfect score: the baseline beats it on F1 and on NAB.
    assert float(results["everything"]["f1"]) < float(results["baseline"]["f1"]), results
    assert float(results["everything"]["nab"]) < float(results["baseline"]["nab"]), results
    assert results["nothing"]["nab"] == "0.0", results
    assert results["nothing"]["recall"] == "0.000" and results["nothing"]["f1"] == "-", results
    assert results["baseline"]["tp"] != "0", results
    assert results["skeleton"]["tp"] != "0", results
    for handle in (windows["everything"], windows["nothing"], windows["skeleton"], windows["simulator"]):
        switch(driver, handle)
        driver.s("DELETE", "/window")
    switch(driver, windows["baseline"])
    b = results["baseline"]
    return (f"{published} samples, {len(events)} events; baseline TP {b['tp']} FP {b['fp']} FN {b['fn']} "
            f"F1 {b['f1']}; the README's skeleton F1 {results['skeleton']['f1']}; flag-all recall 1.000, "
            f"precision {results['everything']['precision']}, NAB {results['everything']['nab']}; "
            f"flag-none recall 0.000, F1 -; no axe violations; the report agrees; {phone_width} px wide on a phone")


def test_a_refused_subscribe_and_an_empty_report_are_said_where_the_eye_is(driver, base):
    """The monitor's refused Subscribe names the field in the status line and focuses it; a
    report asked for before anything was received says so in the status line."""
    driver.open(f"{base}/monitor/?broker=http://broker.example")
    driver.wait_for("the monitor page", lambda: driver.text("monitor-status") == "stopped")
    driver.click("download-report")
    driver.wait_for("the empty report said", lambda: driver.text("monitor-status") == "nothing to report yet: Subscribe first")
    driver.click("monitor-start")
    status = driver.text("monitor-status")
    assert status.startswith("not started: Broker URL: "), status
    assert driver.execute("return document.activeElement.id;") == "broker-url"
    return status


def main():
    run_suite("scoring", DIST, [
        test_a_refused_subscribe_and_an_empty_report_are_said_where_the_eye_is,
        test_blind_telemetry_is_scored_live_as_an_independent_scorer_scores_it,
    ])


if __name__ == "__main__":
    main()
