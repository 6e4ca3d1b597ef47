#!/usr/bin/env python3
"""End-to-end test of the built page (trunk build --release) in headless Chromium.

Serves the bundle, opens it through chromedriver (W3C WebDriver, Python standard library only)
with URL parameters and autostart, and checks with a real QoS 1 subscriber (mosquitto_sub) on
the broker's plain listener what arrives: the payload schema, consecutive sequence numbers from
1, anomalies exactly at the cadence, and equal published/acknowledged totals after Stop.

Usage: e2e.py DIST_DIR MQTT_PORT WS_PORT
"""

import base64
import functools
import http.server
import json
import os
import random
import re
import socket
import socketserver
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

DIST, MQTT_PORT, WS_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
OUT = os.path.join(os.path.dirname(os.path.abspath(DIST)), "e2e")
os.makedirs(OUT, exist_ok=True)

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(directory):
    """Serves `directory` on a free loopback port in a background thread."""
    handler = functools.partial(QuietHandler, directory=directory)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def log_message(self, *args):
        pass


class WebDriver:
    """The few W3C WebDriver commands these tests need."""

    def __init__(self):
        self.port = free_port()
        self.log = open(os.path.join(OUT, "chromedriver.log"), "w")
        self.proc = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                self.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        self.profile = tempfile.mkdtemp(prefix="dps368-e2e-")
        caps = {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                    f"--user-data-dir={self.profile}",
                ],
            },
        }
        self.session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def text(self, testid):
        return self.s("GET", f"/element/{self.find(f'[data-testid={testid}]')}/text")

    def click(self, testid):
        self.s("POST", f"/element/{self.find(f'[data-testid={testid}]')}/click", {})

    def screenshot(self, name):
        png = base64.b64decode(self.s("GET", "/screenshot"))
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(png)

    def console(self):
        """The browser console since the last call (chromedriver's log extension)."""
        entries = self.s("POST", "/se/log", {"type": "browser"})
        return "\n".join(f"{e['level']}: {e['message']}" for e in entries)

    def wait_for(self, what, predicate, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if predicate():
                    return
            except Exception:  # element not rendered yet
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; browser console:\n{self.console()}")

    def quit(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait()


class Subscriber:
    """mosquitto_sub at QoS 1 on the plain listener, collecting JSON payloads."""

    def __init__(self, topic):
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-q", "1", "-d", "-t", topic],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.messages = []
        self.subscribed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.subscribed.wait(10):
            self.stop()
            raise AssertionError("mosquitto_sub got no SUBACK")

    def _read(self):
        for line in self.proc.stdout:
            if "received SUBACK" in line:
                self.subscribed.set()
            elif line.startswith("{"):
                self.messages.append(json.loads(line))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def check_schema(message, device_id):
    assert list(message) == ["timestamp", "device_id", "sensor_type", "sequence", "anomaly", "data"], message
    assert TIMESTAMP.match(message["timestamp"]), message
    assert message["device_id"] == device_id, message
    assert message["sensor_type"] == "DPS368", message
    assert isinstance(message["sequence"], int), message
    assert isinstance(message["anomaly"], bool), message
    assert list(message["data"]) == ["pressure", "temperature"], message
    pressure, temperature = message["data"]["pressure"], message["data"]["temperature"]
    if message["anomaly"]:
        assert (pressure, temperature) == (1200.0, 85.0), message
    else:
        assert 950 <= pressure <= 1050 and 20 <= temperature <= 35, message


def test_autostarted_page_publishes_the_schema_in_order_with_anomalies_at_the_cadence(driver, base):
    device_id = "e2e-" + "".join(random.choices(string.ascii_lowercase, k=6))
    topic = f"device/{device_id}/telemetry"
    subscriber = Subscriber(topic)
    every = 5
    try:
        driver.open(
            # "localhost", as in the default URL: the browser must find the IPv4 listener.
            f"{base}/?broker=ws://localhost:{WS_PORT}&device_id={device_id}"
            f"&interval=0.05&anomaly_every={every}&autostart=1&unknown_param=ignored"
        )
        driver.wait_for("40 messages at the subscriber", lambda: len(subscriber.messages) >= 40)
        assert driver.text("status") == "connected"
        driver.screenshot("running.png")
        driver.click("stop")
        driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
        published, acked = int(driver.text("published")), int(driver.text("acked"))
        anomalies = int(driver.text("anomalies"))
        assert acked == published, (published, acked)
        assert int(driver.text("inflight")) == 0
        assert "stopped: published" in driver.text("log")
        # Every acknowledged message has reached the broker; give the last ones time to fan out.
        deadline = time.time() + 5
        while len(subscriber.messages) < published and time.time() < deadline:
            time.sleep(0.05)
        driver.screenshot("stopped.png")
    finally:
        subscriber.stop()
    messages = subscriber.messages
    for message in messages:
        check_schema(message, device_id)
    sequences = [m["sequence"] for m in messages]
    # QoS 1 allows duplicates; this run has no reconnects, so there should be none.
    assert sequences == list(range(1, published + 1)), f"{sequences[:5]}... of {published}"
    flagged = [m["sequence"] for m in messages if m["anomaly"]]
    assert flagged == [s for s in sequences if s % every == 0], flagged
    assert anomalies == len(flagged)
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(stamps), "timestamps never go backwards"
    return f"{published} messages, {len(flagged)} anomalies, all acknowledged"


def test_seed_parameter_names_configure_the_page(driver, base):
    device_id = "e2e-seed-" + "".join(random.choices(string.ascii_lowercase, k=4))
    subscriber = Subscriber(f"seed/{device_id}")
    try:
        driver.open(
            f"{base}/?MQTT_BROKER_HOST=127.0.0.1&MQTT_BROKER_PORT={WS_PORT}&DEVICE_ID={device_id}"
            f"&MQTT_TOPIC=seed/{device_id}&PUBLISH_INTERVAL=0.05&ANOMALY_INTERVAL=2&autostart=1"
        )
        driver.wait_for("6 messages", lambda: len(subscriber.messages) >= 6)
        driver.click("stop")
        driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
    finally:
        subscriber.stop()
    messages = subscriber.messages[:6]
    assert [m["sequence"] for m in messages] == [1, 2, 3, 4, 5, 6]
    assert [m["anomaly"] for m in messages] == [False, True] * 3
    assert all(m["device_id"] == device_id for m in messages)
    return "seed variable names honoured"


def test_a_bad_url_parameter_is_shown_and_nothing_is_sent(driver, base):
    device_id = "e2e-bad-" + "".join(random.choices(string.ascii_lowercase, k=4))
    subscriber = Subscriber(f"device/{device_id}/telemetry")
    try:
        driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id={device_id}&interval=fast&autostart=1")
        driver.wait_for(
            "the interval error",
            lambda: driver.text("error-interval") == 'must be a number of seconds, e.g. 1.0 (got "fast")',
        )
        time.sleep(1.5)
        assert driver.text("status") == "disconnected"
        assert int(driver.text("published")) == 0
        driver.screenshot("bad-parameter.png")
    finally:
        subscriber.stop()
    assert subscriber.messages == [], subscriber.messages
    return "error shown next to the field, nothing sent"


def main():
    server = serve(DIST)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    driver = WebDriver()
    tests = [
        test_autostarted_page_publishes_the_schema_in_order_with_anomalies_at_the_cadence,
        test_seed_parameter_names_configure_the_page,
        test_a_bad_url_parameter_is_shown_and_nothing_is_sent,
    ]
    passed = failed = 0
    try:
        for test in tests:
            try:
                detail = test(driver, base)
                passed += 1
                print(f"e2e {test.__name__} ... ok ({detail})", flush=True)
            except Exception as error:  # report every test, then fail
                failed += 1
                print(f"e2e {test.__name__} ... FAILED: {error!r}", flush=True)
    finally:
        driver.quit()
        server.shutdown()
    print(f"e2e: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
