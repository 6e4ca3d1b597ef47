#!/usr/bin/env python3
"""Benchmarks the native runner (release build) against a local mosquitto and prints a table
(see README, Figures): figures, not assertions.

1. Devices at 1 Hz, a TCP connection each: for each fleet size, the time until every device is
   connected, then the runner's CPU (and mosquitto's, which receives every message) over a
   steady window, with the acknowledged rate.
2. Max rate on one connection: acknowledged msg/s of one device at `--interval 0`, beside
   `mosquitto_pub -l -q 1` publishing the same payloads (captured from the runner) on one
   connection, each with the same in-flight window (20, mosquitto_pub's), and CPU per 1000
   messages of each.

Usage: bench_runner.py RUNNER_BINARY MQTT_PORT MOSQUITTO_PID
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

RUNNER, MQTT_PORT, MOSQUITTO_PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BROKER = f"mqtt://127.0.0.1:{MQTT_PORT}"
QUICK = os.environ.get("BENCH_QUICK") == "1"
FLEETS = [int(n) for n in os.environ.get("BENCH_FLEETS", "1000,10000,19000").split(",")]
WINDOW_S = 10 if QUICK else 30
MAX_RATE_S = 4 if QUICK else 10
CAPTURED = 20_000 if QUICK else 100_000
REPEATS = 2 if QUICK else 5  # the captured payloads, over and over: several seconds of mosquitto_pub
TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count()


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def row(label, value):
    print(f"  {label:<62} {value}", flush=True)


class Runner:
    """The runner with --stats-json, its JSON lines read as they come."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([RUNNER, "--broker", BROKER, "--stats-json", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stats = []
        self.err = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.stats.append((time.time(), json.loads(line)))

    def last(self):
        return self.stats[-1][1] if self.stats else {}

    def stop(self):
        """SIGINT, then the exit's resource usage: CPU seconds of the whole run."""
        self.proc.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        time.sleep(0.2)
        return usage.ru_utime + usage.ru_stime


def devices_at_1_hz(devices):
    runner = Runner("--devices", str(devices), "--interval", "1", "--profile", "seed", "--device-id", f"b{devices}",
                    "--clean-session", "true", "--allow-drops")
    started = time.time()
    deadline = started + 300
    while runner.last().get("connections_up", 0) < devices and time.time() < deadline and runner.proc.poll() is None:
        time.sleep(0.2)
    up = runner.last().get("connections_up", 0)
    ramp = time.time() - started
    if up < devices:
        runner.stop()
        row(f"{devices:,} devices: connected", f"only {up:,} after {ramp:.0f} s; {''.join(runner.err[-3:]).strip()}")
        return
    time.sleep(5)  # settle: the first second's burst of samples is acknowledged
    s0 = runner.last()
    c0, m0, t0 = cpu_s(runner.proc.pid), cpu_s(MOSQUITTO_PID), time.time()
    time.sleep(WINDOW_S)
    s1 = runner.last()
    c1, m1, t1 = cpu_s(runner.proc.pid), cpu_s(MOSQUITTO_PID), time.time()
    runner.stop()
    seconds = t1 - t0
    core = 100 * (c1 - c0) / seconds
    row(f"{devices:,} devices at 1 Hz, a connection each: all connected after", f"{ramp:.1f} s")
    row("  runner CPU (of one core / of the machine's cores)", f"{core:.1f} % / {core / CORES:.1f} % of {CORES}")
    row("  mosquitto CPU (of one core)", f"{100 * (m1 - m0) / seconds:.1f} %")
    row("  acknowledged msg/s in the window; dropped in it", f"{(s1['acked'] - s0['acked']) / seconds:,.0f}; {s1['dropped'] - s0['dropped']}")
    # The fleet's offline queues share 100,000 samples: a device still waiting to connect after
    # its share of seconds drops its oldest samples (the README's Fleets section).
    row("  dropped while the fleet was connecting", f"{s0['dropped']:,} (a queue of {min(1000, 100_000 // devices)} each)")


def max_rate(extra, label):
    runner = Runner("--devices", "1", "--interval", "0", "--device-id", "bmax", "--clean-session", "true", *extra)
    time.sleep(MAX_RATE_S + 1)
    cpu = runner.stop()
    # The per-second lines after the first (connecting) second.
    lines = [s for s in runner.stats if not s[1].get("final")]
    (t0, first), (t1, last) = lines[1], lines[-1]
    rate = (last["acked"] - first["acked"]) / (t1 - t0)
    total = runner.last()["acked"]
    row(label, f"{rate:,.0f} msg/s ({total:,} acknowledged; {1e6 * cpu / max(total, 1):.1f} CPU ms per 1000)")
    return rate


def mosquitto_pub_rate(payloads, count):
    start = time.time()
    with open(payloads) as source:
        proc = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-q", "1", "-i", "bench-pub",
                                 "-t", "device/bench-pub/telemetry", "-l"], stdin=source)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.time() - start
    rate = count / seconds
    cpu = usage.ru_utime + usage.ru_stime
    row("mosquitto_pub -l -q 1, the same payloads (in flight 20)",
        f"{rate:,.0f} msg/s ({count:,} in {seconds:.1f} s; {1e6 * cpu / count:.1f} CPU ms per 1000)")
    return rate


def capture_payloads():
    """Payloads the runner makes at max rate, as mosquitto_sub receives them, one per line."""
    path = os.path.join(tempfile.mkdtemp(prefix="dps368-bench-"), "payloads.txt")
    with open(path, "w") as out:
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-t", "device/bcap/telemetry",
                                "-C", str(CAPTURED), "-W", "60"], stdout=out)
        time.sleep(0.5)
        runner = Runner("--devices", "1", "--interval", "0", "--device-id", "bcap", "--clean-session", "true",
                        "--allow-drops")
        sub.wait()
        runner.stop()
    with open(path) as f:
        lines = f.readlines()
    with open(path, "w") as f:
        f.writelines(lines * REPEATS)
    return path, len(lines), len(lines) * REPEATS


def main():
    import resource
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(f"native runner ({RUNNER}), against mosquitto on 127.0.0.1:{MQTT_PORT}, {CORES} cores, {limit:,} descriptors", flush=True)
    for devices in FLEETS:
        devices_at_1_hz(devices)
    payloads, captured, count = capture_payloads()
    size = os.path.getsize(payloads) / count - 1
    row("max rate, one connection, QoS 1: payloads", f"{captured:,} captured, {size:.0f} bytes on average")
    ours_20 = max_rate(["--max-inflight", "20"], "runner, one device at --interval 0 (in flight 20)")
    max_rate([], "runner, one device at --interval 0 (in flight 32, the default)")
    theirs = mosquitto_pub_rate(payloads, count)
    row("runner / mosquitto_pub (in flight 20 each)", f"{ours_20 / theirs:.2f}x")


if __name__ == "__main__":
    main()
