//! Browser tests: mount the page in headless Chromium, drive it like a user, and talk to the
//! real mosquitto websockets listener that the test command starts (DPS368_TEST_WS at build
//! time, ws://127.0.0.1:19001 by default).
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use dps368_sim::device::Status;
use dps368_sim::settings::{Field, SettingsForm};
use dps368_sim::transport::{Simulator, Snapshot};
use dps368_sim::ui::App;
use gloo_timers::future::TimeoutFuture;
use leptos::mount::mount_to;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Event, EventInit, HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

const TEST_BROKER: &str = match option_env!("DPS368_TEST_WS") {
    Some(url) => url,
    None => "ws://127.0.0.1:19001",
};

/// The page mounted in a fresh container, removed again on drop.
struct Page {
    root: HtmlElement,
    _handle: Box<dyn std::any::Any>,
}

/// What the page remembers between visits.
fn storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

impl Page {
    /// The page as a first visit sees it: nothing remembered.
    fn mount() -> Self {
        storage().clear().unwrap();
        Self::revisit()
    }

    /// The page as a later visit sees it: with what the last one remembered.
    fn revisit() -> Self {
        let document = web_sys::window().unwrap().document().unwrap();
        let root: HtmlElement = document.create_element("div").unwrap().unchecked_into();
        document.body().unwrap().append_child(&root).unwrap();
        let handle = mount_to(root.clone(), App);
        Self {
            root,
            _handle: Box::new(handle),
        }
    }

    fn by_testid(&self, testid: &str) -> HtmlElement {
        self.root
            .query_selector(&format!("[data-testid='{testid}']"))
            .unwrap()
            .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
            .unchecked_into()
    }

    fn text(&self, testid: &str) -> String {
        self.by_testid(testid).text_content().unwrap_or_default()
    }

    fn number(&self, testid: &str) -> u64 {
        let text = self.text(testid);
        text.parse()
            .unwrap_or_else(|_| panic!("{testid} is not a plain integer: {text:?}"))
    }

    /// The input whose `<label>` has exactly this text.
    fn input(&self, label: &str) -> HtmlInputElement {
        let labels = self.root.query_selector_all("label").unwrap();
        for i in 0..labels.length() {
            let node: web_sys::Element = labels.item(i).unwrap().unchecked_into();
            if node.text_content().as_deref() == Some(label) {
                let id = node.get_attribute("for").expect("label has for=");
                return self
                    .root
                    .query_selector(&format!("#{id}"))
                    .unwrap()
                    .expect("label points at an input")
                    .unchecked_into();
            }
        }
        panic!("no label {label:?}");
    }

    /// Disabled itself or by a disabled fieldset around it.
    fn locked(&self, label: &str) -> bool {
        self.input(label).matches(":disabled").unwrap()
    }

    fn type_into(&self, label: &str, value: &str) {
        let input = self.input(label);
        input.set_value(value);
        let init = EventInit::new();
        init.set_bubbles(true);
        input
            .dispatch_event(&Event::new_with_event_init_dict("input", &init).unwrap())
            .unwrap();
    }

    fn click(&self, testid: &str) {
        self.by_testid(testid).click();
    }

    /// Takes every `data-testid` off the page, and returns the elements that had one, by it.
    fn strip_test_ids(&self) -> std::collections::HashMap<String, HtmlElement> {
        let list = self.root.query_selector_all("[data-testid]").unwrap();
        let mut elements = std::collections::HashMap::new();
        for i in 0..list.length() {
            let element: HtmlElement = list.item(i).unwrap().unchecked_into();
            let testid = element.get_attribute("data-testid").unwrap();
            element.remove_attribute("data-testid").unwrap();
            elements.insert(testid, element);
        }
        elements
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        for _ in 0..500 {
            if done(self) {
                return;
            }
            TimeoutFuture::new(20).await;
        }
        panic!(
            "timed out waiting for {what}; status {:?}, log: {}",
            self.text("status"),
            self.text("log")
        );
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.root.remove();
    }
}

async fn tick() {
    TimeoutFuture::new(0).await;
}

/// The sensor stream has the same bits in the page as in the native runner: the native test
/// `the_stream_has_the_same_bits_on_every_target` asserts the same fingerprint.
#[wasm_bindgen_test]
fn the_stream_has_the_same_bits_as_natively() {
    use dps368_sim::sensor::Generator;
    use dps368_sim::sensor::fingerprint_check::{EXPECTED, QUERY, SAMPLES, START_MS};
    let mut form = SettingsForm::defaults("x");
    form.apply_query(QUERY);
    let settings = form.validate().expect("valid");
    let fingerprint = Generator::fingerprint(settings.sensor, START_MS, SAMPLES);
    assert_eq!(fingerprint, EXPECTED, "{fingerprint:#x}");
}

#[wasm_bindgen_test]
async fn page_shows_every_setting_with_its_label_and_default() {
    let page = Page::mount();
    tick().await;
    let expected = [
        ("Broker URL", "ws://localhost:9001"),
        ("Device ID", "infineon-sensor-01"),
        ("Topic", "device/{device_id}/telemetry"),
        ("Publish interval (s)", "1.0"),
        ("Devices", "1"),
        ("Connection", "per-device"),
        ("Anomaly every N packets", ""),
        ("Keep alive (s)", "60"),
        ("Username", ""),
        ("Password", ""),
        ("Max in flight", "32"),
        ("Offline queue", "1000"),
        ("Profile", "realistic"),
        ("Precision", "16"),
        ("Altitude (m)", "0"),
        ("Tide amplitude (hPa)", "0.5"),
        ("Mean temperature (C)", "24"),
        ("Start time", ""),
        ("Time zone (UTC offset)", &local_offset()),
        ("Anomaly mode", "every"),
        ("Anomaly probability", "0.01"),
    ];
    for (label, value) in expected {
        assert_eq!(page.input(label).value(), value, "{label}");
    }
    // Anomaly kinds: a box per kind, the realistic profile's own (all of them) ticked.
    for kind in dps368_sim::sensor::AnomalyKind::ALL {
        let tick: HtmlInputElement = page
            .root
            .query_selector(&format!("#kind-{kind}"))
            .unwrap()
            .unwrap()
            .unchecked_into();
        assert!(tick.checked(), "{kind}");
    }
    for (label, control) in [
        ("Profile", "SELECT"),
        ("Precision", "SELECT"),
        ("Anomaly mode", "SELECT"),
        ("Connection", "SELECT"),
        ("Devices", "INPUT"),
    ] {
        assert_eq!(page.input(label).tag_name(), control, "{label}");
    }
    assert_eq!(page.input("Devices").type_(), "number");
    assert_eq!(page.input("Start time").type_(), "datetime-local");
    let client_id = page.input("Client ID").value();
    // Cut to leave room for a fleet's device number (`-1000`) within 23 bytes.
    assert!(client_id.starts_with("infineon-sens-"), "{client_id}");
    assert_eq!(client_id.len(), 18);
    assert_eq!(page.input("Password").type_(), "password");
    let seed = page.input("Seed").value();
    assert!(
        seed.parse::<u64>().is_ok(),
        "a random seed is shown: {seed}"
    );
    let share = page
        .by_testid("share-link")
        .unchecked_into::<web_sys::HtmlAnchorElement>()
        .href();
    assert!(
        share.contains(&format!("seed={seed}")),
        "the share link carries the seed: {share}"
    );
    assert!(!share.contains("client_id="), "{share}");
    let clean_session = page.input("Clean session");
    assert_eq!(clean_session.type_(), "checkbox");
    assert!(
        !clean_session.checked(),
        "the broker keeps the session by default"
    );
    assert_eq!(page.text("status"), "disconnected");
    for counter in [
        "published",
        "acked",
        "inflight",
        "anomalies",
        "queued",
        "dropped",
        "redelivered",
        "reconnects",
        "anomalies-spike",
        "anomalies-out_of_range",
    ] {
        assert_eq!(page.number(counter), 0, "{counter}");
    }
}

#[wasm_bindgen_test]
async fn two_pages_get_different_client_ids() {
    let a = Page::mount();
    let b = Page::mount();
    tick().await;
    assert_ne!(a.input("Client ID").value(), b.input("Client ID").value());
}

#[wasm_bindgen_test]
async fn bad_settings_show_next_to_the_field_and_nothing_starts() {
    let page = Page::mount();
    tick().await;
    page.type_into("Broker URL", "http://localhost:9001");
    page.type_into("Anomaly every N packets", "0");
    page.click("start");
    tick().await;
    assert_eq!(
        page.text("error-broker-url"),
        "must start with ws:// or wss:// (got \"http://localhost:9001\")"
    );
    assert_eq!(
        page.text("error-anomaly-every"),
        "must be a whole number of at least 1 (got \"0\")"
    );
    // Loud: the status says why, and the first bad field has the focus.
    assert_eq!(
        page.text("status"),
        "not started: Broker URL: must start with ws:// or wss:// (got \"http://localhost:9001\")"
    );
    let focused = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element()
        .map(|e| e.id());
    assert_eq!(focused.as_deref(), Some("broker-url"));
    assert_eq!(page.number("published"), 0);
    assert!(page.text("log").contains("not started: Broker URL"));

    // Fixing a field clears its error at once, before any Start; the other stays.
    page.type_into("Broker URL", "ws://127.0.0.1:1");
    tick().await;
    assert_eq!(page.text("error-broker-url"), "");
    assert_eq!(
        page.text("error-anomaly-every"),
        "must be a whole number of at least 1 (got \"0\")"
    );
    page.type_into("Anomaly every N packets", "10");
    tick().await;
    assert_eq!(page.text("error-anomaly-every"), "");
    assert_eq!(
        page.text("status"),
        "disconnected",
        "fixed, the status is quiet again"
    );
    page.click("start");
    tick().await;
    page.wait_for("a retry after the failed connection", |p| {
        let status = p.text("status");
        status.starts_with("reconnecting: attempt")
            && status.ends_with("(cannot connect to ws://127.0.0.1:1)")
    })
    .await;
    // While it waits out a backoff, Reconnect now makes the attempt at once.
    assert!(!page.by_testid("reconnect-now").hidden());
    page.click("reconnect-now");
    page.wait_for("the attempt made now", |p| {
        p.text("log").contains("reconnecting now (attempt")
    })
    .await;
    // Stop cancels the pending retry.
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
}

#[wasm_bindgen_test]
async fn start_publishes_to_mosquitto_and_stop_shows_equal_totals() {
    let page = Page::mount();
    tick().await;
    page.type_into("Broker URL", TEST_BROKER);
    page.type_into("Device ID", "browser-test");
    page.type_into("Profile", "seed");
    page.type_into("Publish interval (s)", "0.05");
    page.type_into("Anomaly every N packets", "3");
    page.click("start");
    tick().await;
    assert!(
        page.locked("Broker URL") && page.locked("Profile"),
        "settings are locked while running"
    );
    page.wait_for("connected", |p| p.text("status") == "connected")
        .await;
    page.wait_for("7 acknowledged", |p| p.number("acked") >= 7)
        .await;
    let payload: serde_json::Value = serde_json::from_str(&page.text("last-payload")).unwrap();
    assert_eq!(payload["device_id"], "browser-test");
    assert_eq!(payload["sensor_type"], "DPS368");
    assert!(page.number("anomalies") >= 2);

    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
    let published = page.number("published");
    assert_eq!(
        page.number("acked"),
        published,
        "a clean stop leaves nothing unacknowledged"
    );
    assert_eq!(page.number("inflight"), 0);
    assert_eq!(page.number("anomalies"), published / 3);
    let log = page.text("log");
    assert!(log.contains("CONNACK: connection accepted"), "{log}");
    assert!(
        log.contains(&format!(
            "stopped: samples {published}, published {published}, acknowledged {published}"
        )),
        "{log}"
    );
    assert!(!page.locked("Broker URL"));
}

#[wasm_bindgen_test]
fn timers_run_in_a_web_worker_so_hidden_tabs_keep_time() {
    let simulator = Simulator::new(|_| {});
    assert!(simulator.timers_in_worker());
}

#[wasm_bindgen_test]
async fn simulator_gets_a_puback_for_every_publish_from_mosquitto() {
    let snapshots: Rc<RefCell<Vec<Snapshot>>> = Rc::default();
    let sink = snapshots.clone();
    let simulator = Simulator::new(move |s| sink.borrow_mut().push(s));
    let mut form = SettingsForm::defaults("wbt1");
    form.set(Field::BrokerUrl, TEST_BROKER);
    form.set(Field::Profile, "seed");
    form.set(Field::Interval, "0.02");
    simulator.start(form.validate().unwrap(), 7);
    // Snapshots come at display rate, the first one after the first change.
    let last = || {
        snapshots
            .borrow()
            .last()
            .cloned()
            .unwrap_or_else(|| Snapshot {
                connected: (0, 1),
                active: true,
                ..Snapshot::idle()
            })
    };
    for _ in 0..500 {
        if last().counters.acked >= 20 {
            break;
        }
        TimeoutFuture::new(20).await;
    }
    assert!(last().counters.acked >= 20, "{:?}", last());
    simulator.stop();
    for _ in 0..200 {
        if !last().active {
            break;
        }
        TimeoutFuture::new(20).await;
    }
    let end = last();
    assert_eq!(end.status, Status::Stopped(None));
    assert_eq!(end.counters.acked, end.counters.published);
    assert_eq!(end.counters.in_flight, 0);
}

/// The browser's UTC offset as the Time zone field writes it.
fn local_offset() -> String {
    let east = -(js_sys::Date::new_0().get_timezone_offset() as i32);
    let sign = if east < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", east.abs() / 60, east.abs() % 60)
}

/// Mounts the page as if opened with `query`, then puts the test page's URL back.
fn mount_with_query(query: &str) -> Page {
    storage().clear().unwrap();
    revisit_with_query(query)
}

/// As [`mount_with_query`], with what the last visit remembered.
fn revisit_with_query(query: &str) -> Page {
    let window = web_sys::window().unwrap();
    let history = window.history().unwrap();
    let original = window.location().href().unwrap();
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(query))
        .unwrap();
    let page = Page::revisit();
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&original))
        .unwrap();
    page
}

#[wasm_bindgen_test]
async fn a_link_sets_the_clean_session_box_and_the_share_link_carries_the_time_zone() {
    let page = mount_with_query("?clean_session=1&tz=%2B09%3A00&seed=77");
    tick().await;
    assert!(
        page.input("Clean session").checked(),
        "clean_session=1 is on"
    );
    assert_eq!(page.input("Time zone (UTC offset)").value(), "+09:00");
    let share = page
        .by_testid("share-link")
        .unchecked_into::<web_sys::HtmlAnchorElement>()
        .href();
    assert!(share.contains("tz=%2B09%3A00"), "{share}");
    assert!(share.contains("clean_session=1"), "{share}");
    let off = mount_with_query("?clean_session=0");
    tick().await;
    assert!(!off.input("Clean session").checked());
}

#[wasm_bindgen_test]
async fn stop_accounts_for_every_sample_and_disables_stop_and_inject() {
    let page = Page::mount();
    tick().await;
    page.type_into("Broker URL", TEST_BROKER);
    page.type_into("Device ID", "browser-stopping");
    page.type_into("Profile", "seed");
    page.type_into("Publish interval (s)", "0.05");
    page.click("start");
    page.wait_for("connected", |p| p.text("status") == "connected")
        .await;
    let stop: web_sys::HtmlButtonElement = page.by_testid("stop").unchecked_into();
    let inject: web_sys::HtmlButtonElement = page.by_testid("inject-spike").unchecked_into();
    assert!(!stop.disabled() && !inject.disabled());
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
    assert!(stop.disabled() && inject.disabled());
    assert_eq!(
        page.number("acked") + page.number("dropped"),
        page.number("samples"),
        "every sample accounted for"
    );
}

/// The longest task the browser reported since [`watch_long_tasks`] (Long Tasks API), in ms.
fn longest_task_ms() -> f64 {
    js_sys::Reflect::get(&web_sys::window().unwrap(), &"__longestTask".into())
        .unwrap()
        .as_f64()
        .unwrap_or(0.0)
}

fn watch_long_tasks() {
    js_sys::eval(
        "window.__longestTask = 0; new PerformanceObserver(list => { for (const e of list.getEntries()) \
         window.__longestTask = Math.max(window.__longestTask, e.duration); }).observe({type: 'longtask'});",
    )
    .unwrap();
}

#[wasm_bindgen_test]
async fn a_page_of_1000_devices_mounts_starts_and_stops_without_a_long_task_over_200_ms() {
    watch_long_tasks();
    // The observer works here: a task of 80 ms is seen.
    js_sys::eval("const t = performance.now(); while (performance.now() - t < 80) {}").unwrap();
    TimeoutFuture::new(50).await;
    assert!(
        longest_task_ms() >= 60.0,
        "the Long Tasks API reports nothing"
    );
    watch_long_tasks();
    let page = mount_with_query(&format!(
        "?broker={TEST_BROKER}&device_id=big&devices=1000&connection=shared&interval=1&profile=seed"
    ));
    tick().await;
    page.click("start");
    page.wait_for("connected", |p| p.text("status") == "connected")
        .await;
    // One interval: every device has made its first sample (spread over the second).
    page.wait_for("1000 acknowledged", |p| p.number("acked") >= 1000)
        .await;
    let table = page.text("fleet");
    assert!(table.contains("page 1 of 20 (1000 devices)"), "{table}");
    let rows = page
        .root
        .query_selector_all("[data-testid=fleet] tbody tr")
        .unwrap();
    assert_eq!(rows.length(), 50, "one page of rows is drawn");
    // Sorted by published, descending (a second click): the column never rises.
    page.click("sort-2");
    page.click("sort-2");
    page.wait_for("sorted", |p| p.text("page").contains("by published ▼"))
        .await;
    let cells = page
        .root
        .query_selector_all("[data-testid=fleet] tbody tr td:nth-child(3)")
        .unwrap();
    let published: Vec<u64> = (0..cells.length())
        .map(|i| {
            let text = cells.item(i).unwrap().text_content().unwrap();
            text.parse().unwrap()
        })
        .collect();
    assert_eq!(published.len(), 50);
    assert!(published.windows(2).all(|w| w[0] >= w[1]), "{published:?}");
    page.click("page-next");
    page.wait_for("page 2", |p| p.text("fleet").contains("page 2 of 20"))
        .await;
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
    assert_eq!(
        page.number("acked") + page.number("dropped"),
        page.number("samples")
    );
    // Long-task entries arrive asynchronously.
    TimeoutFuture::new(200).await;
    let longest = longest_task_ms();
    assert!(longest < 200.0, "a task took {longest} ms");
}

/// Opens a folded section (`<details>` around `testid`) as a click on its summary would.
fn unfold(page: &Page, testid: &str) {
    let details = page.by_testid(testid).closest("details").unwrap().unwrap();
    let summary: HtmlElement = details
        .query_selector("summary")
        .unwrap()
        .unwrap()
        .unchecked_into();
    summary.click();
}

/// The `x,y` points of every polyline of `class` in the chart.
fn chart_points(page: &Page, class: &str) -> usize {
    let lines = page
        .root
        .query_selector_all(&format!("[data-testid=chart] polyline.{class}"))
        .unwrap();
    (0..lines.length())
        .map(|i| {
            let line: web_sys::Element = lines.item(i).unwrap().unchecked_into();
            line.get_attribute("points").unwrap().split(' ').count()
        })
        .sum()
}

#[wasm_bindgen_test]
async fn the_chart_draws_a_point_per_sample_and_a_band_per_anomaly_event() {
    let page = mount_with_query(&format!(
        "?broker={TEST_BROKER}&device_id=browser-chart&profile=seed&interval=0.05&anomaly_every=7"
    ));
    tick().await;
    page.click("start");
    page.wait_for("40 samples", |p| p.number("samples") >= 40)
        .await;
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
    let samples = page.number("samples") as usize;
    page.wait_for("every sample drawn", |p| chart_points(p, "p") == samples)
        .await;
    assert_eq!(chart_points(&page, "t"), samples);
    let bands = page
        .root
        .query_selector_all("[data-testid=chart] g.event[data-kind=out_of_range]")
        .unwrap()
        .length();
    assert_eq!(u64::from(bands), page.number("anomalies-out_of_range"));
    assert!(bands >= 5, "{bands}");
    assert!(
        page.root
            .query_selector("[data-testid=chart] g.newest")
            .unwrap()
            .is_some()
    );
    // Folded, it records and draws nothing.
    unfold(&page, "chart");
    tick().await;
    let before = page.by_testid("chart").inner_html();
    page.click("start");
    // The new run's own figures (the last run's are still shown until its first redraw).
    page.wait_for("connected", |p| p.text("status") == "connected")
        .await;
    page.wait_for("the new run's samples", |p| {
        (1..20).contains(&p.number("samples"))
    })
    .await;
    page.wait_for("10 samples", |p| p.number("samples") >= 10)
        .await;
    // Longer than the chart's own pace.
    TimeoutFuture::new(400).await;
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
    assert_eq!(page.by_testid("chart").inner_html(), before);
}

#[wasm_bindgen_test]
async fn the_chart_shows_the_device_picked_by_its_number_in_the_fleet() {
    let page = mount_with_query(&format!(
        "?broker={TEST_BROKER}&device_id=pick&devices=3&connection=shared&profile=seed&interval=0.1"
    ));
    tick().await;
    page.click("start");
    page.wait_for("samples", |p| p.number("samples") >= 9).await;
    let title = |p: &Page| {
        p.root
            .query_selector("[data-testid=chart] title")
            .unwrap()
            .map(|t| t.text_content().unwrap())
            .unwrap_or_default()
    };
    page.wait_for("device 1 drawn", |p| title(p).contains("of pick-1,"))
        .await;
    page.type_into("Device shown (number in the fleet)", "3");
    page.wait_for("device 3 drawn", |p| title(p).contains("of pick-3,"))
        .await;
    // Past the fleet's end is its last device.
    page.type_into("Device shown (number in the fleet)", "99");
    tick().await;
    assert_eq!(
        page.input("Device shown (number in the fleet)").value(),
        "3"
    );
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
}

#[wasm_bindgen_test]
async fn the_inspector_lists_the_connections_packets_and_takes_a_publish_apart() {
    let page = mount_with_query(&format!(
        "?broker={TEST_BROKER}&device_id=browser-frames&profile=seed&interval=0.1"
    ));
    tick().await;
    unfold(&page, "inspector");
    tick().await;
    page.click("start");
    let types = |p: &Page| {
        let cells = p
            .root
            .query_selector_all("[data-testid=inspector] tbody td:nth-child(3)")
            .unwrap();
        (0..cells.length())
            .map(|i| cells.item(i).unwrap().text_content().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
    };
    page.wait_for("CONNECT, CONNACK, PUBLISH, PUBACK", |p| {
        ["CONNECT", "CONNACK", "PUBLISH", "PUBACK"]
            .iter()
            .all(|t| types(p).contains(*t))
    })
    .await;
    // Paused, the list stands still while the device publishes on.
    let newest = |p: &Page| {
        p.root
            .query_selector("[data-testid=inspector] tbody tr")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap()
    };
    page.click("inspector-pause");
    tick().await;
    assert_eq!(page.text("inspector-pause"), "Resume");
    let (held, published) = (newest(&page), page.number("published"));
    page.wait_for("3 more PUBLISHes", |p| {
        p.number("published") >= published + 3
    })
    .await;
    TimeoutFuture::new(200).await;
    assert_eq!(newest(&page), held, "paused");
    page.click("inspector-pause");
    page.wait_for("recording again", |p| newest(p) != held)
        .await;
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
    // The newest first: DISCONNECT is the last packet sent.
    let first: String = page
        .root
        .query_selector("[data-testid=inspector] tbody td:nth-child(3)")
        .unwrap()
        .unwrap()
        .text_content()
        .unwrap();
    assert_eq!(first, "DISCONNECT");
    // A PUBLISH's hex dump is the bytes the codec encodes for the packet it decodes to.
    let rows = page
        .root
        .query_selector_all("[data-testid=inspector] tbody tr")
        .unwrap();
    let publish_row: web_sys::Element = (0..rows.length())
        .map(|i| rows.item(i).unwrap().unchecked_into::<web_sys::Element>())
        .find(|row| row.text_content().unwrap().contains("PUBLISH"))
        .unwrap();
    let button: HtmlElement = publish_row
        .query_selector("button")
        .unwrap()
        .unwrap()
        .unchecked_into();
    // Named for a screen reader by type and number, and its topic in a column of its own.
    let name = button.get_attribute("aria-label").unwrap_or_default();
    assert!(name.starts_with("PUBLISH #"), "{name}");
    assert!(
        publish_row
            .text_content()
            .unwrap()
            .contains("device/browser-frames/telemetry")
    );
    button.click();
    tick().await;
    let hex = page
        .root
        .query_selector("[data-testid=frame-detail] pre.hex")
        .unwrap()
        .expect("a hex dump")
        .text_content()
        .unwrap();
    let bytes: Vec<u8> = hex
        .lines()
        .flat_map(|line| line.split_whitespace().skip(1))
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let (packet, used) = dps368_sim::mqtt::decode(&bytes, usize::MAX)
        .unwrap()
        .unwrap();
    assert_eq!(used, bytes.len());
    let dps368_sim::mqtt::Packet::Publish(publish) = &packet else {
        panic!("{packet:?}")
    };
    assert_eq!(publish.topic, "device/browser-frames/telemetry");
    assert_eq!(packet.to_bytes().unwrap(), bytes);
    // The newest PUBLISH listed is the last one sent: its payload is the one the page shows.
    assert_eq!(
        String::from_utf8(publish.payload.clone()).unwrap(),
        page.text("last-payload")
    );
    let detail = page.text("frame-detail");
    assert!(
        detail.contains("topic") && detail.contains("payload"),
        "{detail}"
    );
    // Clear empties the list.
    page.click("inspector-clear");
    page.wait_for("cleared", |p| types(p).is_empty()).await;
}

/// Reads the page's QR code back with an independent decoder (rqrr), as a phone would: the
/// SVG path's `M x y` moves are its dark modules.
fn scan_qr(page: &Page) -> String {
    let svg = page.by_testid("qr").inner_html();
    let at = svg.find(" d=\"").expect("a path");
    let path = svg[at + 4..].split('"').next().unwrap();
    let dark: std::collections::HashSet<(usize, usize)> = path
        .split('M')
        .filter(|m| !m.is_empty())
        .map(|m| {
            let mut n = m.split(['h', ' ']).map(|n| n.parse::<usize>().unwrap());
            (n.next().unwrap(), n.next().unwrap())
        })
        .collect();
    let side = dark.iter().map(|(x, y)| *x.max(y)).max().unwrap() + 5;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(side * 4, side * 4, |x, y| {
        if dark.contains(&(x / 4, y / 4)) {
            0
        } else {
            255
        }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().unwrap().1
}

#[wasm_bindgen_test]
async fn the_qr_code_scans_as_the_room_link_and_follows_it() {
    let page = Page::mount();
    tick().await;
    let text = |testid: &str| {
        page.by_testid(testid)
            .unchecked_into::<HtmlInputElement>()
            .value()
    };
    let href = |testid: &str| {
        page.by_testid(testid)
            .unchecked_into::<web_sys::HtmlAnchorElement>()
            .href()
    };
    // The room link: the room's settings, no device identity.
    let room = text("room-text");
    assert_eq!(room, href("room-link"));
    assert!(
        room.starts_with("http://") && room.contains("room=infineon-sensor-01"),
        "{room}"
    );
    assert!(
        !room.contains("seed=") && !room.contains("device_id="),
        "{room}"
    );
    assert_eq!(scan_qr(&page), room);
    // The replay link: the seed and everything else needed to replay.
    let replay = text("share-text");
    assert_eq!(replay, href("share-link"));
    assert!(replay.contains("seed="), "{replay}");
    page.type_into("Device ID", "room-42");
    tick().await;
    assert!(
        text("room-text").contains("room=room-42"),
        "{}",
        text("room-text")
    );
    assert!(text("share-text").contains("device_id=room-42"));
    assert_eq!(
        scan_qr(&page),
        text("room-text"),
        "redrawn for the new link"
    );
    // The teacher chooses whether visitors start at once.
    page.click("room-autostart");
    tick().await;
    assert!(
        text("room-text").ends_with("&autostart=1"),
        "{}",
        text("room-text")
    );
    assert_eq!(scan_qr(&page), text("room-text"));
    // The page under test runs on this machine: the room link would not reach a phone.
    let warning = page.by_testid("share-warning");
    assert!(!warning.hidden());
    assert!(page.text("share-warning").contains("this computer only"));
}

#[wasm_bindgen_test]
async fn settings_survive_a_reload_links_win_and_the_password_is_never_stored() {
    let page = Page::mount();
    tick().await;
    page.type_into("Device ID", "remembered-1");
    page.type_into("Publish interval (s)", "2");
    page.type_into("Username", "teacher");
    page.type_into("Password", "pw-secret-9");
    page.type_into("Profile", "seed");
    let stored = storage().get_item("dps368-sim.settings").unwrap().unwrap();
    assert!(stored.contains("device_id=remembered-1"), "{stored}");
    assert!(!stored.contains("pw-secret"), "{stored}");
    assert!(
        !stored.contains("client_id"),
        "a random client id is not kept: {stored}"
    );
    let client_id = page.input("Client ID").value();
    drop(page);

    let again = Page::revisit();
    tick().await;
    assert_eq!(again.input("Device ID").value(), "remembered-1");
    assert_eq!(again.input("Publish interval (s)").value(), "2");
    assert_eq!(again.input("Username").value(), "teacher");
    assert_eq!(again.input("Profile").value(), "seed");
    assert_eq!(again.input("Password").value(), "", "never remembered");
    let other_client = again.input("Client ID").value();
    assert_ne!(other_client, client_id, "each page keeps its own client id");
    assert!(other_client.starts_with("remembered-1-"), "{other_client}");
    drop(again);

    let linked = revisit_with_query("?device_id=from-link&interval=0.5");
    tick().await;
    assert_eq!(linked.input("Device ID").value(), "from-link");
    assert_eq!(linked.input("Publish interval (s)").value(), "0.5");
    assert_eq!(
        linked.input("Username").value(),
        "teacher",
        "the rest is remembered"
    );

    linked.click("reset-settings");
    tick().await;
    assert_eq!(linked.input("Device ID").value(), "infineon-sensor-01");
    assert_eq!(linked.input("Username").value(), "");
    assert_eq!(storage().get_item("dps368-sim.settings").unwrap(), None);
}

#[wasm_bindgen_test]
async fn the_theme_toggle_overrides_the_system_and_is_remembered() {
    let page = Page::mount();
    tick().await;
    let theme = || {
        web_sys::window()
            .unwrap()
            .document()
            .unwrap()
            .document_element()
            .unwrap()
            .get_attribute("data-theme")
    };
    assert_eq!(theme().as_deref(), Some("auto"));
    page.click("theme");
    tick().await;
    assert_eq!(theme().as_deref(), Some("dark"));
    assert_eq!(page.text("theme"), "Theme: dark");
    assert_eq!(
        storage().get_item("dps368-sim.theme").unwrap().as_deref(),
        Some("dark")
    );
    page.click("theme");
    page.click("theme");
    tick().await;
    assert_eq!(theme().as_deref(), Some("auto"));
}

#[wasm_bindgen_test]
async fn settings_export_to_json_and_import_back_without_the_password() {
    let page = Page::mount();
    tick().await;
    page.type_into("Device ID", "exported-7");
    page.type_into("Username", "teacher");
    page.type_into("Password", "pw-secret-9");
    // Catch the download: the file's blob URL, read back.
    js_sys::eval(
        "window.__download = null; HTMLAnchorElement.prototype.__click = HTMLAnchorElement.prototype.click; \
         HTMLAnchorElement.prototype.click = function () { window.__download = [this.download, this.href]; };",
    )
    .unwrap();
    page.click("export-settings");
    let download: js_sys::Array =
        js_sys::Reflect::get(&web_sys::window().unwrap(), &"__download".into())
            .unwrap()
            .unchecked_into();
    js_sys::eval("HTMLAnchorElement.prototype.click = HTMLAnchorElement.prototype.__click;")
        .unwrap();
    assert_eq!(download.get(0).as_string().unwrap(), "dps368-settings.json");
    let response = wasm_bindgen_futures::JsFuture::from(
        web_sys::window()
            .unwrap()
            .fetch_with_str(&download.get(1).as_string().unwrap()),
    )
    .await
    .unwrap();
    let text = wasm_bindgen_futures::JsFuture::from(
        response
            .unchecked_into::<web_sys::Response>()
            .text()
            .unwrap(),
    )
    .await
    .unwrap()
    .as_string()
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["device_id"], "exported-7");
    assert_eq!(json["username"], "teacher");
    assert!(!text.contains("pw-secret"), "{text}");
    assert!(
        json.get("client_id").is_none(),
        "a random client id is not exported"
    );
    drop(page);

    // Imported into a fresh page: the settings, the unknown key named and ignored.
    let fresh = Page::mount();
    tick().await;
    let mut imported = json.clone();
    imported["password"] = "from-file".into();
    imported["interval"] = serde_json::json!(2.5);
    let input = fresh.by_testid("import-settings");
    js_sys::Reflect::set(&web_sys::window().unwrap(), &"__input".into(), &input).unwrap();
    js_sys::Reflect::set(
        &web_sys::window().unwrap(),
        &"__json".into(),
        &imported.to_string().into(),
    )
    .unwrap();
    js_sys::eval(
        "const t = new DataTransfer(); t.items.add(new File([window.__json], 's.json', {type: 'application/json'})); \
         window.__input.files = t.files; window.__input.dispatchEvent(new Event('change', {bubbles: true}));",
    )
    .unwrap();
    fresh
        .wait_for("imported", |p| p.input("Device ID").value() == "exported-7")
        .await;
    assert_eq!(fresh.input("Username").value(), "teacher");
    assert_eq!(fresh.input("Publish interval (s)").value(), "2.5");
    assert_eq!(fresh.input("Password").value(), "", "never from a file");
    let log = fresh.text("log");
    assert!(
        log.contains("\"password\" is not a setting of this page; ignored"),
        "{log}"
    );
}

/// Test ids are for tests: with every one taken off, the page still starts, counts, stops,
/// shows its log and switches its theme (it finds its elements by its own ids and actions).
#[wasm_bindgen_test]
async fn the_page_works_with_every_test_id_taken_off() {
    let page = Page::mount();
    tick().await;
    page.type_into("Broker URL", TEST_BROKER);
    page.type_into("Device ID", "no-test-ids");
    page.type_into("Publish interval (s)", "0.05");
    let elements = page.strip_test_ids();
    assert!(elements.len() > 30, "{} test ids", elements.len());
    assert!(page.root.query_selector("[data-testid]").unwrap().is_none());
    let element = |testid: &str| {
        elements
            .get(testid)
            .unwrap_or_else(|| panic!("no element had data-testid={testid}"))
            .clone()
    };
    let text = |testid: &str| element(testid).text_content().unwrap_or_default();
    let count = |testid: &str| text(testid).parse::<u64>().unwrap_or(0);
    element("start").click();
    let mut connected = false;
    for _ in 0..500 {
        if text("status") == "connected" && count("acked") >= 3 {
            connected = true;
            break;
        }
        TimeoutFuture::new(20).await;
    }
    assert!(
        connected,
        "status {:?}, log: {}",
        text("status"),
        text("log")
    );
    assert!(!text("last-payload").contains("nothing sent yet"));
    element("stop").click();
    let mut stopped = false;
    for _ in 0..500 {
        if text("status") == "disconnected" {
            stopped = true;
            break;
        }
        TimeoutFuture::new(20).await;
    }
    assert!(stopped, "status {:?}", text("status"));
    assert_eq!(count("acked"), count("published"));
    assert!(count("published") >= 3);
    assert!(
        text("log").contains("CONNACK: connection accepted"),
        "{}",
        text("log")
    );
    element("theme").click();
    tick().await;
    assert_eq!(text("theme"), "Theme: dark");
    // Back to where the theme test expects it.
    element("theme").click();
    element("theme").click();
    tick().await;
    assert_eq!(text("theme"), "Theme: auto");
}

/// In a fleet, Inject goes into the device shown by default, or into all devices when chosen.
#[wasm_bindgen_test]
async fn inject_goes_into_the_device_shown_or_into_every_device() {
    let page = Page::mount();
    tick().await;
    page.type_into("Broker URL", TEST_BROKER);
    page.type_into("Device ID", "inject-into");
    page.type_into("Devices", "3");
    page.type_into("Connection", "shared");
    page.type_into("Anomaly mode", "off");
    page.type_into("Publish interval (s)", "0.1");
    page.click("start");
    page.wait_for("connected", |p| p.text("status") == "connected")
        .await;
    let picker: HtmlInputElement = page.by_testid("watch-device").unchecked_into();
    picker.set_value("2");
    let init = EventInit::new();
    init.set_bubbles(true);
    picker
        .dispatch_event(&Event::new_with_event_init_dict("input", &init).unwrap())
        .unwrap();
    tick().await;
    page.click("inject-spike");
    page.wait_for("one spike event", |p| p.number("anomalies-spike") == 1)
        .await;
    TimeoutFuture::new(1_000).await;
    assert_eq!(
        page.number("anomalies-spike"),
        1,
        "into the device shown only"
    );
    assert!(
        page.text("log").contains("inject-into-2: injecting spike"),
        "{}",
        page.text("log")
    );
    let into: web_sys::HtmlSelectElement = page.by_testid("inject-into").unchecked_into();
    into.set_value("all");
    page.click("inject-spike");
    page.wait_for("three more spike events", |p| {
        p.number("anomalies-spike") == 4
    })
    .await;
    page.click("stop");
    page.wait_for("disconnected", |p| p.text("status") == "disconnected")
        .await;
}
