#!/usr/bin/env python3
"""End-to-end test of the native runner (`dps368-sim`, runner/) against a real mosquitto.

200 devices (a connection each) for 10 s over TCP at 1 Hz: a QoS 1 subscriber gets every
sequence of every device; SIGINT mid-run stops it gracefully: a DISCONNECT from every device
(mosquitto logs each), and totals with acknowledged + dropped = samples; a shared connection
does the same for 200 devices, stopped by SIGTERM; at max rate SIGINT still accounts for every
sample; a broker stopped for 6 s under 1,000 devices costs fewer than 100 stderr lines while
--stats-json keeps its line a second; and bad flags exit non-zero with each field's error, having sent nothing (no
connection reaches the broker).

Over a WebSocket (`ws://`, mosquitto's websockets listener) as well: 200 devices on one shared
connection and 20 with a connection each, every sequence delivered, clean DISCONNECTs.

Usage: runner.py RUNNER_BINARY MQTT_PORT BROKER_LOG WS_PORT
"""

import json
import os
import random
import re
import signal
import string
import subprocess
import sys
import time

from harness import RUNNER_TOTALS, RawSubscriber, Subscriber, broker_log_since, finish, run

RUNNER, MQTT_PORT, BROKER_LOG, WS_PORT = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])


def fleet_run(connection, seconds, stop=signal.SIGINT, broker=None, devices=200):
    run_id = "rn-" + "".join(random.choices(string.ascii_lowercase, k=5))
    subscriber = Subscriber("device/+/telemetry", MQTT_PORT)
    log_start = os.path.getsize(BROKER_LOG)
    try:
        proc = subprocess.Popen(
            [RUNNER, "--broker", broker or f"mqtt://127.0.0.1:{MQTT_PORT}", "--devices", str(devices), "--connection", connection,
             "--device-id", run_id, "--interval", "1", "--profile", "seed", "--stats-json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(seconds)
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, (proc.returncode, err)
        time.sleep(1)
    finally:
        subscriber.stop()
    # With --stats-json stdout is JSON lines only; the totals in words go to stderr.
    assert all(line.startswith("{") for line in out.splitlines()), out
    totals = RUNNER_TOTALS.search(err)
    assert totals, out + err
    samples, published, acked, dropped = map(int, totals.groups())
    assert acked + dropped == samples and dropped == 0, totals.group(0)
    final = [line for line in out.splitlines() if '"final":true' in line]
    assert final and f'"acked":{acked}' in final[0], final
    stats = [line for line in out.splitlines() if line.startswith("{")]
    assert len(stats) >= seconds - 2, stats[-1:]
    mine = [m for m in subscriber.messages if m["device_id"].startswith(run_id + "-")]
    by_device = {}
    for m in mine:
        by_device.setdefault(m["device_id"], set()).add(m["sequence"])
    assert len(by_device) == devices, len(by_device)
    for device, sequences in by_device.items():
        assert sequences == set(range(1, max(sequences) + 1)), device
    # Every sample made and acknowledged arrived, once per sequence number (QoS 1 may repeat one).
    assert sum(len(sequences) for sequences in by_device.values()) == samples, (len(mine), samples)
    with open(BROKER_LOG) as f:
        f.seek(log_start)
        log = f.read()
    clean = set(re.findall(r"Client (" + re.escape(run_id) + r"[^ ]*) disconnected\.", log))
    return samples, acked, len(clean)


def test_200_devices_a_connection_each_deliver_every_sequence_and_stop_cleanly_on_sigint():
    samples, acked, clean = fleet_run("per-device", 10)
    assert clean == 200, f"{clean} clean DISCONNECTs of 200"
    return f"{samples} samples, {acked} acknowledged, 200 DISCONNECTs"


def test_200_devices_on_one_shared_connection_stop_cleanly_on_sigterm():
    samples, acked, clean = fleet_run("shared", 10, signal.SIGTERM)
    assert clean == 1, f"{clean} clean DISCONNECTs of 1"
    return f"{samples} samples, {acked} acknowledged, one DISCONNECT"


def test_over_a_websocket_200_devices_shared_and_20_with_a_connection_each():
    broker = f"ws://127.0.0.1:{WS_PORT}"
    samples, acked, clean = fleet_run("shared", 8, broker=broker)
    assert clean == 1, f"{clean} clean DISCONNECTs of 1"
    per_device, per_acked, per_clean = fleet_run("per-device", 8, broker=broker, devices=20)
    assert per_clean == 20, f"{per_clean} clean DISCONNECTs of 20"
    return f"shared: {samples} samples, all acknowledged; a connection each: {per_device} samples, 20 DISCONNECTs"


def test_at_max_rate_sigint_waits_for_what_is_in_flight_and_accounts_for_every_sample():
    proc = subprocess.Popen(
        [RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--interval", "0", "--device-id", "rn-max",
         "--profile", "seed"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    totals = RUNNER_TOTALS.search(out)
    assert totals, out + err
    samples, published, acked, dropped = map(int, totals.groups())
    assert samples > 1000 and acked + dropped == samples, totals.group(0)
    assert (proc.returncode == 0) == (dropped == 0), (proc.returncode, dropped)
    return f"{samples} samples in 3 s, {acked} acknowledged, {dropped} dropped, exit {proc.returncode}"


def collect_run(commands, seconds):
    """Runs the runner commands side by side for `seconds`, stops them with SIGINT, and returns
    the telemetry a QoS 1 subscriber got, by device id and sequence (payload text)."""
    subscriber = RawSubscriber(MQTT_PORT, "device/+/telemetry")
    try:
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
        time.sleep(seconds)
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            out, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, (proc.returncode, err)
        time.sleep(1)
    finally:
        subscriber.stop()
    streams = {}
    for _, payload in subscriber.messages:
        message = json.loads(payload)
        streams.setdefault(message["device_id"], {})[message["sequence"]] = payload
    return streams


def test_four_shards_together_publish_exactly_the_whole_fleet():
    run_id = "rn-sh-" + "".join(random.choices(string.ascii_lowercase, k=4))
    common = [RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--devices", "12", "--device-id", run_id,
              "--interval", "0.2", "--seed", "9", "--start", "2026-01-01T00:00:00Z", "--anomaly-every", "7"]
    whole = collect_run([common], 4)
    shards = collect_run([common + ["--shard", f"{k}/4"] for k in range(4)], 4)
    whole = {d: s for d, s in whole.items() if d.startswith(run_id)}
    shards = {d: s for d, s in shards.items() if d.startswith(run_id)}
    assert sorted(whole) == sorted(shards) and len(whole) == 12, (sorted(whole), sorted(shards))
    compared = 0
    for device in whole:
        common_sequences = set(whole[device]) & set(shards[device])
        assert len(common_sequences) >= 10, (device, len(common_sequences))
        for sequence in common_sequences:
            assert whole[device][sequence] == shards[device][sequence], (device, sequence)
            compared += 1
    return f"12 device ids, {compared} payloads identical byte for byte"


def test_export_writes_every_sample_with_its_labels_and_fate():
    results = []
    for extension in ("csv", "jsonl"):
        path = os.path.abspath(f"target/runner-export.{extension}")
        if os.path.exists(path):
            os.remove(path)
        proc = subprocess.run(
            [RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--devices", "3", "--interval", "0.1",
             "--device-id", "rn-exp", "--anomaly-every", "5", "--profile", "seed", "--duration", "2",
             "--export", path],
            capture_output=True, text=True, timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        samples = int(RUNNER_TOTALS.search(proc.stdout).group(1))
        with open(path) as f:
            lines = f.read().splitlines()
        if extension == "csv":
            assert lines[0].startswith("sequence,timestamp,device_id"), lines[0]
            rows = lines[1:]
            assert all(row.endswith(",acknowledged") for row in rows), rows[:3]
            assert sum(",true," in row for row in rows) >= 3, "anomalies labelled"
        else:
            rows = [json.loads(line) for line in lines]
            assert {row["status"] for row in rows} == {"acknowledged"}, rows[:3]
            assert sum(row["anomaly"] for row in rows) >= 3
        assert len(rows) == samples, (len(rows), samples)
        results.append(f"{len(rows)} {extension} rows")
    return ", ".join(results) + ", every one acknowledged"


def test_a_broker_outage_under_1000_devices_is_a_few_lines_and_stats_stay_one_a_second():
    """A broker of its own, stopped for 6 s under 1,000 devices (a connection each) and started
    again on the same port: stderr stays under 100 lines, --stats-json keeps its line a second,
    and everything is delivered in the end."""
    import threading

    from harness import free_port, wait_port

    work = os.path.join(os.path.dirname(os.path.abspath(BROKER_LOG)), "outage")
    os.makedirs(work, exist_ok=True)
    port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"user root\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                f"max_queued_messages 100000\nlog_dest file {work}/mosquitto.log\n")

    def broker():
        proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        return proc

    mosquitto = broker()
    stats, errors = [], []
    runner = subprocess.Popen(
        [RUNNER, "--broker", f"mqtt://127.0.0.1:{port}", "--devices", "1000", "--connection", "per-device",
         "--interval", "1", "--device-id", "rn-out", "--profile", "seed", "--stats-json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def read(stream, into, stamped):
        for line in stream:
            into.append((time.monotonic(), json.loads(line)) if stamped else line.rstrip("\n"))

    readers = [threading.Thread(target=read, args=(runner.stdout, stats, True), daemon=True),
               threading.Thread(target=read, args=(runner.stderr, errors, False), daemon=True)]
    for reader in readers:
        reader.start()

    def wait_all_up(timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stats and stats[-1][1].get("connections_up") == 1000:
                return
            time.sleep(0.2)
        raise AssertionError(f"not all 1,000 up: {stats[-1:]}")

    try:
        wait_all_up(60)
        down_at = time.monotonic()
        mosquitto.terminate()
        mosquitto.wait(timeout=10)
        time.sleep(6)
        mosquitto = broker()
        up_at = time.monotonic()
        wait_all_up(90)
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=30)
        for reader in readers:
            reader.join(timeout=5)
    finally:
        if runner.poll() is None:
            runner.kill()
        mosquitto.terminate()
        mosquitto.wait(timeout=10)
    assert runner.returncode == 0, (runner.returncode, errors[-20:])
    assert len(errors) < 100, f"{len(errors)} stderr lines:\n" + "\n".join(errors[:150])
    assert any("connections down:" in line for line in errors), errors
    assert any("all 1,000 connections up again" in line for line in errors), errors
    # The stats keep their line a second through the outage (it is one of them: the loop
    # is never held up by writing errors).
    times = [at for at, line in stats if "final" not in line]
    during = [at for at in times if down_at <= at <= up_at]
    assert len(during) >= 5, (len(during), up_at - down_at)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 2.5, max(gaps)
    final = stats[-1][1]
    assert final.get("final") and final["dropped"] == 0 and final["acked"] == final["samples"], final
    return (f"{len(errors)} stderr lines for a {up_at - down_at:.1f} s outage, {len(during)} stats lines in it, "
            f"largest gap {max(gaps):.2f} s, {final['acked']} acknowledged, none dropped")


def test_bad_flags_exit_with_each_fields_error_and_send_nothing():
    log_start = os.path.getsize(BROKER_LOG)
    proc = subprocess.run(
        [RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--devices", "0", "--interval", "fast", "--colour", "red"],
        capture_output=True, text=True, timeout=20,
    )
    assert proc.returncode == 2, proc.returncode
    for expected in [
        "unknown flag --colour",
        'Publish interval (s): must be a number of seconds, e.g. 1.0 (got "fast")',
        'Devices: must be a whole number from 1 to 100000 (got "0")',
        "nothing was sent",
    ]:
        assert expected in proc.stderr, proc.stderr
    bad_url = subprocess.run([RUNNER, "--broker", f"http://127.0.0.1:{MQTT_PORT}"], capture_output=True, text=True, timeout=20)
    assert bad_url.returncode == 2 and 'Broker URL: must start with mqtt://' in bad_url.stderr, bad_url.stderr
    assert "New connection" not in broker_log_since(BROKER_LOG, log_start)
    return "exit 2, every field named, no connection"


def test_generate_makes_without_a_broker_what_a_live_run_publishes():
    """`dps368-sim generate` with a live run's seed, settings and Start time writes the rows the
    live run exported (all but the status column), and 14 days of 4 devices at 60 s quickly."""
    common = ["--devices", "3", "--interval", "0.1", "--device-id", "rn-gen", "--seed", "77",
              "--start", "2026-02-01T00:00:00Z", "--anomaly-every", "5", "--labels", "topic"]
    live_path, gen_path = os.path.abspath("target/runner-live.csv"), os.path.abspath("target/runner-gen.csv")
    labels_path = os.path.abspath("target/runner-gen-labels.jsonl")
    for path in (live_path, gen_path, labels_path):
        if os.path.exists(path):
            os.remove(path)
    live = subprocess.run([RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", *common, "--duration", "2",
                           "--export", live_path], capture_output=True, text=True, timeout=30)
    assert live.returncode == 0, live.stderr
    generated = subprocess.run([RUNNER, "generate", *common, "--samples", "40", "--export", gen_path,
                                "--labels-export", labels_path], capture_output=True, text=True, timeout=30)
    assert generated.returncode == 0, generated.stderr
    strip = lambda row: row.rsplit(",", 1)[0]
    with open(live_path) as f:
        live_rows = [strip(r) for r in f.read().splitlines()[1:] if r.endswith(",acknowledged")]
    with open(gen_path) as f:
        gen_lines = f.read().splitlines()
    assert len(gen_lines) == 1 + 3 * 40, len(gen_lines)
    gen_rows = {strip(r) for r in gen_lines[1:]}
    assert len(live_rows) >= 30, len(live_rows)
    missing = [r for r in live_rows if r not in gen_rows]
    assert not missing, missing[:3]
    with open(labels_path) as f:
        labels = [json.loads(line) for line in f]
    assert labels and all(l["device_id"].startswith("rn-gen-") for l in labels), labels[:2]
    # Bad input: nothing written.
    bad = subprocess.run([RUNNER, "generate", "--samples", "many", "--export", gen_path + ".x.csv"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--samples: must be a whole number" in bad.stderr, bad.stderr
    assert not os.path.exists(gen_path + ".x.csv")
    # A dataset of 14 days, 4 devices at 60 s.
    big = os.path.abspath("target/runner-gen-14d.csv")
    began = time.time()
    proc = subprocess.run([RUNNER, "generate", "--devices", "4", "--interval", "60", "--samples", "20160",
                           "--export", big], capture_output=True, text=True, timeout=120)
    took = time.time() - began
    assert proc.returncode == 0, proc.stderr
    with open(big) as f:
        rows = sum(1 for _ in f) - 1
    assert rows == 4 * 20160, rows
    os.remove(big)
    return f"{len(live_rows)} live rows all generated alike, {len(labels)} events' ground truth; 14 days x 4 devices ({rows} rows) in {took:.2f} s"


RECORDING = os.path.abspath("tests/data/srrl-golden-2018-10-18.csv")


def recorded_readings():
    """The station recording's rows as the payload prints them (4 and 3 decimals)."""
    import csv
    with open(RECORDING) as f:
        return [(f"{float(r['pressure']):.4f}", f"{float(r['temperature']):.3f}", r["timestamp"]) for r in csv.DictReader(f)]


def test_replay_publishes_a_real_station_recording_as_recorded_with_labelled_anomalies_on_top():
    """A day of NREL's Golden, Colorado station (1,440 rows, scripts/recording_from_pvlib.py),
    played once at 100 Hz by two sensors on one connection, spikes and steps every 30th sample:
    every unlabelled reading the subscriber gets is the recording's row, every labelled one
    differs from it, the run ends by itself after the last row, and the export keeps the
    recording's own time."""
    readings = recorded_readings()
    assert len(readings) == 1440
    run_id = "rn-rp-" + "".join(random.choices(string.ascii_lowercase, k=4))
    export = os.path.abspath("target/runner-replay.csv")
    subscriber = Subscriber("device/+/telemetry", MQTT_PORT)
    try:
        proc = subprocess.run(
            [RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--replay", RECORDING, "--replay-loop", "false",
             "--devices", "2", "--connection", "shared", "--device-id", run_id, "--interval", "0.01",
             "--anomaly-every", "30", "--anomaly-kinds", "spike,step", "--export", export],
            capture_output=True, text=True, timeout=120,
        )
        time.sleep(1)
    finally:
        subscriber.stop()
    assert proc.returncode == 0, proc.stderr
    assert "stopping (the recording ended" in proc.stderr, proc.stderr
    mine = [m for m in subscriber.messages if m["device_id"].startswith(run_id)]
    assert len(mine) == 2 * 1440, len(mine)
    labelled = 0
    for m in mine:
        k = int(m["device_id"].rsplit("-", 1)[1])
        row = ((k - 1) * 1440 // 2 + m["sequence"] - 1) % 1440
        pressure, temperature = f"{m['data']['pressure']:.4f}", f"{m['data']['temperature']:.3f}"
        if m["anomaly"]:
            labelled += 1
            assert pressure != readings[row][0], m
        else:
            assert (pressure, temperature) == readings[row][:2], (m, readings[row])
    assert labelled > 100, labelled
    with open(export) as f:
        lines = f.read().splitlines()
    assert lines[0].endswith(",status,recorded_timestamp"), lines[0]
    first = next(l for l in lines[1:] if l.startswith(f"1,") and f"{run_id}-2" in l)
    assert first.endswith(",2018-10-18T12:00:00-07:00"), first
    # A bad recording: the row and column named, exit 2, nothing sent.
    bad = os.path.abspath("target/bad-recording.csv")
    with open(bad, "w") as f:
        f.write("timestamp,pressure\n2018-10-18T00:00:00Z,927.9\n2018-10-18T00:01:00Z,101325\n")
    log_start = os.path.getsize(BROKER_LOG)
    refused = subprocess.run([RUNNER, "--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--replay", bad],
                             capture_output=True, text=True, timeout=20)
    assert refused.returncode == 2, refused.stderr
    assert f"--replay {bad}: row 3, column pressure: 101325 is outside the part's 300 to 1200 hPa" in refused.stderr, refused.stderr
    assert "New connection" not in broker_log_since(BROKER_LOG, log_start)
    return f"{len(mine)} readings as recorded ({labelled} labelled and moved), ended by itself; a bad file refused by row and column"


def main():
    passed, failed = run([
        test_200_devices_a_connection_each_deliver_every_sequence_and_stop_cleanly_on_sigint,
        test_200_devices_on_one_shared_connection_stop_cleanly_on_sigterm,
        test_over_a_websocket_200_devices_shared_and_20_with_a_connection_each,
        test_at_max_rate_sigint_waits_for_what_is_in_flight_and_accounts_for_every_sample,
        test_four_shards_together_publish_exactly_the_whole_fleet,
        test_export_writes_every_sample_with_its_labels_and_fate,
        test_a_broker_outage_under_1000_devices_is_a_few_lines_and_stats_stay_one_a_second,
        test_bad_flags_exit_with_each_fields_error_and_send_nothing,
        test_generate_makes_without_a_broker_what_a_live_run_publishes,
        test_replay_publishes_a_real_station_recording_as_recorded_with_labelled_anomalies_on_top,
    ])
    finish("runner", passed, failed)


if __name__ == "__main__":
    main()
