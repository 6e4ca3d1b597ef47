#!/usr/bin/env python3
"""Where the page's time goes: a Chromium trace of the release page (headless, 1280x900), idle,
with one device at 1 Hz and with one device at 100 msg/s, through a local mosquitto. Prints,
per second of the run, milliseconds of: the renderer's main-thread tasks in all; script (each
JavaScript call, the wasm in it: timers, the worker's messages, socket events, effects);
style; layout; paint (pre-paint, paint, layerizing); raster (the raster threads); and frames
drawn. Figures, not assertions (see README, Figures).

Usage: bench_trace.py DIST_DIR WS_PORT
"""

import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import WebDriver, serve, set_output_dir  # noqa: E402

DIST, WS_PORT = (sys.argv[1], int(sys.argv[2])) if __name__ == "__main__" else (None, 0)
SECONDS = int(os.environ.get("TRACE_SECONDS", "10"))
CATEGORIES = "devtools.timeline,disabled-by-default-devtools.timeline,v8.execute,blink,cc,gpu,toplevel"
KINDS = {
    "script": {"FunctionCall", "EvaluateScript", "v8.evaluateModule"},
    "style": {"UpdateLayoutTree", "RecalculateStyles"},
    "layout": {"Layout"},
    "paint": {"PrePaint", "Paint", "Layerize", "UpdateLayer"},
    "raster": {"RasterTask"},
}


def summarise(events, seconds):
    names = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
    main = {k for k, v in names.items() if v == "CrRendererMain"}
    totals = collections.Counter()
    frames = 0
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        name = e.get("name")
        if e.get("ph") == "X" and "dur" in e:
            ms = e["dur"] / 1000
            if name in ("RunTask", "ThreadControllerImpl::RunTask") and key in main:
                totals["main tasks"] += ms
            for kind, members in KINDS.items():
                if name in members and (kind == "raster" or key in main):
                    totals[kind] += ms
        if name == "ProxyMain::BeginMainFrame" and key in main:
            frames += 1
    row = {k: totals[k] / seconds for k in ("main tasks", "script", "style", "layout", "paint", "raster")}
    row["frames/s"] = frames / seconds
    return row


def measure(driver, url, seconds, script=None):
    driver.open(url)
    if "autostart" in url:
        driver.wait_for("connected", lambda: driver.text("status") == "connected")
    if script:
        driver.execute(script)
    time.sleep(3 + seconds)
    # chromedriver hands over its trace once: the last `seconds` of it are the window.
    events = driver.trace_events()
    end = max(e.get("ts", 0) for e in events)
    window = [e for e in events if e.get("ph") == "M" or e.get("ts", 0) >= end - seconds * 1e6]
    return summarise(window, seconds)


def main():
    set_output_dir(os.path.join(os.path.dirname(os.path.abspath(DIST)), "bench"))
    server = serve(DIST)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    broker = f"ws://127.0.0.1:{WS_PORT}"
    fold = "document.querySelector('[data-view=chart]').open = false;"
    one_hz = f"{base}/?broker={broker}&device_id=trace1&interval=1&autostart=1"
    fast = f"{base}/?broker={broker}&device_id=trace2&interval=0.01&profile=seed&autostart=1"
    cases = [
        ("idle page", f"{base}/", None),
        ("one device at 1 Hz", one_hz, None),
        ("one device at 1 Hz, chart folded", one_hz, fold),
        ("one device at 100 msg/s", fast, None),
        ("one device at 100 msg/s, chart folded", fast, fold),
    ]
    print(f"Chromium trace, ms per second of a {SECONDS} s window (1280x900, headless)")
    print("| page | main-thread tasks | script | style | layout | paint | raster | frames/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, url, script in cases:
        driver = WebDriver(extra_args=["--window-size=1280,900"], trace_categories=CATEGORIES)
        try:
            r = measure(driver, url, SECONDS, script)
        finally:
            driver.quit()
        print(f"| {label} | {r['main tasks']:.1f} | {r['script']:.1f} | {r['style']:.1f} | {r['layout']:.1f} | "
              f"{r['paint']:.1f} | {r['raster']:.1f} | {r['frames/s']:.1f} |", flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
