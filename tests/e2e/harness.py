"""Shared pieces of the end-to-end tests: a static server for the bundle, a minimal W3C
WebDriver client for chromedriver (standard library only), a mosquitto_sub wrapper, the payload
schema check and a tiny test runner."""

import base64
import functools
import http.server
import json
import os
import re
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.request

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# The native runner's totals line at its stop: samples, published, acknowledged, dropped.
RUNNER_TOTALS = re.compile(
    r"stopped: samples (\d+), published (\d+), acknowledged (\d+), anomalies injected \d+, dropped (\d+)"
)
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
OUT = os.path.abspath("target/e2e")


def set_output_dir(path):
    """Where screenshots and logs go."""
    global OUT
    OUT = os.path.abspath(path)
    os.makedirs(OUT, exist_ok=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    """Waits until something listens on loopback `port`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def listening_addresses(port):
    """The local addresses that the kernel says listen on TCP `port` (`ss -ltn`)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return sorted({line.split()[3].rsplit(":", 1)[0] for line in out.splitlines()})


def assert_loopback_only(*ports):
    """Every listener on `ports` is bound to loopback: an anonymous test broker is not on the LAN."""
    for port in ports:
        addresses = listening_addresses(port)
        assert addresses, f"nothing listens on port {port}"
        exposed = [a for a in addresses if a not in ("127.0.0.1", "[::1]")]
        assert not exposed, f"port {port} listens on {addresses}: reachable from the network"


def serve(directory, tls=None):
    """Serves `directory` on a free loopback port in a background thread; over HTTPS with the
    `ssl.SSLContext` `tls`."""
    handler = functools.partial(QuietHandler, directory=directory)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        # The handshake happens in each request's own thread, not in accept(): a connection
        # that never finishes it cannot stall the server.
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def log_message(self, *args):
        pass


class WebDriver:
    """The few W3C WebDriver commands these tests need."""

    def __init__(self, tz=None, extra_args=(), trace_categories=None):
        """`tz` (an IANA zone such as "Asia/Tokyo") sets TZ for chromedriver, so the browser it
        starts runs in that zone; without it the browser takes the machine's zone. `extra_args`
        go to Chromium as well. With `trace_categories`, chromedriver records a Chromium trace
        of them, read by `trace_events`."""
        self.port = free_port()
        self.log = open(os.path.join(OUT, "chromedriver.log"), "a")
        env = None if tz is None else dict(os.environ, TZ=tz)
        self.proc = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"], stdout=self.log, stderr=subprocess.STDOUT, env=env
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
                    f"--user-data-dir={self.profile}", *extra_args,
                ],
            },
        }
        if trace_categories:
            caps["goog:loggingPrefs"]["performance"] = "ALL"
            caps["goog:chromeOptions"]["perfLoggingPrefs"] = {
                "enableNetwork": False, "enablePage": False, "traceCategories": trace_categories,
            }
        self.session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def trace_events(self):
        """The trace events recorded so far; chromedriver hands its trace over once."""
        entries = self.s("POST", "/se/log", {"type": "performance"})
        events = []
        for entry in entries:
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Tracing.dataCollected":
                events.append(message["params"])
        return events

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def open(self, url, keep_storage=False):
        """Opens `url`; as a first visit (nothing remembered by the page's origin) unless
        `keep_storage`."""
        if not keep_storage and url.startswith("http"):
            origin = "/".join(url.split("/")[:3])
            self.s("POST", "/goog/cdp/execute", {
                "cmd": "Storage.clearDataForOrigin",
                "params": {"origin": origin, "storageTypes": "local_storage"},
            })
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def text(self, testid):
        return self.s("GET", f"/element/{self.find(f'[data-testid={testid}]')}/text")

    def click(self, testid):
        self.s("POST", f"/element/{self.find(f'[data-testid={testid}]')}/click", {})

    def value(self, css):
        return self.s("GET", f"/element/{self.find(css)}/property/value")

    def type_into(self, css, text):
        element = self.find(css)
        self.s("POST", f"/element/{element}/clear", {})
        self.s("POST", f"/element/{element}/value", {"text": text})

    def execute(self, script, args=()):
        """Runs `script` (a function body: `arguments` holds `args`) in the page, returns its value."""
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def fleet_rows(self):
        """The fleet table's rows as lists of cell texts."""
        return self.execute(
            "return [...document.querySelectorAll('[data-testid=fleet] tbody tr')]"
            ".map(tr => [...tr.cells].map(td => td.textContent));"
        )

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
    """mosquitto_sub at QoS 1 on a broker's plain listener, collecting JSON payloads.

    With `client_id` it keeps a persistent session (CleanSession = 0), so messages published
    while it is cut off from a restarting broker still reach it."""

    def __init__(self, topic, port, client_id=None):
        command = ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-d", "-t", topic]
        if client_id:
            command += ["-c", "-i", client_id]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.messages = []
        # When each message arrived (time.time()), beside it in `messages`.
        self.arrived = []
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
                self.arrived.append(time.time())
                self.messages.append(json.loads(line))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def broker_log_since(path, start):
    """What the broker logged to `path` after byte `start` (its size before a test acted),
    once it has had half a second to say it."""
    time.sleep(0.5)
    with open(path) as f:
        f.seek(start)
        return f.read()


class RawSubscriber:
    """mosquitto_sub at QoS 1 on a broker's plain listener, keeping each message's topic and
    exact payload text, as (topic, payload)."""

    def __init__(self, port, *topics):
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-v"]
            + [arg for topic in topics for arg in ("-t", topic)],
            stdout=subprocess.PIPE, text=True,
        )
        self.messages = []
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.5)

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            self.messages.append((topic, payload))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def check_schema(message, device_id):
    assert list(message) == [
        "timestamp", "device_id", "sensor_type", "sequence", "anomaly", "anomaly_kind", "anomaly_id", "data"
    ], message
    assert TIMESTAMP.match(message["timestamp"]), message
    assert message["device_id"] == device_id, message
    assert message["sensor_type"] == "DPS368", message
    assert isinstance(message["sequence"], int), message
    assert isinstance(message["anomaly"], bool), message
    assert list(message["data"]) == ["pressure", "temperature"], message
    assert (message["anomaly_kind"] is None) == (not message["anomaly"]), message
    assert (message["anomaly_id"] is None) == (not message["anomaly"]), message
    pressure, temperature = message["data"]["pressure"], message["data"]["temperature"]
    if message["anomaly_kind"] == "out_of_range":
        assert (pressure, temperature) == (1200.0, 85.0), message
    elif not message["anomaly"]:
        assert 950 <= pressure <= 1050 and 20 <= temperature <= 35, message


def independent_score(labels, flagged, rows, tolerance=0):
    """The README's scoring rules, written again from their words (NAB aside: the core checks
    it against NAB's own sweeper). `labels` are label messages, `flagged` and `rows` map a
    device id to the sequences flagged and received. An event's window is [first, last + T],
    a dropout's reaching last + 1; an event is scored when a received sample lies in its
    window, found when a flagged received sample does; FP are flagged received samples outside
    every window; precision is point-wise, recall event-wise, F1 their harmonic mean."""
    events = {(l["device_id"], l["anomaly_id"]): l for l in labels}.values()
    windows = {}
    for e in events:
        end = e["last_sequence"] + tolerance
        if e["kind"] == "dropout":
            end = max(end, e["last_sequence"] + 1)
        windows.setdefault(e["device_id"], []).append((e["first_sequence"], end, e["kind"]))
    tp = fn = fp = flagged_total = in_windows = 0
    kinds = {}
    for device, received in rows.items():
        flags = flagged.get(device, set()) & received
        mine = windows.get(device, [])
        for s, e, kind in mine:
            if not any(s <= r <= e for r in received):
                continue
            found = any(s <= f <= e for f in flags)
            tp += found
            fn += not found
            f_, t_ = kinds.get(kind, (0, 0))
            kinds[kind] = (f_ + found, t_ + 1)
        for f in flags:
            flagged_total += 1
            if any(s <= f <= e for s, e, _ in mine):
                in_windows += 1
            else:
                fp += 1
    precision = in_windows / flagged_total if flagged_total else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1, "kinds": kinds}


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AXE = os.path.join(ROOT, ".tools", "axe", "node_modules", "axe-core", "axe.min.js")


def audit(driver):
    """axe-core's violations on the page as it is now: rule id, impact and the first nodes."""
    driver.execute(open(AXE).read() + "; return true;")
    result = driver.s("POST", "/execute/async", {
        "script": "const done = arguments[arguments.length - 1];"
                  "axe.run(document, {resultTypes: ['violations']})"
                  ".then(r => done(r.violations.map(v => [v.id, v.impact, v.nodes.slice(0, 3).map(n => n.target.join(' '))])))"
                  ".catch(e => done([['axe failed', String(e), []]]));",
        "args": [],
    })
    return result


def run(tests, *args):
    """Runs each test with `args`, reports each, and returns how many passed and failed."""
    passed = failed = 0
    for test in tests:
        started = time.time()
        try:
            detail = test(*args)
            passed += 1
            print(f"e2e {test.__name__} ... ok ({detail}; {time.time() - started:.1f} s)", flush=True)
        except Exception as error:  # report every test, then fail
            failed += 1
            print(f"e2e {test.__name__} ... FAILED: {error!r}", flush=True)
    return passed, failed


def finish(name, passed, failed):
    """The summary line `NAME: N passed, N failed`, and the exit status."""
    import sys

    print(f"{name}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def run_suite(name, dist, tests):
    """Serves the bundle in `dist`, opens one browser, runs `tests(driver, base_url)` and exits
    with the summary line `NAME: N passed, N failed`."""
    set_output_dir(os.path.join(os.path.dirname(os.path.abspath(dist)), "e2e"))
    server = serve(dist)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    driver = WebDriver()
    try:
        passed, failed = run(tests, driver, base)
    finally:
        driver.quit()
        server.shutdown()
    finish(name, passed, failed)
