#!/usr/bin/env python3
"""End-to-end test of the native runner over TLS (`mqtts://`, `wss://`) against a real mosquitto
with TLS listeners, certificates made here by openssl: a CA, the broker's certificate for
`localhost` only, and a client certificate.

- `mqtts://localhost` with `--cafile`: 20 devices with a connection each deliver every sequence
  (a QoS 1 subscriber on the broker's plain listener) and stop cleanly on SIGINT.
- `wss://localhost` with no TLS flag trusts the system's roots: here the CA by `SSL_CERT_FILE`,
  the variable OpenSSL and the runner read; 50 devices on one shared connection.
- A listener that requires a client certificate: without `--cert`/`--key` nothing gets in, with
  them every sample does.
- Refusals, each with exit 1, the reason on the terminal and no MQTT CONNECT at the broker: the
  machine's real roots do not trust this CA; `127.0.0.1` is not the name in the certificate.

Usage: runner_tls.py RUNNER_BINARY
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from harness import RUNNER_TOTALS, Subscriber, assert_loopback_only, finish, free_port, run

RUNNER = sys.argv[1]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificates(folder):
    """A CA, the broker's certificate for DNS:localhost (not 127.0.0.1) and a client's."""
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=dps368-sim test CA", "-keyout", path("ca.key"), "-out", path("ca.pem"))
    for name, extension in [("server", "subjectAltName=DNS:localhost"), ("client", "extendedKeyUsage=clientAuth")]:
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
                "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"))
        with open(path(f"{name}.ext"), "w") as f:
            f.write(extension + "\n")
        openssl("x509", "-req", "-in", path(f"{name}.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", path(f"{name}.ext"), "-out", path(f"{name}.pem"))
    return path


class TlsBroker:
    def __init__(self, path):
        self.plain, self.mqtts, self.wss, self.mutual = (free_port() for _ in range(4))
        self.log = path("mosquitto.log")
        tls = f"cafile {path('ca.pem')}\ncertfile {path('server.pem')}\nkeyfile {path('server.key')}\n"
        with open(path("mosquitto.conf"), "w") as f:
            f.write(
                f"user root\nper_listener_settings false\nallow_anonymous true\npersistence false\n"
                f"log_dest file {self.log}\nlog_type all\nconnection_messages true\n"
                f"listener {self.plain} 127.0.0.1\n"
                f"listener {self.mqtts} 127.0.0.1\n{tls}"
                f"listener {self.wss} 127.0.0.1\nsocket_domain ipv4\nprotocol websockets\n{tls}"
                f"listener {self.mutual} 127.0.0.1\n{tls}require_certificate true\n"
            )
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", path("mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while "running" not in self.read_log() and time.time() < deadline:
            time.sleep(0.1)
        assert "running" in self.read_log(), self.read_log()
        assert_loopback_only(self.plain, self.mqtts, self.wss, self.mutual)

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run_for(args, seconds, env=None, stop=signal.SIGINT):
    proc = subprocess.Popen([RUNNER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=None if env is None else dict(os.environ, **env))
    time.sleep(seconds)
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def delivered(broker, path, run_id, args, devices, env=None):
    """Runs for 5 s, then checks the totals and that a subscriber got every sequence."""
    subscriber = Subscriber("device/+/telemetry", broker.plain)
    try:
        code, out, err = run_for(["--device-id", run_id, "--devices", str(devices), "--interval", "1",
                                  "--profile", "seed", *args], 5, env)
        time.sleep(1)
    finally:
        subscriber.stop()
    assert code == 0, (code, out[-2000:], err[-2000:])
    totals = RUNNER_TOTALS.search(out)
    assert totals, out
    samples, published, acked, dropped = map(int, totals.groups())
    assert acked == samples and dropped == 0 and samples >= 4 * devices, totals.group(0)
    by_device = {}
    for message in subscriber.messages:
        if message["device_id"].startswith(run_id + "-") or message["device_id"] == run_id:
            by_device.setdefault(message["device_id"], set()).add(message["sequence"])
    assert len(by_device) == devices, sorted(by_device)
    for device, sequences in by_device.items():
        assert sequences == set(range(1, max(sequences) + 1)), (device, sorted(sequences))
    assert sum(len(s) for s in by_device.values()) == samples, samples
    return samples


def test_mqtts_with_cafile_20_devices_a_connection_each(broker, path):
    samples = delivered(broker, path, "tls-a", ["--broker", f"mqtts://localhost:{broker.mqtts}",
                                                "--cafile", path("ca.pem")], 20)
    clean = set(re.findall(r"Client (tls-a[^ ]*) disconnected\.", broker.read_log()))
    assert len(clean) == 20, sorted(clean)
    return f"{samples} samples over mqtts://, every sequence, 20 clean DISCONNECTs"


def test_wss_trusts_the_system_roots_50_devices_shared(broker, path):
    samples = delivered(broker, path, "tls-b", ["--broker", f"wss://localhost:{broker.wss}/mqtt",
                                                "--connection", "shared"], 50,
                        env={"SSL_CERT_FILE": path("ca.pem"), "SSL_CERT_DIR": path("no-such-dir")})
    return f"{samples} samples over wss:// trusted through SSL_CERT_FILE, every sequence"


def test_a_client_certificate_is_sent_when_given_and_needed_when_asked(broker, path):
    url = ["--broker", f"mqtts://localhost:{broker.mutual}", "--cafile", path("ca.pem")]
    # The client id given, so the broker's log would name it had a CONNECT got through.
    code, out, err = run_for(["--device-id", "tls-c-none", "--client-id", "tls-c-none", "--interval", "1", *url], 3)
    # TLS 1.3: the broker's refusal comes as an alert after the client's side of the handshake.
    assert code == 1 and "received fatal alert: CertificateRequired" in err, (code, out, err)
    assert "peer did not return a certificate" in broker.read_log()
    assert "tls-c-none" not in broker.read_log()
    samples = delivered(broker, path, "tls-c", [*url, "--cert", path("client.pem"), "--key", path("client.key"),
                                                "--client-id", "tls-c-cert"], 1)
    # The check above can see a client: this one is in the log.
    assert "as tls-c-cert" in broker.read_log(), broker.read_log()[-1000:]
    return f"refused without a certificate (exit {code}); {samples} samples with one"


def test_an_untrusted_broker_or_a_wrong_name_is_refused_and_nothing_is_sent(broker, path):
    found = []
    for name, args, env, reason in [
        ("tls-d-roots", ["--broker", f"mqtts://localhost:{broker.mqtts}"], None,
         "invalid peer certificate: UnknownIssuer"),
        ("tls-d-name", ["--broker", f"mqtts://127.0.0.1:{broker.mqtts}", "--cafile", path("ca.pem")], None,
         'invalid peer certificate: certificate not valid for name "127.0.0.1"'),
    ]:
        code, out, err = run_for(["--device-id", name, "--client-id", name, "--interval", "1", *args], 3, env)
        assert code == 1, (name, code, out, err)
        assert f"TLS with {args[1].split('//')[1]} failed: {reason}" in err, (name, out[-2000:], err[-2000:])
        assert "published 0, acknowledged 0" in out, (name, out)
        assert name not in broker.read_log(), name
        found.append(f"{name}: exit 1, {reason}")
    return "; ".join(found)


def main():
    folder = tempfile.mkdtemp(prefix="dps368-runner-tls-")
    path = make_certificates(folder)
    broker = TlsBroker(path)
    try:
        passed, failed = run([
            test_mqtts_with_cafile_20_devices_a_connection_each,
            test_wss_trusts_the_system_roots_50_devices_shared,
            test_a_client_certificate_is_sent_when_given_and_needed_when_asked,
            test_an_untrusted_broker_or_a_wrong_name_is_refused_and_nothing_is_sent,
        ], broker, path)
    finally:
        broker.stop()
    finish("runner over TLS", passed, failed)


if __name__ == "__main__":
    main()
