#!/usr/bin/env python3
"""Benchmarks the native runner (release build) against a local mosquitto and prints a table
(see README, Figures): figures, not assertions.

1. Devices at 1 Hz, a TCP connection each: for each fleet size, the time until every device is
   connected, then the runner's CPU (and mosquitto's, which receives every message) over a
   steady window, with the acknowledged rate.
2. Max rate on one connection: acknowledged msg/s of one device at `--interval 0`, beside
   `mosquitto_pub -q 1 --repeat N` publishing one of the runner's payloads (captured through
   mosquitto) N times on one connection, waiting for each PUBACK before the next; the runner
   with one message in flight as well, and with its default 32; and CPU per 1000 messages of
   each. (`mosquitto_pub -l` is no reference: at QoS 1 it disconnects once stdin ends and loses
   what it had not sent yet, about 3,400 of 200,000 lines sent here.)

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
REPEATS = 50_000 if QUICK else 200_000  # mosquitto_pub's messages: several seconds of them
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
        """SIGINT, then the exit's resource usage: CPU seconds of the whole run (None when it
        had ended already)."""
        if self.proc.returncode is not None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            _, status, usage = os.wait4(self.proc.pid, 0)
        except ChildProcessError:  # reaped meanwhile
            return None
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
    (ts0, s0), c0, m0, t0 = runner.stats[-1], cpu_s(runner.proc.pid), cpu_s(MOSQUITTO_PID), time.time()
    time.sleep(WINDOW_S)
    (ts1, s1), c1, m1, t1 = runner.stats[-1], cpu_s(runner.proc.pid), cpu_s(MOSQUITTO_PID), time.time()
    runner.stop()
    seconds = t1 - t0
    core = 100 * (c1 - c0) / seconds
    row(f"{devices:,} devices at 1 Hz, a connection each: all connected after", f"{ramp:.1f} s")
    row("  runner CPU (of one core / of the machine's cores)", f"{core:.1f} % / {core / CORES:.1f} % of {CORES}")
    row("  mosquitto CPU (of one core)", f"{100 * (m1 - m0) / seconds:.1f} %")
    row("  acknowledged msg/s in the window; dropped in it", f"{(s1['acked'] - s0['acked']) / (ts1 - ts0):,.0f}; {s1['dropped'] - s0['dropped']}")
    # The fleet's offline queues share 100,000 samples: a device still waiting to connect after
    # its share of seconds drops its oldest samples (the README's Fleets section).
    row("  dropped before the window (connecting, then 5 s)", f"{s0['dropped']:,} (a queue of {min(1000, 100_000 // devices)} each)")


def max_rate(extra, label):
    runner = Runner("--devices", "1", "--interval", "0", "--device-id", "bmax", "--clean-session", "true", *extra)
    time.sleep(MAX_RATE_S + 1)
    cpu = runner.stop()
    # The per-second lines after the first (connecting) second.
    lines = [s for s in runner.stats if not s[1].get("final")]
    if len(lines) < 3:
        row(label, f"no rate: {len(lines)} stats lines; {''.join(runner.err[-3:]).strip()}")
        return None
    (t0, first), (t1, last) = lines[1], lines[-1]
    rate = (last["acked"] - first["acked"]) / (t1 - t0)
    total = runner.last()["acked"]
    cpu_text = "" if cpu is None else f"; {1e6 * cpu / max(total, 1):.1f} CPU ms per 1000"
    row(label, f"{rate:,.0f} msg/s ({total:,} acknowledged{cpu_text})")
    return rate


def mosquitto_pub_rate(payload):
    """mosquitto_pub -q 1 --repeat: it sends each message after the last one's PUBACK and exits 0
    after the last PUBACK, so the rate is of messages the broker acknowledged. (Without -d: a
    reader of its debug lines would take CPU from it and the broker.)"""
    start = time.time()
    proc = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-q", "1", "-i", "bench-pub",
                             "-t", "device/bench-pub/telemetry", "-m", payload, "--repeat", str(REPEATS)])
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.time() - start
    code = os.waitstatus_to_exitcode(status)
    acked = REPEATS
    if code != 0:
        row("mosquitto_pub -q 1 --repeat", f"failed (exit {code}): no rate")
        return None
    # Its time includes starting and connecting (milliseconds of seconds).
    rate = acked / seconds
    cpu = usage.ru_utime + usage.ru_stime
    row("mosquitto_pub -q 1 --repeat, a runner payload (in flight 1)",
        f"{rate:,.0f} msg/s ({acked:,} acknowledged in {seconds:.1f} s; {1e6 * cpu / acked:.1f} CPU ms per 1000)")
    return rate


def capture_payload():
    """One payload the runner makes, as mosquitto_sub receives it."""
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-t", "device/bcap/telemetry",
                            "-C", "1", "-W", "20"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    runner = Runner("--devices", "1", "--interval", "1", "--device-id", "bcap", "--clean-session", "true")
    out, _ = sub.communicate()
    runner.stop()
    return out.strip()


def main():
    import resource
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(f"native runner ({RUNNER}), against mosquitto on 127.0.0.1:{MQTT_PORT}, {CORES} cores, {limit:,} descriptors", flush=True)
    for devices in FLEETS:
        devices_at_1_hz(devices)
    payload = capture_payload()
    if not payload:
        row("max rate, one connection, QoS 1", "no payload captured: no comparison")
        return
    row("max rate, one connection, QoS 1: the payload", f"{len(payload.encode())} bytes, from the runner")
    ours_1 = max_rate(["--max-inflight", "1"], "runner, one device at --interval 0 (in flight 1)")
    max_rate([], "runner, one device at --interval 0 (in flight 32, the default)")
    theirs = mosquitto_pub_rate(payload)
    if ours_1 and theirs:
        row("runner / mosquitto_pub (in flight 1 each)", f"{ours_1 / theirs:.2f}x")

if __name__ == "__main__":
    main()
