#!/usr/bin/env python3
"""Benchmarks `--latency` (see README, Figures): figures, not assertions.

The runner (release build) publishes to a local mosquitto at 1k, 10k and 50k msg/s (devices of
their own connection at 100 Hz) and at max rate, and times every sample from its due time to its
own subscriber. Beside it in the same run, a separate reference probe: `mosquitto_sub -q 1` on
the same topics, its output read by this script, each line stamped when the pipe delivers it and
timed from the payload's timestamp (the sample's due time) on the wall clock. And the floor: a
TCP round trip on loopback (Python, 20,000 one-byte ping-pongs, so Python's own cost is in it).

Each load runs against a mosquitto of its own whose queue for a subscriber is unbounded
(`max_queued_messages 0`, `max_inflight_messages 0`): with the defaults (1,000 queued, 20 in
flight), a subscriber that falls behind at 50k msg/s is dropped messages by the broker, ours and
mosquitto_sub alike; the last row shows that run, with the defaults, and the loss `--latency`
reports.

Usage: bench_latency.py RUNNER_BINARY
"""

import json
import os
import random
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

RUNNER = sys.argv[1]
MQTT_PORT = 0  # the broker of the row running
QUICK = os.environ.get("BENCH_QUICK") == "1"
SECONDS = 5 if QUICK else 15
# (label, devices, interval s): the rate is devices / interval; interval 0 is max rate.
# The last: mosquitto's default queue limits.
RATES = [("1k msg/s", 10, "0.01", True), ("10k msg/s", 100, "0.01", True), ("50k msg/s", 500, "0.01", True),
         ("max rate (20 devices)", 20, "0", True), ("50k msg/s, mosquitto's default limits", 500, "0.01", False)]


class Broker:
    """A mosquitto of its own on a free loopback port, unbounded queues unless `defaults`."""

    def __init__(self, defaults):
        global MQTT_PORT
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            MQTT_PORT = s.getsockname()[1]
        self.conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        self.conf.write(f"user root\nallow_anonymous true\nlistener {MQTT_PORT} 127.0.0.1\n")
        if not defaults:
            self.conf.write("max_queued_messages 0\nmax_inflight_messages 0\n")
        self.conf.close()
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf.name], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", MQTT_PORT), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        os.unlink(self.conf.name)


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 1)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def figures(values):
    values = sorted(values)
    return [percentile(values, q) for q in (0.5, 0.99, 0.999)], len(values)


def loopback_rtt(n=20_000):
    """Round trips of one byte over a loopback TCP connection, ms."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def echo():
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(1):
            conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        client.sendall(b"x")
        client.recv(1)
        times.append((time.perf_counter() - t) * 1000)
    client.close()
    return figures(times)


class Reference:
    """mosquitto_sub on the run's topics; every payload timed on arrival at this process."""

    def __init__(self, run_id):
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-q", "1", "-t", f"device/+/telemetry",
             "-i", f"bench-ref-{run_id}"],
            stdout=subprocess.PIPE,
        )
        self.prefix = f'"device_id":"{run_id}'.encode()
        self.latencies = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.5)  # subscribed before the run begins

    def _read(self):
        fd = self.proc.stdout.fileno()
        rest = b""
        stamp_cache = {}
        while chunk := os.read(fd, 1 << 20):
            now_ms = time.time() * 1000
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if self.prefix not in line:
                    continue
                # {"timestamp":"2026-12-08T03:53:37.180Z",...: the second is cached.
                text = line[14:38].decode()
                second = text[:19]
                base = stamp_cache.get(second)
                if base is None:
                    base = datetime.strptime(second, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp() * 1000
                    stamp_cache[second] = base
                self.latencies.append(now_ms - (base + int(text[20:23])))

    def stop(self):
        time.sleep(1.0)
        self.proc.terminate()
        self.thread.join(5)
        return self.latencies


def run(devices, interval):
    run_id = "bl" + "".join(random.choices(string.ascii_lowercase, k=4))
    reference = Reference(run_id)
    proc = subprocess.run(
        [RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--devices", str(devices), "--device-id", run_id,
         "--interval", interval, "--latency", "--stats-json", "--duration", str(SECONDS), "--allow-drops",
         "--queue", "100000", "--precision", "1"],
        capture_output=True, text=True, timeout=SECONDS + 120,
    )
    ref = reference.stop()
    final = json.loads(proc.stdout.splitlines()[-1])
    return final, figures(ref)


def main():
    print(f"Latency from due to received, ms ({SECONDS} s a run; {os.cpu_count()} cores)")
    (p50, p99, p999), n = loopback_rtt()
    print(f"  floor: loopback TCP round trip (Python), p50 {p50:.3f}  p99 {p99:.3f}  p99.9 {p999:.3f} of {n}")
    header = ("load", "acked/s", "runner p50", "p99", "p99.9", "max", "lost", "reference p50", "p99", "p99.9", "count")
    print("  " + " | ".join(header))
    for label, devices, interval, unbounded in RATES:
        broker = Broker(defaults=not unbounded)
        try:
            final, ((r50, r99, r999), rn) = run(devices, interval)
        finally:
            broker.stop()
        lat = final["latency_ms"]
        rate = final["acked"] / SECONDS
        print(
            f"  {label} | {rate:,.0f} | {lat['p50']} | {lat['p99']} | {lat['p999']} | {lat['max']} | "
            f"{final['latency_lost']} | {r50:.3f} | {r99:.3f} | {r999:.3f} | {rn}",
            flush=True,
        )


if __name__ == "__main__":
    main()
