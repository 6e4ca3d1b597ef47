#!/usr/bin/env python3
"""Benchmarks the built page against an MQTT.js 5 page and a raw-WebSocket page, each in its own
headless Chromium, against one local mosquitto, and prints a table (see README, Figures).

Usage: bench.py DIST_DIR REFERENCE_DIR MQTT_PORT WS_PORT
REFERENCE_DIR holds mqttjs.html, raw.html and mqtt.min.js.
"""

import collections
import os
import random
import string
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from harness import Subscriber, WebDriver, serve, set_output_dir  # noqa: E402

DIST, REFERENCE, MQTT_PORT, WS_PORT = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
BROKER = f"ws://127.0.0.1:{WS_PORT}"
WINDOW = 32
QUICK = os.environ.get("BENCH_QUICK") == "1"  # shorter windows, to try the script out
ONLY = os.environ.get("BENCH_ONLY", "1345")  # which sections to run, e.g. "5"
MAX_RATE_S = 5 if QUICK else 20
PACED_S = 5 if QUICK else 20
FLEET_S = 10 if QUICK else 60
IDLE_S = 5 if QUICK else 30
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root):
    """CPU seconds (user + system) of every process below `root` (chromedriver): the browser,
    its renderer, GPU and network processes."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        procs[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    children = collections.defaultdict(list)
    for pid, (ppid, _) in procs.items():
        children[ppid].append(pid)
    total, stack = 0, list(children[root])
    while stack:
        pid = stack.pop()
        total += procs[pid][1]
        stack.extend(children[pid])
    return total / TICKS


class Browser(WebDriver):
    """Headless Chromium with precise heap figures, and the page's wasm memory within reach."""

    def __init__(self):
        super().__init__(extra_args=["--enable-precise-memory-info"])
        # Trunk's loader announces the wasm instance; keep it for the memory figure.
        self.s("POST", "/goog/cdp/execute", {
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": {"source": "addEventListener('TrunkApplicationStarted', e => window.__wasm = e.detail.wasm);"},
        })

    def cpu_s(self):
        return tree_cpu_s(self.proc.pid)

    def number(self, script):
        return self.execute(f"return {script};")

    def heap_mb(self):
        return self.number("performance.memory.usedJSHeapSize") / 1e6

    def wasm_mb(self):
        return (self.number("window.__wasm ? window.__wasm.memory.buffer.byteLength : 0") or 0) / 1e6


OURS_ACKED = "Number(document.querySelector('[data-testid=acked]').textContent)"
REF_ACKED = "window.bench.acked"


def run_id():
    return "".join(random.choices(string.ascii_lowercase, k=6))


def ours(base, query):
    return f"{base}/?broker={BROKER}&device_id=bench-{run_id()}&autostart=1&{query}"


def measure(url, acked, seconds, warmup):
    """Acknowledged msg/s, and CPU ms of the browser per 1000 acknowledged messages, over
    `seconds` after `warmup` seconds."""
    browser = Browser()
    try:
        browser.open(url)
        browser.wait_for("the first PUBACK", lambda: browser.number(acked) > 0)
        time.sleep(warmup)
        c0, a0, t0 = browser.cpu_s(), browser.number(acked), time.time()
        time.sleep(seconds)
        c1, a1, t1 = browser.cpu_s(), browser.number(acked), time.time()
        return (a1 - a0) / (t1 - t0), (c1 - c0) * 1000 / (a1 - a0) * 1000
    finally:
        browser.quit()


def acked_rate(url, acked, seconds):
    """Acknowledged msg/s over `seconds`, after a 5 s warm-up."""
    return measure(url, acked, seconds, warmup=5)[0]


def cpu_per_1000(url, acked, seconds):
    """CPU ms of the browser per 1000 acknowledged messages, and the rate measured."""
    rate, cpu = measure(url, acked, seconds, warmup=3)
    return cpu, rate


def fleet(base, connection, seconds):
    """200 devices at 1 Hz: CPU % of one core, JS heap, wasm memory, every sequence complete."""
    run = "b" + run_id()
    subscriber = Subscriber(f"bench/{run}/#", MQTT_PORT)
    browser = Browser()
    try:
        browser.open(
            f"{base}/?broker={BROKER}&device_id={run}&topic=bench/{run}/%7Bdevice_id%7D&devices=200"
            f"&connection={connection}&interval=1&profile=seed&anomaly_mode=off&autostart=1"
        )
        began = time.time()
        browser.wait_for("every device connected", lambda: browser.text("status") == "connected", timeout=180)
        connect_s = time.time() - began
        c0, t0 = browser.cpu_s(), time.time()
        time.sleep(seconds)
        c1, t1 = browser.cpu_s(), time.time()
        heap, wasm = browser.heap_mb(), browser.wasm_mb()
        browser.click("stop")
        browser.wait_for("stopped", lambda: browser.text("status") == "disconnected", timeout=30)
        published = int(browser.text("published"))
        deadline = time.time() + 10
        while len(subscriber.messages) < published and time.time() < deadline:
            time.sleep(0.2)
    finally:
        browser.quit()
        subscriber.stop()
    by_device = collections.defaultdict(set)
    for message in subscriber.messages:
        by_device[message["device_id"]].add(message["sequence"])
    complete = len(by_device) == 200 and all(s == set(range(1, max(s) + 1)) for s in by_device.values())
    complete = complete and sum(len(s) for s in by_device.values()) == published
    return (c1 - c0) / (t1 - t0) * 100, heap, wasm, complete, published, connect_s


def cpu_percent(url, seconds, wait_connected=True):
    browser = Browser()
    try:
        browser.open(url)
        if wait_connected:
            browser.wait_for("connected", lambda: browser.text("status") == "connected")
        else:
            browser.wait_for("the page", lambda: browser.text("status") == "disconnected")
        time.sleep(2)
        c0, t0 = browser.cpu_s(), time.time()
        time.sleep(seconds)
        c1, t1 = browser.cpu_s(), time.time()
        return (c1 - c0) / (t1 - t0) * 100
    finally:
        browser.quit()


def main():
    set_output_dir(os.path.join(os.path.dirname(os.path.abspath(DIST)), "bench"))
    page, refs = serve(DIST), serve(REFERENCE)
    base = f"http://127.0.0.1:{page.server_address[1]}"
    ref = f"http://127.0.0.1:{refs.server_address[1]}"
    rows = []

    def row(what, value, target=""):
        rows.append((what, value, target))
        print(f"  {what}: {value}", flush=True)

    if "1" in ONLY:
        print(f"1-2. max rate, window {WINDOW}, {MAX_RATE_S} s after a 5 s warm-up", flush=True)
        raw = acked_rate(f"{ref}/raw.html?broker={BROKER}&topic=bench/raw&window={WINDOW}", REF_ACKED, MAX_RATE_S)
        mqttjs = acked_rate(f"{ref}/mqttjs.html?broker={BROKER}&topic=bench/mqttjs&window={WINDOW}&rate=0", REF_ACKED, MAX_RATE_S)
        ours_rate = acked_rate(ours(base, f"interval=0&max_inflight={WINDOW}&profile=seed"), OURS_ACKED, MAX_RATE_S)
        row("raw WebSocket page (ceiling), msg/s", f"{raw:,.0f}")
        row("MQTT.js 5 page, msg/s", f"{mqttjs:,.0f} ({mqttjs / raw:.2f}x ceiling)")
        row("dps368-sim, msg/s", f"{ours_rate:,.0f}", ">= 0.9x ceiling, ahead of MQTT.js")
        row("dps368-sim / ceiling", f"{ours_rate / raw:.2f}x", ">= 0.90x")
        row("dps368-sim / MQTT.js", f"{ours_rate / mqttjs:.2f}x", "> 1.00x")

    if "3" in ONLY:
        print(f"3. CPU per 1000 acknowledged messages at 100 msg/s ({PACED_S} s)", flush=True)
        ref_cpu, ref_paced = cpu_per_1000(
            f"{ref}/mqttjs.html?broker={BROKER}&topic=bench/mqttjs&window={WINDOW}&rate=100", REF_ACKED, PACED_S
        )
        our_cpu, our_paced = cpu_per_1000(ours(base, "interval=0.01&profile=seed"), OURS_ACKED, PACED_S)
        raw_cpu, raw_paced = cpu_per_1000(
            f"{ref}/raw.html?broker={BROKER}&topic=bench/raw&window={WINDOW}&rate=100", REF_ACKED, PACED_S
        )
        row("raw WebSocket page (the browser's floor), CPU ms per 1000 msgs", f"{raw_cpu:,.0f} (at {raw_paced:.0f} msg/s)")
        row("MQTT.js page, CPU ms per 1000 msgs", f"{ref_cpu:,.0f} (at {ref_paced:.0f} msg/s)")
        row("dps368-sim, CPU ms per 1000 msgs", f"{our_cpu:,.0f} (at {our_paced:.0f} msg/s)", "<= 0.5x MQTT.js")
        row("dps368-sim / MQTT.js CPU", f"{our_cpu / ref_cpu:.2f}x", "<= 0.50x")

    if "4" in ONLY:
        print(f"4. 200 devices at 1 Hz for {FLEET_S} s", flush=True)
        for connection in ("per-device", "shared"):
            cpu, heap, wasm, complete, published, connect_s = fleet(base, connection, FLEET_S)
            row(f"200 devices {connection}: CPU % of one core", f"{cpu:.1f} %", "< 25 %")
            row(f"200 devices {connection}: JS heap + wasm memory", f"{heap:.1f} MB + {wasm:.1f} MB = {heap + wasm:.1f} MB", "< 30 MB")
            row(f"200 devices {connection}: every sequence at the subscriber",
                f"{'yes' if complete else 'NO'} ({published} messages; all connected after {connect_s:.1f} s)")

    if "5" in ONLY:
        print(f"5. one device at 1 Hz ({IDLE_S} s)", flush=True)
        one = cpu_percent(ours(base, "interval=1"), IDLE_S)
        idle = cpu_percent(f"{base}/", IDLE_S, wait_connected=False)
        row("one device at 1 Hz: CPU % of one core", f"{one:.2f} %", "< 1 %")
        row("the page loaded, idle: CPU % of one core", f"{idle:.2f} %")

    print()
    print("| measure | figure | target |")
    print("| --- | ---: | --- |")
    for what, value, target in rows:
        print(f"| {what} | {value} | {target} |")
    page.shutdown()
    refs.shutdown()


if __name__ == "__main__":
    main()
