#!/usr/bin/env python3
"""End-to-end test of `--latency` (runner/src/latency.rs) against a real mosquitto.

- On loopback the runner times every acknowledged sample, a few ms each; every --stats-json
  line carries latency_ms {p50, p90, p99, p999, max, count}, the final line the run's, and the
  export a latency_ms cell on every acknowledged row.
- Through a TCP proxy that holds every chunk 50 ms in both directions, the runner's p50 is about
  twice the delay (the PUBLISH crosses it once on the way in, once on the way out).
- A proxy that drops three PUBLISHes on their way from the broker to the subscriber (which stays
  connected) makes exactly three acknowledged samples lost, said loudly as a broker fault, and
  the run fails (exit 1).
- A proxy that cuts the subscriber's connection for 2 s loses what was published meanwhile (a
  clean session), and says the subscriber was down.
- `generate --latency` is refused.

And the page, in headless Chromium: the simulator page given `latency=1` opens the scenario
player, which subscribes first, shows p50 and p99 a few ms on loopback and a chart, loses
nothing, and puts each sample's latency_ms in its CSV; through the same 50 ms proxy in front of
mosquitto's WebSocket listener its p50 is about 100 ms too.

The proxy tells the subscriber's connection by its client id (`dps368-lat-…`) in the CONNECT,
which it can read on plain MQTT only (a WebSocket's frames are masked): the page is tested
through the delay alone.

Usage: latency.py RUNNER_BINARY MQTT_PORT WS_PORT DIST_DIR
"""

import json
import os
import random
import socket
import string
import subprocess
import sys
import threading
import time

from harness import WebDriver, finish, run, serve, set_output_dir

RUNNER, MQTT_PORT, WS_PORT, DIST = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
SUBSCRIBER_ID = b"dps368-lat-"


class Proxy:
    """TCP between the runner and mosquitto. Every chunk waits `delay` s in each direction (in
    order); on the subscriber's connection it can drop `drop` PUBLISH packets coming from the
    broker (after the first `drop_after`), or cut the connection `cut_after` s in and refuse the
    subscriber for `hold` s after."""

    def __init__(self, delay=0.0, drop=0, drop_after=20, cut_after=None, hold=2.0, target=None):
        self.target = target or MQTT_PORT
        self.delay, self.drop, self.drop_after = delay, drop, drop_after
        self.cut_after, self.hold = cut_after, hold
        self.dropped = 0
        self.refuse_until = 0.0
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.create_connection(("127.0.0.1", self.target))
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The CONNECT comes first: it says whether this is the latency subscriber.
        first = client.recv(65536)
        subscriber = SUBSCRIBER_ID in first
        if subscriber and time.time() < self.refuse_until:
            client.close()
            upstream.close()
            return
        closed = threading.Event()
        for source, sink, data, inbound in ((client, upstream, first, False), (upstream, client, b"", True)):
            threading.Thread(
                target=self._pump, args=(source, sink, data, subscriber and inbound, closed), daemon=True
            ).start()
        if subscriber and self.cut_after is not None:
            time.sleep(self.cut_after)
            with self.lock:
                self.refuse_until = time.time() + self.hold
                self.cut_after = None  # once
            closed.set()
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _pump(self, source, sink, data, filter_publishes, closed):
        """Reads from `source` and writes to `sink`, each chunk `delay` s later, in order."""
        queue, ready = [], threading.Condition()

        def writer():
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    due, chunk = queue.pop(0)
                if chunk is None:
                    break
                wait = due - time.time()
                if wait > 0:
                    time.sleep(wait)
                try:
                    sink.sendall(chunk)
                except OSError:
                    break
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        threading.Thread(target=writer, daemon=True).start()
        frames = MqttFrames()
        seen = 0
        while True:
            if filter_publishes:
                out = b""
                for packet in frames.feed(data):
                    if packet[0] >> 4 == 3:  # PUBLISH
                        seen += 1
                        if seen > self.drop_after and self.dropped < self.drop:
                            self.dropped += 1
                            continue
                    out += packet
                data = out
            if data:
                with ready:
                    queue.append((time.time() + self.delay, data))
                    ready.notify()
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data or closed.is_set():
                break
        with ready:
            queue.append((0, None))
            ready.notify()

    def close(self):
        self.server.close()


class MqttFrames:
    """Splits a byte stream into whole MQTT packets (fixed header, remaining length, body)."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data):
        self.buffer += data
        packets = []
        while len(self.buffer) >= 2:
            length, multiplier, i = 0, 1, 1
            while True:
                if i >= len(self.buffer):
                    return packets
                byte = self.buffer[i]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                i += 1
                if not byte & 0x80:
                    break
            if len(self.buffer) < i + length:
                return packets
            packets.append(self.buffer[: i + length])
            self.buffer = self.buffer[i + length:]
        return packets


def run_id():
    return "lt-" + "".join(random.choices(string.ascii_lowercase, k=5))


def latency_run(broker, seconds=5, devices=5, interval="0.1", extra=()):
    """Runs the runner with --latency; returns (exit code, stats lines, final line, stderr, id)."""
    rid = run_id()
    proc = subprocess.run(
        [RUNNER, "--broker", broker, "--devices", str(devices), "--device-id", rid, "--interval", interval,
         "--latency", "--stats-json", "--duration", str(seconds), *extra],
        capture_output=True, text=True, timeout=seconds + 60,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    final = lines[-1]
    assert final.get("final") is True, proc.stdout[-500:]
    return proc.returncode, lines[:-1], final, proc.stderr, rid


KEYS = {"p50", "p90", "p99", "p999", "max", "count"}


def test_loopback_latency_is_a_few_ms_and_every_acknowledged_sample_is_timed():
    export = f"/tmp/dps368-latency-{run_id()}.csv"
    code, lines, final, stderr, rid = latency_run(f"mqtt://127.0.0.1:{MQTT_PORT}", extra=("--export", export))
    assert code == 0, stderr
    assert "latency, due to received:" in stderr, stderr
    # The monotonic clock starts on a millisecond of the wall clock's: nothing falls due early.
    assert "before their due time" not in stderr, stderr
    for line in lines:
        assert set(line["latency_ms"]) == KEYS, line
        assert "latency_awaited" in line, line
    timed = [line["latency_ms"] for line in lines if line["latency_ms"]["count"] > 0]
    assert len(timed) >= 3, lines
    whole = final["latency_ms"]
    assert set(whole) == KEYS, final
    assert whole["count"] == final["acked"] > 100, final
    assert final["latency_lost"] == 0, final
    assert 0 <= whole["p50"] <= whole["p90"] <= whole["p99"] <= whole["p999"] <= whole["max"], whole
    assert whole["p50"] < 20, f"loopback p50 {whole['p50']} ms"
    with open(export) as f:
        header, *rows = f.read().splitlines()
    assert header.endswith(",status,latency_ms"), header
    acknowledged = [row for row in rows if ",acknowledged," in row]
    assert len(acknowledged) == final["acked"], (len(acknowledged), final)
    values = [float(row.rsplit(",", 1)[1]) for row in acknowledged]
    assert max(values) == whole["max"], (max(values), whole)
    return f"p50 {whole['p50']} ms, p99 {whole['p99']} ms of {whole['count']}"


def test_a_proxy_delaying_50_ms_each_way_shows_in_the_p50_as_about_100_ms():
    proxy = Proxy(delay=0.05)
    try:
        code, lines, final, stderr, _ = latency_run(proxy.url())
    finally:
        proxy.close()
    assert code == 0, stderr
    whole = final["latency_ms"]
    assert whole["count"] == final["acked"] > 100, final
    assert 95 <= whole["p50"] <= 160, f"p50 {whole['p50']} ms through a 2 x 50 ms proxy"
    assert whole["max"] >= 100, whole
    return f"p50 {whole['p50']} ms, p99 {whole['p99']} ms"


def test_publishes_the_broker_never_delivers_are_lost_loudly_and_fail_the_run():
    proxy = Proxy(drop=3)
    try:
        code, _, final, stderr, _ = latency_run(proxy.url())
    finally:
        proxy.close()
    assert proxy.dropped == 3, proxy.dropped
    assert code == 1, (code, stderr)
    assert final["latency_lost"] == 3, final
    assert final["dropped"] == 0 and final["acked"] == final["samples"], final
    assert final["latency_ms"]["count"] == final["acked"] - 3, final
    assert "3 acknowledged sample(s) NEVER reached the subscriber" in stderr, stderr
    assert "broker fault" in stderr, stderr
    return "3 dropped on the way to the subscriber, 3 lost"


def test_a_subscriber_cut_off_loses_what_was_published_meanwhile_and_says_why():
    proxy = Proxy(cut_after=2.0, hold=2.0)
    try:
        code, lines, final, stderr, _ = latency_run(proxy.url(), seconds=7, extra=("--allow-drops",))
    finally:
        proxy.close()
    # --allow-drops: a load test that only wants the figures still exits 0.
    assert code == 0, stderr
    assert final["dropped"] == 0, final
    # About 2 s of 5 devices at 10 Hz: roughly 100 samples.
    assert 30 <= final["latency_lost"] <= 200, final
    assert final["latency_ms"]["count"] + final["latency_lost"] == final["acked"], final
    assert "the subscriber's connection dropped 1 time(s)" in stderr, stderr
    # It subscribed again and went on timing: the last seconds' lines have arrivals.
    assert "connected again" in stderr, stderr
    assert all(line["latency_ms"]["count"] > 0 for line in lines[-2:]), lines[-2:]
    return f"{final['latency_lost']} lost while the subscriber was cut off"


def test_generate_refuses_latency():
    proc = subprocess.run(
        [RUNNER, "generate", "--samples", "5", "--export", "/tmp/never.csv", "--latency"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2, proc
    assert "--latency are for a live run" in proc.stderr, proc.stderr
    return "exit 2"


def saved_download(driver, testid):
    """Clicks the download button `testid` and returns the text the browser was handed to save."""
    driver.execute(
        "window.__saved = null;"
        "const click = HTMLAnchorElement.prototype.click;"
        "HTMLAnchorElement.prototype.click = function () {"
        "  if (this.download) { window.__saved = [this.download, this.href]; } else { click.call(this); } };"
    )
    driver.click(testid)
    driver.wait_for("a download", lambda: driver.execute("return window.__saved;") is not None, timeout=5)
    return driver.s("POST", "/execute/async", {
        "script": "const done = arguments[arguments.length - 1];"
                  "fetch(window.__saved[1]).then(r => r.text()).then(done);",
        "args": [],
    })


def page_run(driver, base, broker, seconds=6):
    """The simulator page with latency=1 for `seconds`, stopped; the figures it shows."""
    rid = run_id()
    driver.open(f"{base}/?broker={broker}&device_id={rid}&devices=3&interval=0.1&profile=seed"
                f"&anomaly_mode=off&latency=1&autostart=1")
    driver.wait_for("the player", lambda: "/player/" in driver.execute("return location.pathname"))
    driver.wait_for("the latency section", lambda: driver.execute(
        "return !document.querySelector('[data-testid=latency]').hidden"), timeout=10)
    driver.wait_for("samples timed", lambda: int(driver.text("latency-count")) > 20, timeout=20)
    driver.wait_for("a second's figures", lambda: driver.text("latency-p50") != "-", timeout=5)
    running = {"p50": float(driver.text("latency-p50")), "p99": float(driver.text("latency-p99")),
               "window": driver.text("latency-window")}
    time.sleep(seconds)
    driver.click("stop")
    driver.wait_for("the run's figures", lambda: driver.text("latency-window") == "the whole run", timeout=15)
    shown = {name: driver.text(f"latency-{name}") for name in ("p50", "p99", "p999", "max", "count", "lost")}
    return rid, running, shown


def test_the_page_measures_latency_in_the_scenario_player_and_exports_it(driver, base):
    rid, running, shown = page_run(driver, base, f"ws://127.0.0.1:{WS_PORT}")
    assert running["window"] == "the last 10 s", running
    assert 0 <= running["p50"] <= running["p99"], running
    acked = int(driver.text("acked"))
    assert int(shown["count"]) == acked > 100, (shown, acked)
    assert shown["lost"] == "0", shown
    p50, p99, p999, peak = (float(shown[k]) for k in ("p50", "p99", "p999", "max"))
    assert 0 <= p50 <= p99 <= p999 <= peak, shown
    # The page wakes on a 20 ms grid: a sample may wait that long for its timer.
    assert p50 < 40, f"loopback p50 {p50} ms"
    chart = driver.execute("return document.getElementById('latency-chart').innerHTML")
    assert '<path class="p" d="M' in chart and '<path class="t" d="M' in chart, chart[:300]
    assert "latency, due to received:" in driver.text("log"), driver.text("log")[:400]
    header, *rows = saved_download(driver, "download-csv").splitlines()
    assert header.endswith(",status,latency_ms"), header
    acknowledged = [row for row in rows if ",acknowledged," in row]
    assert len(acknowledged) == acked, (len(acknowledged), acked)
    values = [float(row.rsplit(",", 1)[1]) for row in acknowledged]
    assert abs(max(values) - peak) < 0.0015, (max(values), peak)
    return f"p50 {p50} ms, p99 {p99} ms of {shown['count']}, in the CSV"


def test_the_page_through_a_proxy_delaying_50_ms_each_way_shows_about_100_ms(driver, base):
    proxy = Proxy(delay=0.05, target=WS_PORT)
    try:
        _, _, shown = page_run(driver, base, f"ws://127.0.0.1:{proxy.port}", seconds=3)
    finally:
        proxy.close()
    p50 = float(shown["p50"])
    assert 95 <= p50 <= 180, f"p50 {p50} ms through a 2 x 50 ms proxy"
    assert shown["lost"] == "0", shown
    return f"p50 {p50} ms, p99 {shown['p99']} ms"


def main():
    tests = [
        test_loopback_latency_is_a_few_ms_and_every_acknowledged_sample_is_timed,
        test_a_proxy_delaying_50_ms_each_way_shows_in_the_p50_as_about_100_ms,
        test_publishes_the_broker_never_delivers_are_lost_loudly_and_fail_the_run,
        test_a_subscriber_cut_off_loses_what_was_published_meanwhile_and_says_why,
        test_generate_refuses_latency,
    ]
    passed, failed = run(tests)
    set_output_dir(os.path.join(os.path.dirname(os.path.abspath(DIST)), "e2e"))
    server = serve(DIST)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    driver = WebDriver()
    try:
        more = run([
            test_the_page_measures_latency_in_the_scenario_player_and_exports_it,
            test_the_page_through_a_proxy_delaying_50_ms_each_way_shows_about_100_ms,
        ], driver, base)
    finally:
        driver.quit()
        server.shutdown()
    finish("latency", passed + more[0], failed + more[1])


if __name__ == "__main__":
    main()
