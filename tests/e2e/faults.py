#!/usr/bin/env python3
"""Fault injection against a real mosquitto, through the real built page in headless Chromium.

Each test runs the page at 20 messages a second while something goes wrong, and a QoS 1
subscriber with a persistent session, connected to mosquitto directly, checks that every
sequence number from 1 to the last one arrives at least once (duplicates are allowed at QoS 1
and reported):

- a TCP proxy between page and broker cuts the connection several times;
- mosquitto is stopped (SIGTERM) or killed (SIGKILL) and restarted mid-run;
- a "broker" accepts the WebSocket but never answers CONNECT;
- a host accepts TCP but never completes the WebSocket handshake (the 10 s opening deadline);
- a "broker" answers CONNACK 0 and drops the connection at once, again and again (the backoff
  must keep growing);
- a "broker" sends one 1 MiB WebSocket frame of 524,288 PINGRESPs (the page must stay responsive);
- the proxy goes silent (a broker that stops answering pings);
- a broker with a password file refuses a wrong password and accepts the right one.

Every server here listens on 127.0.0.1 only and every loop is bounded in time.

Usage: faults.py DIST_DIR
"""

import base64
import hashlib
import os
import random
import select
import signal
import socket
import string
import subprocess
import sys
import threading
import time

from harness import Subscriber, assert_loopback_only, free_port, run_suite, wait_port

DIST = sys.argv[1]
WORK = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(DIST)), "faults"))


class Broker:
    """A mosquitto of its own, with persistence so a restart keeps sessions and queued messages;
    it also saves every second, so even a SIGKILL loses at most the last second's changes."""

    def __init__(self, name, extra=""):
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        for stale in ("mosquitto.db",):
            path = os.path.join(self.dir, stale)
            if os.path.exists(path):
                os.remove(path)
        self.tcp_port, self.ws_port = free_port(), free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(
                # As root, mosquitto would switch to its own user and lose access to this folder.
                f"user root\nper_listener_settings false\n"
                f"persistence true\npersistence_location {self.dir}/\nautosave_interval 1\n"
                f"log_dest file {self.dir}/mosquitto.log\nlog_type all\n"
                f"max_queued_messages 100000\n"
                f"listener {self.tcp_port} 127.0.0.1\nprotocol mqtt\n"
                f"listener {self.ws_port} 127.0.0.1\nsocket_domain ipv4\nprotocol websockets\n"
                f"{extra}\n"
            )
            if "allow_anonymous" not in extra:
                f.write("allow_anonymous true\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["/usr/sbin/mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.tcp_port)
        wait_port(self.ws_port)
        assert_loopback_only(self.tcp_port, self.ws_port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # mosquitto saves its persistence file on the way out
            self.proc.wait(10)
        self.proc = None

    def kill(self):
        """SIGKILL: no goodbye and no save on the way out; the last autosave is what survives."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class Link:
    """One proxied connection: the page's socket, the broker's, and what the proxy lets through."""

    def __init__(self, client, upstream):
        self.client, self.upstream = client, upstream
        self.silent = False  # nothing either way
        self.deaf = False  # nothing from the broker

    def close(self):
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


class Proxy:
    """Forwards TCP between the page and the broker's WebSocket listener; can cut every
    connection, or make the open ones go silent or deaf."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.links = []
        self.lock = threading.Lock()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            link = Link(client, upstream)
            with self.lock:
                self.links.append(link)
            threading.Thread(target=self._pump, args=(link, client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, upstream, client), daemon=True).start()

    def _pump(self, link, source, sink):
        from_broker = source is link.upstream
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if link.silent or (link.deaf and from_broker):
                    continue
                sink.sendall(data)
        except OSError:
            pass
        link.close()

    def cut(self):
        """Drops every open connection, as a network failure would."""
        with self.lock:
            links, self.links = self.links, []
        for link in links:
            link.close()
        self.cuts += 1

    def go_silent(self):
        """The connections open now carry nothing more, either way; new ones work."""
        with self.lock:
            for link in self.links:
                link.silent = True

    def go_deaf(self):
        """The connections open now stop carrying the broker's answers (PUBACKs are lost while
        PUBLISHes still arrive): the page's re-sends then reach subscribers twice."""
        with self.lock:
            for link in self.links:
                link.deaf = True

    def close(self):
        self.server.close()
        self.cut()


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def accept_websocket(client):
    """The server side of the WebSocket opening handshake (subprotocol mqtt) on a freshly accepted
    socket, which keeps a 5 s timeout; False if the client went away or said nothing first."""
    client.settimeout(5)
    try:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                return False
            request += chunk
        key = ""
        for line in request.decode(errors="replace").split("\r\n"):
            if line.lower().startswith("sec-websocket-key:"):
                key = line.split(":", 1)[1].strip()
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        client.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
            ).encode()
        )
        return True
    except OSError:
        return False


def read_frame(sock):
    """One WebSocket frame from the browser (masked, as a client's must be): (opcode, payload)."""
    first, second = recv_exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(recv_exactly(sock, 2), "big")
    elif length == 127:
        length = int.from_bytes(recv_exactly(sock, 8), "big")
    mask = recv_exactly(sock, 4) if second & 0x80 else bytes(4)
    payload = recv_exactly(sock, length)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def binary_frame(payload):
    """One unmasked (server to client) binary WebSocket frame, FIN set."""
    n = len(payload)
    if n < 126:
        header = bytes([0x82, n])
    elif n < 65536:
        header = bytes([0x82, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x82, 127]) + n.to_bytes(8, "big")
    return header + payload


CONNACK_ACCEPTED = bytes([0x20, 0x02, 0x00, 0x00])


class LocalServer:
    """A TCP server on a free loopback port: notes when each connection arrived, keeps it, and
    hands it to `serve` (which by default does nothing, holding it open). `close` ends them all."""

    def __init__(self):
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.accepted_at = []
        self.sockets = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted_at.append(time.time())
            with self.lock:
                self.sockets.append(client)
            self.serve(client)

    def serve(self, client):
        pass

    def close(self):
        self.closed = True
        self.server.close()
        with self.lock:
            sockets = list(self.sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class SilentWebSocketServer(LocalServer):
    """Accepts the WebSocket handshake (subprotocol mqtt) and then never says a word."""

    def __init__(self):
        self.accepted = 0
        super().__init__()

    def serve(self, client):
        if accept_websocket(client):
            self.accepted += 1  # held open, never read again


class MuteTcpServer(LocalServer):
    """Accepts TCP connections and then never reads or writes a byte: a WebSocket opening handshake
    there never completes."""


class ConnackServer(LocalServer):
    """A "broker" over WebSocket that reads the page's first frame (CONNECT) and answers CONNACK 0.
    With `drop` it then closes the TCP connection at once; without, it keeps the connection,
    reads and ignores what the page sends (answering a WebSocket close), and lets the test send
    frames of its own on `clients`."""

    def __init__(self, drop):
        self.drop = drop
        self.connacks = 0
        self.clients = []  # the kept connections, once CONNACKed
        super().__init__()

    def serve(self, client):
        threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            if not accept_websocket(client):
                return
            read_frame(client)  # CONNECT
            client.sendall(binary_frame(CONNACK_ACCEPTED))
            self.connacks += 1
            if self.drop:
                client.shutdown(socket.SHUT_WR)  # the CONNACK, then FIN
                return
            with self.lock:
                self.clients.append(client)
            # Drain the page's frames so its sends never block; bounded by close().
            while not self.closed:
                readable, _, _ = select.select([client], [], [], 0.5)
                if not readable:
                    continue
                opcode, payload = read_frame(client)
                if opcode == 0x8:  # close: answer it, as a broker would
                    client.sendall(bytes([0x88, len(payload[:2])]) + payload[:2])
                    return
        except (OSError, ValueError):
            pass
        finally:
            client.close()


def unique(prefix):
    return prefix + "-" + "".join(random.choices(string.ascii_lowercase, k=5))


def open_page(driver, base, broker_url, device_id, extra=""):
    driver.open(
        f"{base}/?broker={broker_url}&device_id={device_id}&interval=0.05&anomaly_every=10&profile=seed"
        f"&autostart=1{extra}"
    )


def stop_page(driver, timeout=10):
    driver.click("stop")
    driver.wait_for("the page to stop", lambda: driver.text("status") == "disconnected", timeout=timeout)
    return {k: int(driver.text(k)) for k in ("published", "acked", "dropped", "redelivered", "reconnects")}


def wait_for_reconnect(driver, reconnects, timeout=20):
    """Waits until the page has reconnected `reconnects` times and is connected. The page draws
    at display rate, so "connected" alone may still be the view from before a cut."""
    driver.wait_for(
        f"reconnect {reconnects}",
        lambda: int(driver.text("reconnects")) >= reconnects and driver.text("status") == "connected",
        timeout=timeout,
    )


def cut_in_turn(driver, proxy, kinds):
    """Cuts the proxied connection once per kind, 1.5 s into each connection, and waits for
    each reconnect: `cut` plainly, `deaf` after PUBACKs went missing, `silent` after both
    directions went quiet."""
    for reconnects, kind in enumerate(kinds, start=1):
        time.sleep(1.5)
        if kind == "deaf":
            proxy.go_deaf()
            time.sleep(0.4)
        elif kind == "silent":
            proxy.go_silent()
            time.sleep(0.4)
        proxy.cut()
        wait_for_reconnect(driver, reconnects)


def check_complete(subscriber, counters, timeout=15):
    """Every sequence 1..published reached the subscriber at least once; returns duplicates."""
    last = counters["published"]
    assert counters["dropped"] == 0, counters
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen = {m["sequence"] for m in subscriber.messages}
        if seen >= set(range(1, last + 1)):
            break
        time.sleep(0.1)
    seen = [m["sequence"] for m in subscriber.messages]
    missing = sorted(set(range(1, last + 1)) - set(seen))
    assert not missing, f"{len(missing)} of {last} missing, first {missing[:10]}; counters {counters}"
    assert max(seen) == last, (max(seen), last)
    return len(seen) - len(set(seen))


def test_connection_cut_four_times_loses_nothing(driver, base):
    broker = Broker("cuts")
    proxy = Proxy(broker.ws_port)
    device = unique("cuts")
    subscriber = Subscriber(f"device/{device}/telemetry", broker.tcp_port, client_id=unique("sub"))
    try:
        open_page(driver, base, f"ws://127.0.0.1:{proxy.port}", device)
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        # A clean cut, one after PUBACKs went missing, one after both directions went quiet.
        # Connections that never last 10 s are retried at growing delays (1, 2, 4, 8 s), so
        # four cuts keep the test short.
        cut_in_turn(driver, proxy, ["cut", "deaf", "silent", "cut"])
        time.sleep(1.0)
        counters = stop_page(driver)
        assert counters["reconnects"] >= 4, counters
        assert counters["redelivered"] > 0, counters
        duplicates = check_complete(subscriber, counters)
    finally:
        subscriber.stop()
        proxy.close()
        broker.stop()
    return (
        f"{counters['published']} sequences complete after {proxy.cuts} cuts, "
        f"{counters['reconnects']} reconnects, {counters['redelivered']} re-sent with DUP, "
        f"{duplicates} duplicates at the subscriber"
    )


def test_a_shared_fleet_connection_cut_twice_loses_nothing(driver, base):
    broker = Broker("shared-cuts")
    proxy = Proxy(broker.ws_port)
    run = unique("shared")
    subscriber = Subscriber(f"fleet/{run}/#", broker.tcp_port, client_id=unique("sub"))
    try:
        driver.open(
            f"{base}/?broker=ws://127.0.0.1:{proxy.port}&device_id={run}&topic=fleet/{run}/%7Bdevice_id%7D"
            f"&devices=20&connection=shared&interval=0.1&profile=seed&autostart=1"
        )
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        cut_in_turn(driver, proxy, ["deaf", "cut"])
        time.sleep(1.0)
        counters = stop_page(driver)
        samples = int(driver.text("samples"))
        rows = driver.fleet_rows()
        assert counters["reconnects"] >= 2 and counters["redelivered"] > 0, counters
        assert counters["dropped"] == 0 and counters["acked"] == samples, (counters, samples)
        published = {row[0]: int(row[2]) for row in rows}
        assert len(published) == 20 and sum(published.values()) == counters["published"], rows[:3]
        deadline = time.time() + 15
        while time.time() < deadline:
            seen = {}
            for m in subscriber.messages:
                seen.setdefault(m["device_id"], set()).add(m["sequence"])
            if all(seen.get(d, set()) >= set(range(1, n + 1)) for d, n in published.items()):
                break
            time.sleep(0.2)
        for device, last in published.items():
            missing = sorted(set(range(1, last + 1)) - seen.get(device, set()))
            assert not missing, f"{device}: {len(missing)} of {last} missing, first {missing[:5]}"
        duplicates = len(subscriber.messages) - sum(len(s) for s in seen.values())
    finally:
        subscriber.stop()
        proxy.close()
        broker.stop()
    return (
        f"20 devices' sequences complete ({counters['published']} messages) after {proxy.cuts} cuts of the "
        f"shared connection, {counters['redelivered']} re-sent with DUP, {duplicates} duplicates"
    )


def restart_loses_nothing(driver, base, name, take_down):
    """Runs the page against a broker that `take_down(broker)` ends mid-run, restarts it, and
    checks that every sequence reached a subscriber with a persistent session."""
    broker = Broker(name)
    device = unique(name)
    # mosquitto_sub reconnects and subscribes again by itself once the broker is back.
    subscriber = Subscriber(f"device/{device}/telemetry", broker.tcp_port, client_id=unique("sub"))
    try:
        open_page(driver, base, f"ws://127.0.0.1:{broker.ws_port}", device)
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        time.sleep(2.0)
        take_down(broker)
        driver.wait_for(
            "the page to notice",
            lambda: driver.text("status").startswith(("reconnecting", "error")),
        )
        time.sleep(3.0)  # samples keep coming while the broker is down
        broker.start()
        driver.wait_for("the page to reconnect", lambda: driver.text("status") == "connected", timeout=40)
        time.sleep(2.0)
        counters = stop_page(driver)
        duplicates = check_complete(subscriber, counters, timeout=20)
        driver.screenshot(f"faults-{name}.png")
    finally:
        subscriber.stop()
        broker.stop()
    return f"{counters['published']} sequences complete, {counters['redelivered']} re-sent with DUP, {duplicates} duplicates"


def test_broker_killed_and_restarted_loses_nothing(driver, base):
    return "SIGTERM: " + restart_loses_nothing(driver, base, "restart", Broker.stop)


def test_broker_killed_with_sigkill_and_restarted_loses_nothing(driver, base):
    return "SIGKILL: " + restart_loses_nothing(driver, base, "sigkill", Broker.kill)


def test_broker_that_never_answers_connect_is_detected_and_retried(driver, base):
    silent = SilentWebSocketServer()
    try:
        open_page(driver, base, f"ws://127.0.0.1:{silent.port}", unique("silent"))
        driver.wait_for(
            "the CONNACK timeout",
            lambda: "no CONNACK from broker" in driver.text("status"),
            timeout=20,
        )
        driver.wait_for("a second attempt", lambda: silent.accepted >= 2, timeout=10)
        status = driver.text("status")
        stop_page(driver)
    finally:
        silent.close()
    return f"status {status!r}, {silent.accepted} connections tried"


def test_host_that_never_opens_the_websocket_times_out_and_retries(driver, base):
    mute = MuteTcpServer()
    seen = []  # (when, status) of the first status naming the opening deadline

    def timed_out():
        status = driver.text("status")
        if "no answer in 10 s" in status:
            seen.append((time.time(), status))
            return True
        return False

    try:
        opened = time.time()
        open_page(driver, base, f"ws://127.0.0.1:{mute.port}", unique("mute"))
        driver.wait_for("the opening deadline", timed_out, timeout=20)
        driver.wait_for("a second attempt", lambda: len(mute.accepted_at) >= 2, timeout=10)
        stop_page(driver)
        when, status = seen[0]
        after_open = when - opened
        after_connect = when - mute.accepted_at[0]
        retry_gap = mute.accepted_at[1] - mute.accepted_at[0]
        assert 9 <= after_open <= 16, f"timed out {after_open:.1f} s after the page was opened ({status!r})"
        assert retry_gap >= 9, f"second connection {retry_gap:.1f} s after the first, before the deadline"
    finally:
        mute.close()
    return (
        f"status {status!r} {after_open:.1f} s after opening the page "
        f"({after_connect:.1f} s after its TCP connection); second connection {retry_gap:.1f} s "
        f"after the first; {len(mute.accepted_at)} connections"
    )


def test_broker_that_drops_right_after_connack_is_retried_with_growing_delays(driver, base):
    server = ConnackServer(drop=True)
    try:
        started = time.time()
        open_page(driver, base, f"ws://127.0.0.1:{server.port}", unique("storm"))
        while time.time() < started + 20:
            time.sleep(0.2)
        log = driver.text("log")
        counters = stop_page(driver)
        samples = int(driver.text("samples"))
    finally:
        server.close()
    times = list(server.accepted_at)
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    shown = ", ".join(f"{gap:.2f}" for gap in gaps)
    assert len(times) >= 4, f"{len(times)} connections in 20 s, gaps {shown} s"
    assert min(gaps) >= 0.6, f"a retry came too soon: gaps {shown} s"
    # Nominal delays 1, 2, 4, 8 s, each less up to 25 % jitter; 0.1 s slack for timing.
    for n, (gap, nominal) in enumerate(zip(gaps, [1, 2, 4, 8]), 1):
        assert gap >= 0.75 * nominal - 0.1, f"gap {n} is {gap:.2f} s, nominal {nominal} s: gaps {shown} s"
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:])), f"gaps do not grow: {shown} s"
    assert "dropped right after connecting" in log, log[:2000]
    assert counters["acked"] + counters["dropped"] == samples, (counters, samples)
    return (
        f"{len(times)} connections, {server.connacks} CONNACKs, gaps {shown} s; "
        f"{samples} samples, {counters['dropped']} dropped at Stop"
    )


LONG_TASKS = """
if (!PerformanceObserver.supportedEntryTypes.includes("longtask")) return false;
window.__maxLongTask = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__maxLongTask = Math.max(window.__maxLongTask, entry.duration);
  }
}).observe({type: "longtask", buffered: false});
return true;
"""


def test_one_megabyte_frame_of_small_packets_keeps_the_page_responsive(driver, base):
    server = ConnackServer(drop=False)
    frame = binary_frame(b"\xd0\x00" * 524288)  # PINGRESP x 524,288
    assert len(frame) == 2 + 8 + 1048576 and frame[:2] == bytes([0x82, 127])
    try:
        driver.open(
            f"{base}/?broker=ws://127.0.0.1:{server.port}&device_id={unique('flood')}"
            f"&interval=1&keepalive=60&profile=seed&autostart=1"
        )
        driver.wait_for("connected", lambda: driver.text("status") == "connected", timeout=15)
        driver.wait_for("the server to hold the connection", lambda: server.clients, timeout=5)
        assert driver.execute(LONG_TASKS), "this Chromium reports no longtask entries"
        sent = time.time()
        server.clients[0].sendall(frame)
        send_took = time.time() - sent
        time.sleep(2.0)
        probe = time.time()
        longest = driver.execute("return window.__maxLongTask || 0;")
        probe_took = time.time() - probe
        time.sleep(0.3)  # an observer callback queued behind the probe
        longest = max(longest, driver.execute("return window.__maxLongTask || 0;"))
        status = driver.text("status")
        assert longest < 1000, f"longest task {longest:.0f} ms after the 1 MiB frame"
        assert probe_took < 1.0, f"the page took {probe_took:.1f} s to run a one-line script"
        assert status == "connected", status
        assert len(server.accepted_at) == 1, f"{len(server.accepted_at)} connections: the page reconnected"
        # This broker never sends PUBACK: Stop waits 2 s, saying so, with Stop and Inject off.
        driver.click("stop")
        driver.wait_for("stopping", lambda: driver.text("status") == "stopping", timeout=2)
        disabled = [
            driver.s("GET", f"/element/{driver.find(f'[data-testid={t}]')}/property/disabled")
            for t in ("stop", "inject-spike")
        ]
        assert disabled == [True, True], f"Stop and Inject while stopping: disabled {disabled}"
        driver.wait_for("the page to stop", lambda: driver.text("status") == "disconnected", timeout=10)
        counters = {k: int(driver.text(k)) for k in ("acked", "dropped")}
        samples = int(driver.text("samples"))
        log = driver.text("log")
        assert "sent but never acknowledged: counted as dropped" in log, log[:500]
    finally:
        server.close()
    assert counters["acked"] + counters["dropped"] == samples, (counters, samples)
    return (
        f"1 MiB frame of 524,288 PINGRESPs sent in {send_took:.2f} s; longest task {longest:.0f} ms, "
        f"script round trip {probe_took * 1000:.0f} ms, still connected; "
        f"{samples} samples, {counters['dropped']} dropped at Stop"
    )


def test_broker_that_stops_answering_pings_is_detected_and_reconnected(driver, base):
    broker = Broker("silent-pings")
    proxy = Proxy(broker.ws_port)
    device = unique("pings")
    subscriber = Subscriber(f"device/{device}/telemetry", broker.tcp_port, client_id=unique("sub"))
    try:
        open_page(driver, base, f"ws://127.0.0.1:{proxy.port}", device, "&keepalive=2")
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        time.sleep(1.0)
        went_silent = time.time()
        proxy.go_silent()
        driver.wait_for(
            "the keep-alive timeout",
            lambda: "keep-alive timeout" in driver.text("log"),
            timeout=10,
        )
        detected_after = time.time() - went_silent
        assert detected_after <= 1.5 * 2 + 0.5, (
            f"silence found after {detected_after:.1f} s, more than 1.5 x keep-alive 2 s + 0.5 s"
        )
        driver.wait_for("a reconnect", lambda: int(driver.text("reconnects")) >= 1, timeout=10)
        driver.wait_for("connected", lambda: driver.text("status") == "connected", timeout=10)
        time.sleep(1.0)
        counters = stop_page(driver)
        duplicates = check_complete(subscriber, counters)
    finally:
        subscriber.stop()
        proxy.close()
        broker.stop()
    return (
        f"silence found after {detected_after:.1f} s with keep-alive 2 s, "
        f"{counters['published']} sequences complete, {duplicates} duplicates"
    )


def test_wrong_password_is_refused_in_words_and_the_right_one_accepted(driver, base):
    os.makedirs(os.path.join(WORK, "auth"), exist_ok=True)
    password_file = os.path.join(WORK, "auth", "passwords")
    if os.path.exists(password_file):
        os.remove(password_file)
    subprocess.run(["mosquitto_passwd", "-b", "-c", password_file, "sensor", "right-password"], check=True)
    os.chmod(password_file, 0o600)
    broker = Broker("auth", f"allow_anonymous false\npassword_file {password_file}")
    try:
        url = f"ws://127.0.0.1:{broker.ws_port}"
        driver.open(f"{base}/?broker={url}&device_id={unique('auth')}&username=sensor")
        driver.wait_for("the page", lambda: driver.text("status") == "disconnected")
        driver.type_into("#password", "wrong-password")
        driver.click("start")
        refused = ("error: bad user name or password", "error: not authorized")
        driver.wait_for("the refusal", lambda: driver.text("status").startswith(refused), timeout=10)
        status = driver.text("status")
        assert int(driver.text("published")) == 0
        driver.click("stop")
        driver.wait_for("stopped", lambda: driver.text("status") == "disconnected")
        driver.type_into("#password", "right-password")
        driver.click("start")
        driver.wait_for("connected", lambda: driver.text("status") == "connected", timeout=10)
        driver.wait_for("acknowledgements", lambda: int(driver.text("acked")) >= 3)
        stop_page(driver)
    finally:
        broker.stop()
    return f"wrong password: {status!r}; right password: connected"


def assert_clean_disconnect(broker, client_id):
    """Mosquitto logs `client_id`'s DISCONNECT (within 5 s), not a socket it saw closed."""
    log = os.path.join(broker.dir, "mosquitto.log")
    deadline = time.time() + 5
    while time.time() < deadline and f"Client {client_id} disconnected." not in open(log).read():
        time.sleep(0.1)
    text = open(log).read()
    assert f"Client {client_id} disconnected." in text, text[-2000:]
    assert f"Client {client_id} closed its connection" not in text, text[-2000:]


def test_closing_the_tab_says_disconnect(driver, base):
    broker = Broker("pagehide")
    try:
        open_page(driver, base, f"ws://127.0.0.1:{broker.ws_port}", unique("bye"))
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        client_id = driver.value("#client-id")
        driver.open("about:blank")  # pagehide
        assert_clean_disconnect(broker, client_id)
    finally:
        broker.stop()
    return f"mosquitto logged a clean DISCONNECT from {client_id}"


def test_subscribing_again_on_the_monitor_says_disconnect_on_the_old_connection(driver, base):
    """Subscribe pressed on a running monitor replaces its connection: the old one ends with a
    DISCONNECT (mosquitto logs a clean disconnect), not a dropped socket, and the new one
    subscribes."""
    import re

    broker = Broker("resubscribe")
    try:
        driver.open(f"{base}/monitor/?broker=ws://127.0.0.1:{broker.ws_port}&filter=device/%2B/telemetry&autostart=1")
        status = lambda: driver.text("monitor-status") or ""
        driver.wait_for("subscribed", lambda: status().startswith("subscribed"), timeout=20)
        first = re.findall(r"as (dps368-mon-[0-9a-f]{8})", driver.text("monitor-log"))
        assert len(first) == 1, driver.text("monitor-log")
        driver.click("monitor-start")
        driver.wait_for("a second client", lambda: len(re.findall(r"as (dps368-mon-[0-9a-f]{8})", driver.text("monitor-log"))) == 2)
        driver.wait_for("subscribed again", lambda: status().startswith("subscribed"), timeout=20)
        assert_clean_disconnect(broker, first[0])
        page_log = driver.text("monitor-log")
        assert page_log.index("sent DISCONNECT") < page_log.index("stopped:"), page_log
    finally:
        broker.stop()
    return f"mosquitto logged a clean DISCONNECT from {first[0]}; the new client subscribed"


def main():
    os.makedirs(WORK, exist_ok=True)
    run_suite(
        "faults",
        DIST,
        [
            test_connection_cut_four_times_loses_nothing,
            test_a_shared_fleet_connection_cut_twice_loses_nothing,
            test_broker_killed_and_restarted_loses_nothing,
            test_broker_killed_with_sigkill_and_restarted_loses_nothing,
            test_broker_that_never_answers_connect_is_detected_and_retried,
            test_host_that_never_opens_the_websocket_times_out_and_retries,
            test_broker_that_drops_right_after_connack_is_retried_with_growing_delays,
            test_one_megabyte_frame_of_small_packets_keeps_the_page_responsive,
            test_broker_that_stops_answering_pings_is_detected_and_reconnected,
            test_wrong_password_is_refused_in_words_and_the_right_one_accepted,
            test_closing_the_tab_says_disconnect,
            test_subscribing_again_on_the_monitor_says_disconnect_on_the_old_connection,
        ],
    )


if __name__ == "__main__":
    main()
