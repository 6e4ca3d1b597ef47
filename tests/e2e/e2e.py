#!/usr/bin/env python3
"""End-to-end test of the built page (trunk build --release) in headless Chromium.

Serves the bundle, opens it through chromedriver with URL parameters and autostart, and checks
with a real QoS 1 subscriber (mosquitto_sub) on the broker's plain listener what arrives: the
payload schema, consecutive sequence numbers from 1, anomalies exactly at the cadence, and equal
published/acknowledged totals after Stop; and that a Share link, opened in a browser in another
time zone, replays the same stream.

Usage: e2e.py DIST_DIR MQTT_PORT WS_PORT
"""

import os
import random
import shutil
import ssl
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse

import socket
import signal

from harness import Subscriber, WebDriver, audit, check_schema, free_port, listening_addresses, run_suite, serve

DIST, MQTT_PORT, WS_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def test_autostarted_page_publishes_the_schema_in_order_with_anomalies_at_the_cadence(driver, base):
    device_id = "e2e-" + "".join(random.choices(string.ascii_lowercase, k=6))
    topic = f"device/{device_id}/telemetry"
    subscriber = Subscriber(topic, MQTT_PORT)
    every = 5
    try:
        driver.open(
            # "localhost", as in the default URL: the browser must find the IPv4 listener.
            f"{base}/?broker=ws://localhost:{WS_PORT}&device_id={device_id}"
            f"&interval=0.05&anomaly_every={every}&profile=seed&autostart=1&unknown_param=ignored"
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
        assert "stopped: samples" in driver.text("log")
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
    subscriber = Subscriber(f"seed/{device_id}", MQTT_PORT)
    try:
        driver.open(
            f"{base}/?MQTT_BROKER_HOST=127.0.0.1&MQTT_BROKER_PORT={WS_PORT}&DEVICE_ID={device_id}"
            f"&MQTT_TOPIC=seed/{device_id}&PUBLISH_INTERVAL=0.05&ANOMALY_INTERVAL=2&profile=seed&autostart=1"
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
    subscriber = Subscriber(f"device/{device_id}/telemetry", MQTT_PORT)
    try:
        driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id={device_id}&interval=fast&autostart=1")
        driver.wait_for(
            "the interval error",
            lambda: driver.text("error-interval") == 'must be a number of seconds, e.g. 1.0 (got "fast")',
        )
        time.sleep(1.5)
        # A refused Start is loud: the status says which field, and that field has the focus.
        status = driver.text("status")
        assert status == 'not started: Publish interval (s): must be a number of seconds, e.g. 1.0 (got "fast")', status
        assert driver.execute("return document.activeElement.id") == "interval"
        assert int(driver.text("published")) == 0
        # The field says it is invalid to assistive technology, and which text explains why.
        invalid = driver.execute(
            "const i = document.getElementById('interval');"
            "return [i.getAttribute('aria-invalid'), i.getAttribute('aria-describedby').split(' ')"
            ".map(id => document.getElementById(id).textContent).join(' | ')];"
        )
        assert invalid == [
            "true",
            'seconds; 0 publishes as fast as the broker acknowledges | must be a number of seconds, e.g. 1.0 (got "fast")',
        ], invalid
        driver.screenshot("bad-parameter.png")
    finally:
        subscriber.stop()
    assert subscriber.messages == [], subscriber.messages
    return "error shown next to the field, nothing sent"


def test_text_a_number_input_cannot_read_is_called_out_not_taken_as_empty(driver, base):
    driver.open(f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id=e2e-typing")
    driver.wait_for("the page", lambda: driver.text("status") == "disconnected")
    driver.type_into("#anomaly-every", "1e")
    unreadable = "cannot be read as a number: check what is typed"
    driver.wait_for("the field's message", lambda: driver.text("error-anomaly-every") == unreadable)
    driver.click("start")
    time.sleep(0.5)
    assert driver.text("status") == "not started: Anomaly every N packets: " + unreadable, "Start refused"
    assert "not started: Anomaly every N packets: " + unreadable in driver.text("log")
    driver.type_into("#anomaly-every", "7")
    driver.wait_for("the message gone", lambda: driver.text("error-anomaly-every") == "")
    assert "anomaly_every=7" in driver.value("[data-testid=share-text]")
    return "\"1e\" called out, Start refused; \"7\" taken"


def test_the_same_seed_and_start_replay_the_same_realistic_stream(driver, base):
    device_id = "e2e-replay-" + "".join(random.choices(string.ascii_lowercase, k=4))
    url = (
        f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id={device_id}&profile=realistic&seed=20261126"
        f"&start=2026-01-01T09:00:00Z&interval=0.05&precision=1&anomaly_mode=every&anomaly_every=6"
        f"&anomaly_kinds=spike,step,stuck,noise,out_of_range&altitude=450&autostart=1"
    )
    runs = []
    for _ in range(2):
        subscriber = Subscriber(f"device/{device_id}/telemetry", MQTT_PORT)
        try:
            driver.open(url)
            driver.wait_for("40 messages", lambda: len(subscriber.messages) >= 40)
            driver.click("stop")
            driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
        finally:
            subscriber.stop()
        runs.append(subscriber.messages[:40])
    first, second = runs
    assert first == second, "two page loads with one seed publish the same stream"
    assert first[0]["timestamp"] == "2026-01-01T09:00:00.000Z"
    assert first[1]["timestamp"] == "2026-01-01T09:00:00.050Z"
    kinds = {}
    for message in first:
        pressure = message["data"]["pressure"]
        assert 300 <= pressure <= 1200 and round(pressure, 4) == pressure, message
        if message["anomaly"]:
            kinds.setdefault(message["anomaly_id"], set()).add(message["anomaly_kind"])
        elif message["sequence"] < 6:
            # 450 m above sea level: about 960 hPa.
            assert 950 < pressure < 975, message
    assert kinds and all(len(k) == 1 for k in kinds.values()), kinds
    return f"40 identical messages, {len(kinds)} anomaly events"


def browser_offset(driver):
    """The browser's current UTC offset written as the page writes `tz`, e.g. -05:00."""
    minutes = -driver.execute("return new Date().getTimezoneOffset();")
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def share_link(driver):
    """The Share link's `href` property, once the page has filled it in."""
    def href():
        return driver.s("GET", f"/element/{driver.find('[data-testid=share-link]')}/property/href") or ""

    driver.wait_for("the share link", lambda: "seed=" in href())
    return href()


def first_40_by_sequence(driver, device_id, begin):
    """Subscribes, runs `begin()` (which starts the page), stops the page once 40 sequences
    arrived, and returns the first occurrence of each of the first 40 sequences, in order."""
    subscriber = Subscriber(f"device/{device_id}/telemetry", MQTT_PORT)
    try:
        begin()
        driver.wait_for("40 sequences", lambda: len({m["sequence"] for m in subscriber.messages}) >= 40)
        driver.click("stop")
        driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
    finally:
        subscriber.stop()
    first = {}
    for message in subscriber.messages:
        first.setdefault(message["sequence"], message)
    return [first[sequence] for sequence in sorted(first)][:40]


def test_share_link_replays_the_same_stream_in_another_time_zone(driver, base):
    device_id = "e2e-share-" + "".join(random.choices(string.ascii_lowercase, k=4))
    url = (
        f"{base}/?profile=realistic&seed=4242&start=2026-03-01T00:00:00Z&interval=0.1&anomaly_every=20"
        f"&device_id={device_id}&broker=ws://127.0.0.1:{WS_PORT}"
    )
    new_york = tokyo = None
    try:
        new_york = WebDriver(tz="America/New_York")
        tokyo = WebDriver(tz="Asia/Tokyo")
        new_york_offset, tokyo_offset = browser_offset(new_york), browser_offset(tokyo)
        assert new_york_offset in ("-05:00", "-04:00"), f"TZ not honoured: New York at {new_york_offset}"
        assert tokyo_offset == "+09:00", f"TZ not honoured: Tokyo at {tokyo_offset}"

        new_york.open(url)
        new_york.wait_for("the page", lambda: new_york.text("status") == "disconnected")
        link = urllib.parse.urljoin(base + "/", share_link(new_york))
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
        assert params.get("tz") == [new_york_offset], f"expected tz={new_york_offset} in {link}"
        assert params.get("seed") == ["4242"], link
        assert not any("password" in key.lower() for key in params), link
        client_id = new_york.value("#client-id")
        assert not client_id or client_id not in link, f"client id {client_id} in {link}"
        runs = [first_40_by_sequence(new_york, device_id, lambda: new_york.click("start"))]

        def begin_in_tokyo():
            tokyo.open(link)
            if params.get("autostart", ["0"])[0] not in ("1", "true"):
                tokyo.wait_for("the page", lambda: tokyo.text("status") == "disconnected")
                tokyo.click("start")

        runs.append(first_40_by_sequence(tokyo, device_id, begin_in_tokyo))
        tokyo_params = urllib.parse.parse_qs(urllib.parse.urlsplit(share_link(tokyo)).query)
        assert tokyo_params.get("tz") == [new_york_offset], f"Tokyo's page lost the link's tz: {tokyo_params}"
    finally:
        for browser in (new_york, tokyo):
            if browser:
                browser.quit()
    in_new_york, in_tokyo = runs
    assert [m["sequence"] for m in in_new_york] == list(range(1, 41)), [m["sequence"] for m in in_new_york]
    differ = [a["sequence"] for a, b in zip(in_new_york, in_tokyo) if a != b]
    assert in_new_york == in_tokyo, f"{len(differ)} of 40 payloads differ, first at sequence {differ[:1]}"
    assert in_new_york[0]["timestamp"] == "2026-03-01T00:00:00.000Z", in_new_york[0]
    return f"40 identical payloads in New York ({new_york_offset}) and Tokyo ({tokyo_offset}); link {link}"


def test_after_a_run_without_a_start_time_the_share_link_replays_that_run(driver, base):
    device_id = "e2e-again-" + "".join(random.choices(string.ascii_lowercase, k=4))
    url = (f"{base}/?profile=realistic&seed=77&interval=0.1&anomaly_every=15"
           f"&device_id={device_id}&broker=ws://127.0.0.1:{WS_PORT}")
    driver.open(url)
    driver.wait_for("the page", lambda: driver.text("status") == "disconnected")
    before = urllib.parse.parse_qs(urllib.parse.urlsplit(share_link(driver)).query)
    assert "start" not in before, f"no run yet, no start: {before}"
    first = first_40_by_sequence(driver, device_id, lambda: driver.click("start"))

    def start_in_link():
        return urllib.parse.parse_qs(urllib.parse.urlsplit(share_link(driver)).query).get("start", [""])[0]

    driver.wait_for("the run's start in the share link", start_in_link, timeout=5)
    link = urllib.parse.urljoin(base + "/", share_link(driver))
    start = start_in_link()
    assert start == first[0]["timestamp"], f"the link's start {start!r}, the run's first sample {first[0]['timestamp']}"
    # The field itself stays empty: the next run starts at its own now.
    assert driver.value("#start") == "", driver.value("#start")

    def replay():
        driver.open(link)
        driver.wait_for("the page", lambda: driver.text("status") == "disconnected")
        driver.click("start")

    again = first_40_by_sequence(driver, device_id, replay)
    differ = [a["sequence"] for a, b in zip(first, again) if a != b]
    assert first == again, f"{len(differ)} of 40 payloads differ, first at sequence {differ[:1]}"
    return f"40 identical payloads from the link {link}"


def test_a_phone_sees_no_sideways_scrolling_and_a_dark_system_gets_a_dark_page(driver, base):
    run = "e2e-phone-" + "".join(random.choices(string.ascii_lowercase, k=4))
    driver.s("POST", "/window/rect", {"width": 360, "height": 740})
    # A 360 x 740 viewport, whatever the window's own bars take.
    chrome = 740 - driver.execute("return window.innerHeight;")
    driver.s("POST", "/window/rect", {"width": 360, "height": 740 + chrome})
    try:
        # A fleet, so the table and a long log are on the page too.
        driver.open(
            f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id={run}&devices=12&connection=shared"
            f"&interval=0.2&profile=seed&autostart=1"
        )
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        time.sleep(1.5)
        # The run comes first on a phone: the status, the main counters and the chart lie
        # within the first screen, the settings folded away behind one button.
        first_screen = driver.execute(
            "const h = window.innerHeight, q = s => document.querySelector(s).getBoundingClientRect();"
            "return {height: h, status: q('[data-testid=status]').bottom,"
            " counters: q('[data-testid=acked]').bottom, chart: q('[data-testid=chart]').bottom,"
            " form: q('.settings .form').height};"
        )
        assert max(first_screen["status"], first_screen["counters"], first_screen["chart"]) <= first_screen["height"], first_screen
        assert first_screen["form"] == 0, first_screen
        # The chart's labels are at least 11 CSS px once the screen has scaled the drawing.
        label_px = driver.execute(
            "const svg = document.querySelector('[data-testid=chart] svg');"
            "const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;"
            "return [...svg.querySelectorAll('text')].filter(t => getComputedStyle(t).display !== 'none')"
            ".map(t => parseFloat(getComputedStyle(t).fontSize) * scale);"
        )
        assert label_px and min(label_px) >= 11, label_px
        # Every control a finger uses is at least 44 x 44 CSS px (WCAG 2.5.5).
        small = driver.execute(
            "return [...document.querySelectorAll('button, select, input, summary, a')]"
            ".filter(e => e.offsetParent !== null)"
            ".map(e => [e.dataset.testid || e.id || e.textContent.trim().slice(0, 20), e.getBoundingClientRect()])"
            ".filter(([, r]) => r.width < 44 || r.height < 44)"
            ".map(([name, r]) => `${name} ${Math.round(r.width)}x${Math.round(r.height)}`);"
        )
        assert small == [], small
        widths = driver.execute("return [document.documentElement.scrollWidth, window.innerWidth];")
        assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"
        assert widths[1] <= 380, widths
        driver.screenshot("phone.png")
        light = driver.execute("return getComputedStyle(document.documentElement).backgroundColor;")
        driver.s("POST", "/goog/cdp/execute", {
            "cmd": "Emulation.setEmulatedMedia",
            "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        })
        dark = driver.execute("return getComputedStyle(document.documentElement).backgroundColor;")
        channels = [int(c) for c in dark[dark.index("(") + 1:dark.index(")")].split(",")[:3]]
        assert max(channels) < 60 and dark != light, (light, dark)
        driver.screenshot("phone-dark.png")
        # Status and log are announced; levels are in words, not only in colour.
        assert driver.execute("return document.querySelector('[data-testid=status]').closest('[role=status]') !== null;")
        assert driver.execute("return document.querySelector('[data-testid=log]').getAttribute('role');") == "log"
        driver.click("stop")
        driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
    finally:
        driver.s("POST", "/goog/cdp/execute", {"cmd": "Emulation.setEmulatedMedia", "params": {"features": []}})
        driver.s("POST", "/window/rect", {"width": 1280, "height": 1000})
    return f"{widths[0]} px of content in a {widths[1]} px window; background {light} light, {dark} dark"


def unfold_everything(driver):
    driver.execute("document.querySelectorAll('details').forEach(d => { d.open = true; });")


def test_an_accessibility_audit_of_the_running_page_finds_no_violations_light_or_dark(driver, base):
    run = "e2e-axe-" + "".join(random.choices(string.ascii_lowercase, k=4))
    driver.s("POST", "/window/rect", {"width": 1280, "height": 1800})
    try:
        driver.open(
            f"{base}/?broker=ws://127.0.0.1:{WS_PORT}&device_id={run}&devices=3&connection=shared"
            f"&interval=0.1&profile=realistic&anomaly_every=12&seed=368&autostart=1"
        )
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
        driver.wait_for("anomaly bands", lambda: driver.execute(
            "return document.querySelectorAll('[data-testid=chart] g.event').length;") >= 4, timeout=60)
        driver.screenshot("desktop.png")
        unfold_everything(driver)
        # The inspector has packets and one is taken apart; the chart has samples and events.
        driver.wait_for("packets", lambda: driver.execute(
            "return document.querySelectorAll('[data-testid=inspector] tbody tr').length;") >= 5)
        driver.execute("document.querySelector('[data-testid=inspector] tbody button').click();")
        time.sleep(0.3)
        driver.screenshot("desktop-inspector.png")
        light = audit(driver)
        driver.click("theme")  # dark, whatever the system says
        time.sleep(0.3)
        dark_background = driver.execute("return getComputedStyle(document.documentElement).backgroundColor;")
        driver.screenshot("desktop-dark.png")
        dark = audit(driver)
        driver.click("theme")
        driver.click("theme")  # back to following the system
        driver.click("stop")
        driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
        stopped = audit(driver)
        # The audit can fail: an image without a text alternative is found.
        driver.execute("const i = document.createElement('img'); i.id = 'axe-probe'; document.querySelector('main').append(i);")
        probe = audit(driver)
        driver.execute("document.getElementById('axe-probe').remove();")
    finally:
        driver.s("POST", "/window/rect", {"width": 1280, "height": 1000})
    assert light == [], f"light: {light}"
    assert dark == [], f"dark: {dark}"
    assert stopped == [], f"stopped: {stopped}"
    assert [v[0] for v in probe] == ["image-alt"], probe
    channels = [int(c) for c in dark_background[dark_background.index("(") + 1:dark_background.index(")")].split(",")[:3]]
    assert max(channels) < 60, dark_background
    return "axe-core: 0 violations running (light and dark) and stopped"


def test_the_built_page_works_from_any_path_of_a_static_host(driver, base):
    # The same bundle, two folders down on another server.
    root = tempfile.mkdtemp(prefix="dps368-host-")
    os.makedirs(os.path.join(root, "courses", "iot"))
    shutil.copytree(DIST, os.path.join(root, "courses", "iot", "sim"))
    server = serve(root)
    try:
        page = f"http://127.0.0.1:{server.server_address[1]}/courses/iot/sim/"
        device_id = "e2e-path-" + "".join(random.choices(string.ascii_lowercase, k=4))
        subscriber = Subscriber(f"device/{device_id}/telemetry", MQTT_PORT)
        try:
            driver.open(f"{page}?broker=ws://127.0.0.1:{WS_PORT}&device_id={device_id}&interval=0.1&autostart=1")
            driver.wait_for("5 messages", lambda: len(subscriber.messages) >= 5)
            link = driver.value("[data-testid=share-text]")
            driver.click("stop")
            driver.wait_for("disconnected", lambda: driver.text("status") == "disconnected", timeout=10)
        finally:
            subscriber.stop()
        assert link.startswith(page + "?"), link
    finally:
        server.shutdown()
    return f"served from /courses/iot/sim/, share link {link[:60]}..."


def https_server(directory):
    """Serves `directory` over HTTPS with a throwaway self-signed certificate."""
    folder = tempfile.mkdtemp(prefix="dps368-tls-")
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return serve(directory, tls=context)


def test_over_https_the_page_starts_from_a_secure_broker_and_calls_out_plain_ws(driver, base):
    server = https_server(DIST)
    secure = WebDriver(extra_args=["--ignore-certificate-errors"])
    try:
        page = f"https://127.0.0.1:{server.server_address[1]}/"
        secure.open(page)
        secure.wait_for("the page", lambda: secure.text("status") == "disconnected")
        broker = secure.value("#broker-url")
        assert broker.startswith("wss://"), broker
        assert secure.value("#broker-preset") == broker
        secure.type_into("#broker-url", "ws://broker.example:9001")
        warning = secure.text("https-warning")
        assert "blocks plain ws://" in warning and "wss://" in warning, warning
        secure.click("start")
        secure.wait_for("the refusal", lambda: "blocks plain ws://" in secure.text("error-broker-url"))
        assert secure.text("status").startswith("not started: Broker URL: "), secure.text("status")
        # This machine's own broker is allowed.
        secure.type_into("#broker-url", f"ws://localhost:{WS_PORT}")
        assert secure.text("https-warning") == ""
    finally:
        secure.quit()
        server.shutdown()
    return f"default {broker}; ws:// to another host refused before connecting"


def test_a_room_link_makes_every_visitor_a_device_of_their_own(driver, base):
    """A teacher's page makes a room link; three students (three browsers, each its own
    storage) open it and start at once: three devices, each with its own id, reach a QoS 1
    subscriber and the monitor the teacher watches lists all three."""
    room = "room-" + "".join(random.choices(string.ascii_lowercase, k=4))
    broker = f"ws://127.0.0.1:{WS_PORT}"
    driver.open(f"{base}/?broker={broker}&device_id={room}&interval=0.2")
    driver.wait_for("the page", lambda: driver.text("status") == "disconnected")
    driver.click("room-autostart")
    driver.wait_for("the autostart choice", lambda: driver.value("[data-testid=room-text]").endswith("&autostart=1"))
    link = driver.value("[data-testid=room-text]")
    assert f"room={room}" in link and "seed=" not in link and "device_id=" not in link, link
    replay = driver.value("[data-testid=share-text]")
    # The page runs on 127.0.0.1 here: phones could not reach it, and the panel says so.
    warning = driver.text("share-warning")
    assert "this computer only" in warning, warning
    driver.open(f"{base}/monitor/?broker={broker}&filter=device/%2B/telemetry&autostart=1")
    driver.wait_for("the monitor subscribed", lambda: driver.text("monitor-status").startswith("subscribed"), timeout=20)
    subscriber = Subscriber("device/+/telemetry", MQTT_PORT)
    students = []
    try:
        for _ in range(3):
            student = WebDriver()
            students.append(student)
            student.open(link)
        for student in students:
            student.wait_for("connected", lambda: student.text("status") == "connected", timeout=30)
        ids = [student.value("#device-id") for student in students]
        assert len(set(ids)) == 3 and all(i.startswith(room + "-") for i in ids), ids
        driver.wait_for(
            "three devices at the subscriber",
            lambda: {m["device_id"] for m in subscriber.messages if m["device_id"].startswith(room)} == set(ids),
        )
        driver.wait_for(
            "three devices on the monitor",
            lambda: all(i in driver.text("monitor-rows") for i in ids),
        )
        for student in students:
            student.click("stop")
        for student in students:
            student.wait_for("stopped", lambda: student.text("status") == "disconnected", timeout=10)
    finally:
        subscriber.stop()
        for student in students:
            student.quit()
    return f"room link of {len(link)} characters (replay link {len(replay)}): devices {', '.join(ids)}"


def test_classroom_mode_serves_the_room_on_the_network_only_with_a_password(driver, base):
    """`scripts/run.sh --lan ADDRESS` on 127.0.0.2, standing in for a laptop's network address:
    the page and the broker's websockets there, the broker taking no one without the password
    the terminal prints in the room link's fragment; a phone opening that link publishes, one
    without the password is refused; the broker's anonymous listeners stay on loopback."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    mqtt, ws, http = free_port(), free_port(), free_port()
    env = dict(os.environ, MQTT_PORT=str(mqtt), WS_PORT=str(ws), HTTP_PORT=str(http), SERVE_DIST=os.path.abspath(DIST))
    run = subprocess.Popen(["bash", "scripts/run.sh", "--lan", "127.0.0.2"], cwd=root, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    printed = []
    try:
        deadline = time.time() + 600
        room = None
        while room is None and time.time() < deadline:
            line = run.stdout.readline()
            if not line:
                raise AssertionError("run.sh ended: " + "".join(printed[-20:]))
            printed.append(line)
            if line.strip().startswith("Room link:"):
                room = line.split("Room link:", 1)[1].strip()
        assert room and "#password=" in room, printed
        password = room.split("#password=", 1)[1]
        assert password not in room.split("#", 1)[0], "the password is in the fragment only"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.2", http), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        # The kernel's view: the network address serves the page and the password-only
        # websockets; the anonymous listeners stay on loopback.
        assert listening_addresses(ws) == ["127.0.0.1", "127.0.0.2"], listening_addresses(ws)
        assert listening_addresses(mqtt) == ["127.0.0.1"], listening_addresses(mqtt)
        assert listening_addresses(http) == ["127.0.0.2"], listening_addresses(http)
        subscriber = Subscriber("device/+/telemetry", mqtt)
        try:
            driver.open(room)
            driver.wait_for("the page", lambda: driver.text("status") == "disconnected")
            assert "#password" not in driver.execute("return location.href;"), "taken out of the address bar"
            driver.click("start")
            driver.wait_for("connected with the password", lambda: driver.text("status") == "connected", timeout=20)
            device_id = driver.value("#device-id")
            assert device_id.startswith("lab-"), device_id
            driver.wait_for("telemetry", lambda: any(m["device_id"] == device_id for m in subscriber.messages))
            driver.click("stop")
            driver.wait_for("stopped", lambda: driver.text("status") == "disconnected", timeout=10)
            # Without the password the broker refuses, and says so.
            driver.open(room.split("#", 1)[0])
            driver.wait_for("the page", lambda: driver.text("status") == "disconnected")
            driver.click("start")
            driver.wait_for("the refusal", lambda: driver.text("status").startswith("error:"), timeout=20)
            refusal = driver.text("status")
            assert "not authorized" in refusal or "bad user name or password" in refusal, refusal
            driver.click("stop")
            driver.wait_for("stopped", lambda: driver.text("status") == "disconnected", timeout=10)
        finally:
            subscriber.stop()
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=20)
    return f"room link {room.split('#')[0]} (+ password fragment); {device_id} published; refused without it ({refusal})"


def main():
    run_suite(
        "e2e",
        DIST,
        [
            test_autostarted_page_publishes_the_schema_in_order_with_anomalies_at_the_cadence,
            test_seed_parameter_names_configure_the_page,
            test_a_bad_url_parameter_is_shown_and_nothing_is_sent,
            test_text_a_number_input_cannot_read_is_called_out_not_taken_as_empty,
            test_the_same_seed_and_start_replay_the_same_realistic_stream,
            test_share_link_replays_the_same_stream_in_another_time_zone,
            test_after_a_run_without_a_start_time_the_share_link_replays_that_run,
            test_a_phone_sees_no_sideways_scrolling_and_a_dark_system_gets_a_dark_page,
            test_an_accessibility_audit_of_the_running_page_finds_no_violations_light_or_dark,
            test_the_built_page_works_from_any_path_of_a_static_host,
            test_over_https_the_page_starts_from_a_secure_broker_and_calls_out_plain_ws,
            test_a_room_link_makes_every_visitor_a_device_of_their_own,
            test_classroom_mode_serves_the_room_on_the_network_only_with_a_password,
        ],
    )


if __name__ == "__main__":
    main()
