//! The fleet against a scripted broker on a fake clock.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::device::{Fate, Observed};
use crate::mqtt::{ConnectReturnCode, Decoder, Packet, Publish, QosPid};
use crate::settings::SettingsForm;
use crate::testing::{EPOCH, at, connack};

fn settings(query: &str) -> Settings {
    let mut form = SettingsForm::defaults("t3st");
    form.apply_query("device_id=lab&seed=7&start=2026-01-01T00:00:00Z");
    form.apply_query(query);
    form.validate().unwrap()
}

/// One received PUBLISH: who sent it (the connection), its topic and parsed payload.
#[derive(Debug, Clone)]
struct Received {
    connection: usize,
    topic: String,
    device_id: String,
    sequence: u64,
    timestamp: String,
    dup: bool,
}

/// Plays the broker for every connection of a fleet: accepts CONNECT, and acknowledges each
/// PUBLISH unless told not to.
struct Broker {
    connections: BTreeMap<usize, (Decoder, bool)>,
    /// Sockets asked for and not yet opened.
    pending_opens: Vec<usize>,
    /// The most sockets that were opening at once.
    most_opening: usize,
    /// PUBLISHes waiting for PUBACK, per connection.
    unacked: BTreeMap<usize, Vec<u16>>,
    received: Vec<Received>,
    client_ids: BTreeMap<usize, String>,
    ack: bool,
    /// The CONNACK code every CONNECT gets.
    code: ConnectReturnCode,
    /// Stopped: every socket asked for fails to open.
    down: bool,
    /// DISCONNECTs received, per connection.
    disconnects: BTreeMap<usize, usize>,
}

impl Broker {
    fn new() -> Self {
        Self {
            connections: BTreeMap::new(),
            pending_opens: vec![],
            most_opening: 0,
            unacked: BTreeMap::new(),
            received: vec![],
            client_ids: BTreeMap::new(),
            ack: true,
            code: ConnectReturnCode::Accepted,
            down: false,
            disconnects: BTreeMap::new(),
        }
    }

    /// Carries out the fleet's actions, opening at most `open_now` of the pending sockets, and
    /// answers until the fleet has nothing more to say (or for 50 rounds: a max-rate device
    /// always has more).
    fn serve(&mut self, fleet: &mut Fleet, now: Time, open_now: usize) {
        let mut opened = 0;
        for _round in 0..50 {
            let mut replies: Vec<(usize, Vec<u8>)> = vec![];
            let mut failed = vec![];
            while let Some((index, action)) = fleet.poll_action() {
                match action {
                    Action::Open { .. } if self.down => failed.push(index),
                    Action::Open { .. } => {
                        self.connections
                            .insert(index, (Decoder::new(1 << 20), false));
                        self.pending_opens.push(index);
                    }
                    Action::Send(bytes) => {
                        let (decoder, open) = self.connections.get_mut(&index).unwrap();
                        assert!(*open, "nothing is sent before the socket opens");
                        decoder.push(&bytes);
                        let mut packets = vec![];
                        while let Some(packet) = decoder.next_packet().unwrap() {
                            packets.push(packet);
                        }
                        for packet in packets {
                            if let Some(reply) = self.packet(index, packet) {
                                replies.push((index, reply));
                            }
                        }
                    }
                    Action::Close => {
                        self.connections.remove(&index);
                        self.pending_opens.retain(|&i| i != index);
                    }
                }
            }
            self.most_opening = self.most_opening.max(self.pending_opens.len());
            let mut progressed = !replies.is_empty() || !failed.is_empty();
            for index in failed {
                fleet.on_closed(index, now);
            }
            for (index, reply) in replies {
                fleet.on_bytes(index, &reply, now);
            }
            while opened < open_now && !self.pending_opens.is_empty() {
                let index = self.pending_opens.remove(0);
                self.connections.get_mut(&index).unwrap().1 = true;
                fleet.on_open(index, now);
                opened += 1;
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    fn packet(&mut self, index: usize, packet: Packet) -> Option<Vec<u8>> {
        match packet {
            Packet::Connect(connect) => {
                self.client_ids.insert(index, connect.client_id.clone());
                Some(connack(self.code))
            }
            Packet::Publish(publish) => {
                self.receive(index, &publish);
                let QosPid::AtLeastOnce(pid) = publish.qos_pid else {
                    panic!("telemetry goes at QoS 1");
                };
                if self.ack {
                    Some(Packet::PubAck(pid).to_bytes().unwrap())
                } else {
                    self.unacked.entry(index).or_default().push(pid.get());
                    None
                }
            }
            Packet::Disconnect => {
                *self.disconnects.entry(index).or_default() += 1;
                None
            }
            _ => None,
        }
    }

    /// Acknowledges the oldest PUBLISH held back on connection 0; false when none is.
    fn ack_oldest(&mut self, fleet: &mut Fleet, now: Time) -> bool {
        let Some(pid) = self
            .unacked
            .get_mut(&0)
            .filter(|p| !p.is_empty())
            .map(|p| p.remove(0))
        else {
            return false;
        };
        let puback = Packet::PubAck(std::num::NonZeroU16::new(pid).unwrap());
        fleet.on_bytes(0, &puback.to_bytes().unwrap(), now);
        true
    }

    fn receive(&mut self, connection: usize, publish: &Publish) {
        let json: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
        self.received.push(Received {
            connection,
            topic: publish.topic.clone(),
            device_id: json["device_id"].as_str().unwrap().to_owned(),
            sequence: json["sequence"].as_u64().unwrap(),
            timestamp: json["timestamp"].as_str().unwrap().to_owned(),
            dup: publish.dup,
        });
    }

    /// Sequences received per device id.
    fn sequences(&self) -> BTreeMap<String, Vec<u64>> {
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for r in &self.received {
            out.entry(r.device_id.clone()).or_default().push(r.sequence);
        }
        out
    }
}

/// Runs the fleet on the fake clock from `from` to `to`, waking it whenever it asks, with the
/// broker opening `opens_per_wake` sockets at each wake.
fn run(fleet: &mut Fleet, broker: &mut Broker, from: u64, to: u64, opens_per_wake: usize) -> u64 {
    let mut now = from;
    let mut wakes = 0;
    while now <= to {
        fleet.on_timer(at(now));
        broker.serve(fleet, at(now), opens_per_wake);
        wakes += 1;
        assert!(wakes < 1_000_000, "the fleet keeps asking to be woken");
        match fleet.poll_timeout() {
            Some(next) => now = next.max(now + 1),
            None => break,
        }
    }
    now
}

fn started(query: &str) -> (Fleet, Broker) {
    let mut fleet = Fleet::new(settings(query), 1);
    let mut broker = Broker::new();
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), usize::MAX);
    (fleet, broker)
}

#[test]
fn sensor_seeds_are_distinct_and_reproducible() {
    let seeds: BTreeSet<u64> = (1..=1000).map(|n| sensor_seed(42, n)).collect();
    assert_eq!(seeds.len(), 1000, "every sensor has its own seed");
    assert!(!seeds.contains(&42));
    assert_eq!(sensor_seed(42, 17), sensor_seed(42, 17));
    assert_ne!(sensor_seed(42, 17), sensor_seed(43, 17));

    // The whole fleet replays from one seed: the same payloads, byte for byte.
    let payloads = |seed: &str| {
        let (mut fleet, mut broker) = started(&format!("devices=5&connection=shared&seed={seed}"));
        run(&mut fleet, &mut broker, 0, 20_000, usize::MAX);
        let mut by_device: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &broker.received {
            by_device
                .entry(r.device_id.clone())
                .or_default()
                .push(format!("{} {}", r.sequence, r.timestamp));
        }
        let export = fleet.export_jsonl();
        (by_device, export)
    };
    let (a, export_a) = payloads("99");
    let (b, export_b) = payloads("99");
    assert_eq!(a, b);
    assert_eq!(export_a, export_b);
    let (_, export_c) = payloads("100");
    assert_ne!(export_a, export_c, "another seed, another stream");
    // ... and the devices differ from one another.
    let lines: Vec<&str> = export_a.lines().collect();
    let data = |line: &str| {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        (
            v["sequence"].as_u64().unwrap(),
            v["data"].to_string(),
            v["device_id"].to_string(),
        )
    };
    let firsts: BTreeSet<String> = lines
        .iter()
        .map(|l| data(l))
        .filter(|(s, _, _)| *s == 1)
        .map(|(_, d, _)| d)
        .collect();
    assert_eq!(
        firsts.len(),
        5,
        "five devices, five different first readings"
    );
}

#[test]
fn one_device_is_the_settings_unchanged() {
    let fleet = Fleet::new(settings(""), 1);
    let [device] = fleet.connections() else {
        panic!("one device")
    };
    let source = &device.sources()[0];
    assert_eq!(source.device_id, "lab");
    assert_eq!(source.topic, "device/lab/telemetry");
    assert_eq!(source.generator.config().seed, 7, "the page seed itself");
    assert_eq!(device.settings().client_id, "lab-t3st");
}

#[test]
fn every_due_sample_of_every_device_is_made_once_spread_over_the_first_interval() {
    for connection in ["per-device", "shared"] {
        let (mut fleet, mut broker) = started(&format!("devices=50&connection={connection}"));
        // Everyone connects at once here; the scheduler alone decides when samples are made.
        run(&mut fleet, &mut broker, 0, 9_999, usize::MAX);
        let sequences = broker.sequences();
        assert_eq!(sequences.len(), 50, "{connection}");
        for (n, (device_id, seqs)) in sequences.iter().enumerate() {
            assert_eq!(device_id, &format!("lab-{:02}", n + 1));
            assert_eq!(
                seqs,
                &(1..=10).collect::<Vec<_>>(),
                "{connection} {device_id}: once each"
            );
        }
        // Device n's first sample is due (n - 1) / 50 of an interval after Start, and stamped so.
        let firsts: Vec<&Received> = broker.received.iter().filter(|r| r.sequence == 1).collect();
        let stamps: BTreeSet<&str> = firsts.iter().map(|r| r.timestamp.as_str()).collect();
        assert_eq!(
            stamps.len(),
            50,
            "no two first samples in the same millisecond"
        );
        let lab_26 = firsts.iter().find(|r| r.device_id == "lab-26").unwrap();
        assert_eq!(lab_26.timestamp, "2026-01-01T00:00:00.500Z");
        let lab_26_third = broker
            .received
            .iter()
            .find(|r| r.device_id == "lab-26" && r.sequence == 3)
            .unwrap();
        assert_eq!(lab_26_third.timestamp, "2026-01-01T00:00:02.500Z");
        // Each device publishes to its own topic.
        assert!(
            broker
                .received
                .iter()
                .all(|r| r.topic == format!("device/{}/telemetry", r.device_id))
        );
        let totals = fleet.totals();
        assert_eq!((totals.samples, totals.acked), (500, 500), "{connection}");
    }
}

#[test]
fn per_device_clients_have_their_own_numbered_client_ids_and_sessions() {
    let (mut fleet, mut broker) = started("devices=12&connection=per-device&client_id=lab-x");
    run(&mut fleet, &mut broker, 0, 3_000, usize::MAX);
    let ids: BTreeSet<&str> = broker.client_ids.values().map(String::as_str).collect();
    assert_eq!(ids.len(), 12);
    assert!(
        ids.contains("lab-x-01") && ids.contains("lab-x-12"),
        "{ids:?}"
    );
    // Each device publishes on its own connection.
    for r in &broker.received {
        assert_eq!(r.device_id, format!("lab-{:02}", r.connection + 1));
    }
    let (mut fleet, mut broker) = started("devices=12&connection=shared&client_id=lab-x");
    run(&mut fleet, &mut broker, 0, 3_000, usize::MAX);
    assert_eq!(broker.client_ids.values().collect::<Vec<_>>(), ["lab-x"]);
    assert_eq!(broker.sequences().len(), 12);
}

#[test]
fn sockets_open_a_few_at_a_time_and_samples_wait_in_their_queues() {
    let mut fleet = Fleet::new(
        settings("devices=40&connection=per-device&interval=0.1&anomaly_mode=off"),
        1,
    );
    let mut broker = Broker::new();
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), 0);
    assert_eq!(
        broker.most_opening, OPEN_SLOTS,
        "only {OPEN_SLOTS} asked for at once"
    );
    // The browser opens one socket per 200 ms: the fleet is connected after about 8 s, and no
    // socket misses its 10 s opening deadline on the way.
    let mut now = 0;
    let mut seen_partial = false;
    while now <= 12_000 {
        fleet.on_timer(at(now));
        broker.serve(&mut fleet, at(now), usize::from(now % 200 == 0));
        let (up, of) = fleet.connected();
        if up > 0 && up < of {
            seen_partial = true;
            assert_eq!(fleet.status(at(now)), Status::Connecting);
        }
        now += 10;
    }
    assert!(seen_partial);
    assert_eq!(fleet.connected(), (40, 40));
    assert_eq!(fleet.status(at(now)), Status::Connected);
    assert!(broker.most_opening <= OPEN_SLOTS);
    let totals = fleet.totals();
    assert_eq!(totals.reconnects, 0, "no socket timed out waiting");
    assert_eq!(totals.dropped, 0);
    // Every sample of every device arrived, the late connectors' from their queues.
    for (device_id, seqs) in broker.sequences() {
        let last = *seqs.last().unwrap();
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "{device_id}");
        assert!(last >= 115, "{device_id}: {last}");
    }
}

#[test]
fn accounting_at_stop_holds_per_device_in_shared_mode() {
    let (mut fleet, mut broker) = started("devices=20&connection=shared&interval=0.1&queue=5");
    run(&mut fleet, &mut broker, 0, 1_000, usize::MAX);
    // The broker stops acknowledging; the connection drops; samples pile up and overflow.
    broker.ack = false;
    run(&mut fleet, &mut broker, 1_001, 2_000, usize::MAX);
    broker.connections.clear();
    fleet.on_closed(0, at(2_001));
    run(&mut fleet, &mut broker, 2_001, 4_000, 0);
    fleet.stop(at(4_001));
    broker.serve(&mut fleet, at(4_001), 0);
    assert!(!fleet.is_active());
    let rows = fleet.rows(at(4_001));
    assert_eq!(rows.len(), 20);
    let mut sum = Counters::default();
    for row in &rows {
        let c = row.counters;
        assert_eq!(c.acked + c.dropped, c.samples, "{}: {c:?}", row.device_id);
        assert_eq!((c.in_flight, c.queued), (0, 0), "{}", row.device_id);
        assert!(
            c.dropped > 0,
            "{}: the unacknowledged and the overflow",
            row.device_id
        );
        sum.add(&c);
    }
    let totals = fleet.totals();
    assert_eq!(
        (totals.samples, totals.acked, totals.dropped),
        (sum.samples, sum.acked, sum.dropped)
    );
    // The export agrees, sample by sample.
    let csv = fleet.export_csv();
    let acknowledged = csv.matches(",acknowledged\n").count() as u64;
    let lost =
        (csv.matches(",dropped\n").count() + csv.matches(",unacknowledged\n").count()) as u64;
    assert_eq!((acknowledged, lost), (totals.acked, totals.dropped));
}

#[test]
fn a_cut_shared_connection_loses_nothing() {
    let (mut fleet, mut broker) = started("devices=10&connection=shared&interval=0.1");
    run(&mut fleet, &mut broker, 0, 1_000, usize::MAX);
    broker.ack = false;
    run(&mut fleet, &mut broker, 1_001, 1_500, usize::MAX);
    broker.connections.clear();
    fleet.on_closed(0, at(1_501));
    broker.ack = true;
    run(&mut fleet, &mut broker, 1_501, 6_000, usize::MAX);
    fleet.stop(at(6_001));
    run(&mut fleet, &mut broker, 6_001, 9_000, usize::MAX);
    let totals = fleet.totals();
    assert_eq!(totals.reconnects, 1);
    assert!(totals.redelivered > 0);
    assert_eq!((totals.acked, totals.dropped), (totals.samples, 0));
    assert!(broker.received.iter().any(|r| r.dup));
    for (device_id, seqs) in broker.sequences() {
        let unique: BTreeSet<u64> = seqs.iter().copied().collect();
        let last = *unique.last().unwrap();
        assert_eq!(unique, (1..=last).collect(), "{device_id}");
    }
}

#[test]
fn a_max_rate_device_keeps_the_window_full_and_never_exceeds_it() {
    let mut fleet = Fleet::new(settings("interval=0&max_inflight=8"), 1);
    let mut broker = Broker::new();
    broker.ack = false;
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), usize::MAX);
    assert_eq!(broker.received.len(), 8, "the window fills at once");
    assert_eq!(fleet.totals().in_flight, 8);
    // Each PUBACK lets exactly one more out; the window stays full, never over.
    for step in 1..=100u64 {
        assert!(broker.ack_oldest(&mut fleet, at(step)));
        broker.serve(&mut fleet, at(step), 0);
        let c = fleet.totals();
        assert_eq!(c.in_flight, 8, "step {step}");
        assert_eq!(c.published, 8 + step);
        assert_eq!(c.queued, 0, "made as sent, never queued");
    }
    // Samples are stamped with the time they were made.
    let last = broker.received.last().unwrap();
    assert_eq!(last.timestamp, "2026-01-01T00:00:00.100Z");
    fleet.stop(at(200));
    broker.ack = true;
    broker.serve(&mut fleet, at(200), 0);
    // Nothing is made while stopping; the in-flight ones are released or counted.
    while broker.ack_oldest(&mut fleet, at(201)) {}
    broker.serve(&mut fleet, at(201), 0);
    assert!(!fleet.is_active());
    let c = fleet.totals();
    assert_eq!((c.acked, c.published, c.samples), (108, 108, 108));
}

#[test]
fn max_rate_works_for_a_shared_fleet_and_the_realistic_profile() {
    let (mut fleet, mut broker) =
        started("interval=0&devices=3&connection=shared&profile=realistic&precision=128");
    for step in 1..=50 {
        fleet.on_timer(at(step));
        broker.serve(&mut fleet, at(step), 0);
    }
    assert_eq!(broker.sequences().len(), 3, "every sensor takes its turn");
    // Made in turn (a dropout's samples are made, not sent).
    let made: Vec<u64> = fleet
        .rows(at(50))
        .iter()
        .map(|r| r.counters.samples + r.counters.dropouts)
        .collect();
    assert!(
        made.iter().max().unwrap() - made.iter().min().unwrap() <= 1,
        "{made:?}"
    );
    assert!(
        made[0] > 100,
        "acknowledged at once, so it keeps going: {made:?}"
    );
}

#[test]
fn the_deadline_queue_wakes_each_device_when_due_and_stays_small() {
    let (mut fleet, mut broker) = started("devices=100&connection=per-device&interval=1");
    let mut wakes = 0;
    let mut now = 0;
    while now < 30_000 {
        fleet.on_timer(at(now));
        broker.serve(&mut fleet, at(now), usize::MAX);
        wakes += 1;
        now = fleet.poll_timeout().unwrap().max(now + 1);
    }
    // 100 devices, one sample a second each, spread out: about 100 wakes a second, not more.
    assert!(wakes <= 30 * 100 + 200, "{wakes} wakes");
    assert!(
        fleet.deadlines.len() <= 2 * 100,
        "{} entries",
        fleet.deadlines.len()
    );
    assert_eq!(fleet.totals().acked, 30 * 100);
}

#[test]
fn the_export_is_capped_for_the_fleet_as_a_whole() {
    let fleet = Fleet::new(settings("devices=1000&connection=shared"), 1);
    let source = &fleet.connections()[0].sources()[999];
    assert_eq!(source.device_id, "lab-1000");
    assert_eq!(source.queue_limit, FLEET_QUEUE_LIMIT / 1000);
    let fleet = Fleet::new(
        settings("devices=4&connection=shared&interval=0.01&queue=100000&profile=seed"),
        1,
    );
    assert_eq!(fleet.connections()[0].sources()[0].queue_limit, 25_000);
    let mut fleet = Fleet::new(
        settings("devices=4&connection=shared&interval=0.01&profile=seed"),
        1,
    );
    fleet.start(at(0));
    // An hour of samples at 100 a second for four sensors, never connected.
    let mut now = 0;
    while now <= 300_000 {
        fleet.on_timer(at(now));
        while fleet.poll_action().is_some() {}
        now += 1000;
    }
    let kept: usize = fleet.connections()[0]
        .sources()
        .iter()
        .map(|s| s.dataset.len())
        .sum();
    assert_eq!(kept, HISTORY_LIMIT);
    assert!(fleet.totals().samples > 100_000);
}

#[test]
fn a_listener_observes_samples_packets_and_status_without_parsing_text() {
    let mut fleet = Fleet::new(settings("interval=0.5"), 1);
    fleet.observe(0, true);
    let mut broker = Broker::new();
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), usize::MAX);
    run(&mut fleet, &mut broker, 0, 1_000, usize::MAX);
    let mut seen = vec![];
    while let Some(event) = fleet.poll_observed(0) {
        seen.push(event);
    }
    let statuses: Vec<&Status> = seen
        .iter()
        .filter_map(|e| match e {
            Observed::Status(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [&Status::Connecting, &Status::Connected]);
    let fates: Vec<(u64, Fate)> = seen
        .iter()
        .filter_map(|e| match e {
            Observed::Made { sample, fate, .. } => Some((sample.sequence, *fate)),
            Observed::Sample { sequence, fate, .. } => Some((*sequence, *fate)),
            _ => None,
        })
        .collect();
    assert_eq!(
        &fates[..3],
        [
            (1, Fate::Queued),
            (1, Fate::InFlight),
            (1, Fate::Acknowledged)
        ]
    );
    let packet_types = |bytes: &Vec<u8>| bytes[0] >> 4;
    let sent: Vec<u8> = seen
        .iter()
        .filter_map(|e| match e {
            Observed::Sent(b) => Some(packet_types(b)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [1, 3, 3, 3], "CONNECT, then a PUBLISH per sample");
    assert!(
        seen.iter()
            .any(|e| matches!(e, Observed::Received(b) if b[0] == 0x20)),
        "CONNACK"
    );
    // Unobserved devices record nothing.
    let (mut quiet, mut broker) = started("");
    run(&mut quiet, &mut broker, 0, 1_000, usize::MAX);
    assert!(quiet.poll_observed(0).is_none());
}

#[test]
fn the_rate_is_acknowledgements_over_the_last_second() {
    let mut meter = RateMeter::default();
    assert_eq!(meter.record(0, 0), 0);
    for step in 1..=30u64 {
        // 500 acknowledged per second, seen every 100 ms.
        let rate = meter.record(step * 100, step * 50);
        if step >= 10 {
            assert_eq!(rate, 500, "step {step}");
        }
    }
    // It stops: the rate falls to zero within a second.
    assert_eq!(meter.record(4_100, 1_500), 0);
    // A new run starts from zero.
    assert_eq!(meter.record(5_000, 0), 0);
    assert_eq!(meter.record(5_500, 100), 200);
}

fn row(id: &str, published: u64, status: Status) -> Row {
    Row {
        device_id: id.into(),
        status,
        counters: Counters {
            published,
            ..Counters::default()
        },
    }
}

/// The device ids of the table's rows, in order.
fn ids(html: &str) -> Vec<String> {
    html.split("<tr><td>")
        .skip(1)
        .map(|r| r.split("</td>").next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_table_sorts_by_any_column_pages_and_escapes() {
    use super::table::{PAGE_ROWS, TableView, describe, rows_html};
    let rows: Vec<Row> = (0..120)
        .map(|i| {
            row(
                &format!("lab-{i:03}"),
                (i * 7 % 11) as u64,
                Status::Connected,
            )
        })
        .collect();
    let mut view = TableView::default();
    let html = rows_html(&rows, view);
    assert_eq!(ids(&html).len(), PAGE_ROWS, "one page at a time");
    assert_eq!(ids(&html)[0], "lab-000");
    assert_eq!(
        describe(view, rows.len()),
        " page 1 of 3 (120 devices), by device ▲ "
    );
    view.turn(1, rows.len());
    view.turn(1, rows.len());
    view.turn(1, rows.len());
    assert_eq!(view.page, 2, "not past the last page");
    assert_eq!(ids(&rows_html(&rows, view)).len(), 20);
    view.turn(-5, rows.len());
    assert_eq!(view.page, 0, "not before the first");
    // By published, then reversed with a second click; ties keep fleet order.
    let mut view = TableView::default();
    view.sort_by(2);
    let sorted = ids(&rows_html(&rows, view));
    let published = |id: &str| {
        rows.iter()
            .find(|r| r.device_id == id)
            .unwrap()
            .counters
            .published
    };
    assert!(
        sorted
            .windows(2)
            .all(|w| published(&w[0]) <= published(&w[1]))
    );
    assert!(describe(view, rows.len()).contains("by published ▲"));
    view.sort_by(2);
    assert!(view.descending);
    let reversed = ids(&rows_html(&rows, view));
    assert_eq!(published(&reversed[0]), 10);
    // Descending, ties still keep fleet order: the first rows published 10 are lab-003,
    // lab-014, lab-025, ... in that order.
    assert_eq!(&reversed[..3], ["lab-003", "lab-014", "lab-025"]);
    assert!(
        sorted
            .windows(2)
            .all(|w| published(&w[0]) != published(&w[1]) || w[0] < w[1])
    );
    assert!(
        reversed
            .windows(2)
            .all(|w| published(&w[0]) != published(&w[1]) || w[0] < w[1])
    );
    // By status: connected ones first.
    let mixed = vec![
        row("a", 0, Status::Stopped(None)),
        row("b", 0, Status::Connected),
        row("c", 0, Status::Connecting),
    ];
    let mut view = TableView::default();
    view.sort_by(1);
    assert_eq!(ids(&rows_html(&mixed, view)), ["b", "c", "a"]);
    // Text from outside is escaped.
    let hostile = vec![row(
        "<img src=x onerror=alert(1)>",
        0,
        Status::Stopped(Some("protocol error: \"<b>\" & '".into())),
    )];
    let html = rows_html(&hostile, TableView::default());
    assert!(!html.contains("<img") && !html.contains("<b>"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("&quot;&lt;b&gt;&quot; &amp; &#39;"));
}

#[test]
fn a_flood_of_log_lines_is_held_to_50_a_second_and_summed_up() {
    // At max rate with an anomaly every 2nd sample: thousands of anomaly lines a second.
    let (mut fleet, mut broker) = started("interval=0&profile=seed&anomaly_every=2&max_inflight=8");
    let mut lines = vec![];
    for ms in (0..=3_000u64).step_by(20) {
        fleet.on_timer(at(ms));
        broker.serve(&mut fleet, at(ms), 0);
        while let Some(entry) = fleet.poll_log() {
            lines.push((ms / 1000, entry.text));
        }
    }
    let anomalies = fleet.totals().anomalies;
    assert!(anomalies > 10_000, "{anomalies}");
    for second in 0..3 {
        let passed = lines.iter().filter(|(s, _)| *s == second).count();
        assert!(passed <= 51, "second {second}: {passed} lines");
    }
    let summaries: Vec<&String> = lines
        .iter()
        .map(|(_, text)| text)
        .filter(|t| t.contains("log line(s) not shown: more than 50 a second"))
        .collect();
    assert_eq!(summaries.len(), 3, "one per flooded second: {summaries:?}");
    // Nothing is lost from the counts: every event was counted.
    assert_eq!(fleet.totals().events_by_kind.iter().sum::<u64>(), anomalies);
}

#[test]
fn a_flood_that_stops_still_shows_the_totals_and_what_was_held_back() {
    let (mut fleet, mut broker) = started("interval=0&profile=seed&anomaly_every=2&max_inflight=8");
    let mut lines = vec![];
    for ms in (0..=400u64).step_by(20) {
        fleet.on_timer(at(ms));
        broker.serve(&mut fleet, at(ms), 0);
        while let Some(entry) = fleet.poll_log() {
            lines.push(entry.text);
        }
    }
    fleet.stop(at(401));
    broker.serve(&mut fleet, at(401), 0);
    while let Some(entry) = fleet.poll_log() {
        lines.push(entry.text);
    }
    assert!(!fleet.is_active());
    let c = fleet.totals();
    let tail = &lines[lines.len() - 3..];
    assert!(
        tail.iter()
            .any(|l| l.starts_with(&format!("stopped: samples {}", c.samples))),
        "{tail:?}"
    );
    assert!(
        lines.last().unwrap().contains("log line(s) not shown"),
        "what was held back is said at the end: {tail:?}"
    );
}

#[test]
fn a_fleet_logs_its_totals_when_the_last_device_stops() {
    let (mut fleet, mut broker) = started("devices=3&connection=per-device&interval=0.5");
    run(&mut fleet, &mut broker, 0, 2_000, usize::MAX);
    fleet.stop(at(2_001));
    run(&mut fleet, &mut broker, 2_001, 5_000, usize::MAX);
    let lines: Vec<String> = std::iter::from_fn(|| fleet.poll_log())
        .map(|e| e.text)
        .collect();
    let c = fleet.totals();
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "fleet of 3 stopped: samples {0}, published {0}, acknowledged {0}, anomalies injected 0, dropped 0, reconnects 0",
            c.samples
        )
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(": stopped: samples"))
            .count(),
        3
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("fleet of 3 stopped"))
            .count(),
        1
    );
}

#[test]
fn a_fleet_catch_up_is_bounded_per_timer_turn_and_makes_every_due_sample() {
    // Ten devices at 100 samples a second, never connected, asleep for ten minutes.
    let mut fleet = Fleet::new(
        settings("devices=10&connection=per-device&interval=0.01&profile=seed&queue=100"),
        1,
    );
    fleet.start(at(0));
    while fleet.poll_action().is_some() {}
    let mut now = at(600_000);
    let mut turns = 0;
    // The turn in which each device first made samples after the sleep.
    let mut first_turn = [usize::MAX; 10];
    loop {
        let before: u64 = fleet.connections().iter().map(Device::samples_made).sum();
        let each_before: Vec<u64> = fleet
            .connections()
            .iter()
            .map(Device::samples_made)
            .collect();
        fleet.on_timer(now);
        for (i, device) in fleet.connections().iter().enumerate() {
            if device.samples_made() > each_before[i] {
                first_turn[i] = first_turn[i].min(turns);
            }
        }
        let made = fleet
            .connections()
            .iter()
            .map(Device::samples_made)
            .sum::<u64>()
            - before;
        assert!(made <= 2 * CATCH_UP_CHUNK, "turn {turns}: {made} samples");
        turns += 1;
        while fleet.poll_action().is_some() {}
        if fleet.poll_timeout().unwrap() > now.mono_ms {
            break;
        }
        now.mono_ms += 1;
        now.wall_ms += 1;
        assert!(turns < 100, "the catch-up ends");
    }
    assert!(turns >= 10, "{turns} turns");
    // It went round: every device made samples within the first turns, none waited for all
    // the others to catch up first.
    assert!(first_turn.iter().all(|&t| t <= 10), "{first_turn:?}");
    for device in fleet.connections() {
        let due = (now.mono_ms - device.sources()[0].offset_ms(10)) / 10 + 1;
        assert_eq!(device.samples_made(), due, "every due sample was made");
        assert_eq!(device.counters().queued, 100, "the newest 100 wait");
    }
}

#[test]
fn a_refused_fleet_says_why_in_words() {
    let mut fleet = Fleet::new(settings("devices=5&connection=per-device"), 1);
    let mut broker = Broker::new();
    broker.code = ConnectReturnCode::NotAuthorized;
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), usize::MAX);
    match fleet.status(at(0)) {
        Status::Retrying {
            reason,
            refused: true,
            ..
        } => assert_eq!(reason, "not authorized"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fleet.connected(), (0, 5));
}

#[test]
fn a_broker_outage_is_said_once_per_reason_and_summed_up_at_most_once_a_second() {
    let (mut fleet, mut broker) = started("devices=200&connection=per-device&interval=1");
    run(&mut fleet, &mut broker, 0, 3_000, usize::MAX);
    assert_eq!(fleet.connected(), (200, 200));
    while fleet.poll_log().is_some() {}
    // The broker stops for 6 s: every connection drops, and every attempt fails.
    broker.down = true;
    for index in 0..200 {
        broker.connections.remove(&index);
        fleet.on_closed(index, at(3_001));
    }
    run(&mut fleet, &mut broker, 3_001, 9_000, usize::MAX);
    let mut during = vec![];
    while let Some(entry) = fleet.poll_log() {
        during.push(entry);
    }
    broker.down = false;
    // Stepped until the last connection is back, to see when the end is said.
    let mut now = 9_001;
    while fleet.connected() != (200, 200) {
        assert!(now < 60_000, "not up again by {now}");
        now = fleet.poll_timeout().unwrap().max(now + 1);
        fleet.on_timer(at(now));
        broker.serve(&mut fleet, at(now), usize::MAX);
    }
    let all_up_at = at(now).wall_ms;
    let end = run(&mut fleet, &mut broker, now + 1, 60_000, usize::MAX);
    let mut after = vec![];
    while let Some(entry) = fleet.poll_log() {
        after.push(entry);
    }
    let shown = |lines: &[LogEntry]| -> Vec<String> {
        lines
            .iter()
            .filter(|e| e.level != LogLevel::Info)
            .map(|e| e.text.clone())
            .collect()
    };
    let (during_shown, after_shown) = (shown(&during), shown(&after));
    // Each reason once (the connection lost, then every attempt failing), with the first
    // device it hit; the rest in summaries.
    let retries: Vec<_> = during_shown
        .iter()
        .filter(|t| t.contains("retrying in"))
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(
        retries[0].starts_with("lab-001: error: connection lost; "),
        "{retries:?}"
    );
    assert!(
        retries[1].contains(": error: cannot connect to "),
        "{retries:?}"
    );
    let summaries: Vec<&LogEntry> = during
        .iter()
        .chain(&after)
        .filter(|e| e.text.contains("connections down:"))
        .collect();
    assert!(summaries.len() >= 3, "{during_shown:#?}");
    for pair in summaries.windows(2) {
        assert!(pair[1].wall_ms - pair[0].wall_ms >= 1_000, "{pair:#?}");
    }
    assert!(
        summaries[0]
            .text
            .starts_with("200 of 200 connections down: ")
            && summaries[0].text.contains(" after \"")
            && summaries[0].text.contains(", …)")
            && summaries[0].text.contains("next attempts in "),
        "{}",
        summaries[0].text
    );
    assert!(
        during_shown.len() + after_shown.len() < 40,
        "{during_shown:#?} {after_shown:#?}"
    );
    let up: Vec<_> = after_shown
        .iter()
        .filter(|t| t.contains("up again"))
        .collect();
    assert!(
        up.len() == 1 && up[0].starts_with("all 200 connections up again, after "),
        "{after_shown:#?}"
    );
    // Said when the last connection came back, not at the next second's check (a run stopped
    // in between would never say it).
    let said_at = after.iter().find(|e| e.text.contains("up again")).unwrap();
    assert_eq!(said_at.wall_ms, all_up_at);
    // Retries (information) are counted, not written a line each.
    let retrying = during
        .iter()
        .chain(&after)
        .filter(|e| e.text.contains("reconnecting to"));
    assert_eq!(retrying.count(), 0);
    // A second outage is said again from its first line.
    broker.down = true;
    broker.connections.remove(&5);
    fleet.on_closed(5, at(end + 1_000));
    let again: Vec<String> = std::iter::from_fn(|| fleet.poll_log())
        .map(|e| e.text)
        .collect();
    assert!(
        again.iter().any(|t| t.starts_with("lab-006: error: ")),
        "{again:?}"
    );
}

#[test]
fn counts_are_grouped_in_thousands() {
    let cases = [
        (0, "0"),
        (999, "999"),
        (1_000, "1,000"),
        (4_812, "4,812"),
        (1_234_567, "1,234,567"),
    ];
    for (n, text) in cases {
        assert_eq!(grouped(n), text);
    }
}

#[test]
fn windows_are_bounded_for_the_fleet_and_fill_in_bursts_at_max_rate() {
    let fleet = Fleet::new(
        settings("devices=200&connection=per-device&max_inflight=65535"),
        1,
    );
    for device in fleet.connections() {
        assert_eq!(device.settings().max_in_flight, FLEET_IN_FLIGHT_LIMIT / 200);
    }
    // One device with the largest window: CONNACK lets out one burst, not 65,535 samples.
    let mut fleet = Fleet::new(settings("interval=0&max_inflight=65535&profile=seed"), 1);
    let mut broker = Broker::new();
    broker.ack = false;
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), usize::MAX);
    assert_eq!(broker.received.len(), crate::device::MAX_RATE_BURST);
}

#[test]
fn a_queue_that_stays_full_is_one_burst_in_the_log() {
    // Made twice as fast as the broker acknowledges: the queue hovers at full for seconds.
    let (mut fleet, mut broker) =
        started("interval=0.01&profile=seed&queue=10&max_inflight=1&anomaly_mode=off");
    broker.ack = false;
    let mut lines = vec![];
    for ms in (0..=3_000u64).step_by(10) {
        fleet.on_timer(at(ms));
        broker.serve(&mut fleet, at(ms), 0);
        if ms % 20 == 0 && broker.ack_oldest(&mut fleet, at(ms)) {
            broker.serve(&mut fleet, at(ms), 0);
        }
        while let Some(entry) = fleet.poll_log() {
            lines.push(entry.text);
        }
    }
    assert!(fleet.totals().dropped > 100, "{:?}", fleet.totals());
    let full = lines
        .iter()
        .filter(|l| l.starts_with("offline queue full"))
        .count();
    assert_eq!(full, 1, "{lines:?}");
}

#[test]
fn a_watch_of_one_sensor_of_a_shared_fleet_sees_its_samples_and_the_connections_packets() {
    let mut fleet = Fleet::new(settings("devices=3&connection=shared&interval=0.5"), 1);
    let (device, source) = fleet.locate(2).unwrap();
    assert_eq!((device, source), (0, 2));
    assert_eq!(fleet.sensor_id(2), Some("lab-3"));
    assert_eq!(fleet.locate(3), None);
    fleet.observe(device, true);
    let mut watch = crate::watch::Watch::new(source, 300);
    let mut broker = Broker::new();
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), usize::MAX);
    run(&mut fleet, &mut broker, 0, 5_000, usize::MAX);
    while let Some(event) = fleet.poll_observed(device) {
        watch.feed(event, 0);
    }
    let sequences: Vec<u64> = watch.points().iter().map(|p| p.sample.sequence).collect();
    let made = fleet.rows(at(5_000))[2].counters.samples;
    assert_eq!(sequences, (1..=made).collect::<Vec<_>>());
    let names: BTreeSet<&str> = watch
        .frames()
        .iter()
        .map(|f| f.summary.as_ref().unwrap().name)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["CONNECT", "CONNACK", "PUBLISH", "PUBACK"])
    );
    // A chart alone records the samples, not the packets.
    let mut quiet = Fleet::new(settings("interval=0.5"), 1);
    quiet.observe(0, true);
    quiet.observe_packets(0, false);
    let mut broker = Broker::new();
    quiet.start(at(0));
    broker.serve(&mut quiet, at(0), usize::MAX);
    run(&mut quiet, &mut broker, 0, 2_000, usize::MAX);
    let mut made = 0;
    while let Some(event) = quiet.poll_observed(0) {
        assert!(
            !matches!(event, Observed::Sent(_) | Observed::Received(_)),
            "{event:?}"
        );
        made += usize::from(matches!(event, Observed::Made { .. }));
    }
    assert!(made >= 4, "{made}");
    // Per-device: sensor n is device n, source 0.
    let per_device = Fleet::new(settings("devices=3"), 1);
    assert_eq!(per_device.locate(2), Some((2, 0)));
}

/// Each sensor of a fleet: its id, topic, place in the interval, and its first payloads.
fn sensors(fleet: &Fleet) -> Vec<(String, String, u64, Vec<String>)> {
    fleet
        .connections()
        .iter()
        .flat_map(|device| device.sources())
        .map(|source| {
            let mut generator = source.generator.clone();
            let payloads = (0..10)
                .map(|k| source.payload(&generator.next_sample(EPOCH + k * 1000), false))
                .collect();
            (
                source.device_id.clone(),
                source.topic.clone(),
                source.offset_ms(1000),
                payloads,
            )
        })
        .collect()
}

#[test]
fn the_shards_of_a_fleet_together_are_the_whole_fleet() {
    for connection in ["per-device", "shared"] {
        let settings = settings(&format!("devices=10&connection={connection}"));
        let whole = sensors(&Fleet::new(settings.clone(), 1));
        for count in [1, 3, 4, 10] {
            let mut joined = vec![];
            let mut client_ids = BTreeSet::new();
            for index in 0..count {
                let shard = Fleet::shard(settings.clone(), 1, Shard { index, count });
                for device in shard.connections() {
                    assert!(
                        client_ids.insert(device.settings().client_id.clone()),
                        "{connection}"
                    );
                }
                joined.extend(sensors(&shard));
            }
            assert_eq!(joined, whole, "{connection}, {count} shards");
        }
    }
    assert_eq!(Shard::parse("3/4", 10), Ok(Shard { index: 3, count: 4 }));
    // Slices of 10 in 4: 2, 3, 2, 3 devices, contiguous; none past the fleet.
    let lengths: Vec<usize> = (0..4)
        .map(|index| Shard { index, count: 4 }.numbers(10).count())
        .collect();
    assert_eq!(lengths, [2, 3, 2, 3]);
    assert_eq!(Shard { index: 5, count: 4 }.numbers(10).count(), 0);
    let past = Fleet::shard(settings("devices=10"), 1, Shard { index: 5, count: 4 });
    assert!(
        past.connections().is_empty(),
        "a slice past the fleet holds nothing"
    );
    assert_eq!(
        Shard {
            index: 99_999,
            count: 100_000
        }
        .numbers(100_000),
        100_000..=100_000
    );
    for bad in ["4/4", "0/0", "1/11", "x", "1/"] {
        assert_eq!(
            Shard::parse(bad, 10),
            Err(format!(
                "must be K/N: slice K (from 0) of N, with K below N and N at most the devices (got \"{bad}\")"
            ))
        );
    }
}

#[test]
fn an_anomaly_injected_into_one_sensor_labels_that_sensor_only() {
    for connection in ["shared", "per-device"] {
        let (mut fleet, mut broker) = started(&format!(
            "devices=3&connection={connection}&anomaly_mode=off&interval=0.1"
        ));
        run(&mut fleet, &mut broker, 0, 1_000, usize::MAX);
        fleet.inject_into(AnomalyKind::Spike, 1, at(1_000));
        run(&mut fleet, &mut broker, 1_000, 3_000, usize::MAX);
        let events: Vec<u64> = fleet
            .rows(at(3_000))
            .iter()
            .map(|row| row.counters.events_by_kind[AnomalyKind::Spike.index()])
            .collect();
        assert_eq!(events, [0, 1, 0], "{connection}");
        // Past the last sensor: nothing.
        fleet.inject_into(AnomalyKind::Spike, 3, at(3_000));
        run(&mut fleet, &mut broker, 3_000, 5_000, usize::MAX);
        let total: u64 = fleet
            .rows(at(5_000))
            .iter()
            .map(|row| row.counters.events_by_kind.iter().sum::<u64>())
            .sum();
        assert_eq!(total, 1, "{connection}");
    }
}

#[test]
fn the_generator_makes_the_samples_and_labels_a_live_run_publishes() {
    for connection in ["shared", "per-device"] {
        let query = format!(
            "devices=3&connection={connection}&interval=0.5&anomaly_every=4&anomaly_kinds=all"
        );
        let (mut fleet, mut broker) = started(&query);
        run(&mut fleet, &mut broker, 0, 20_000, usize::MAX);
        let live: Vec<String> = fleet
            .export_csv()
            .lines()
            .skip(1)
            .filter(|row| row.ends_with(",acknowledged"))
            .map(|row| row.trim_end_matches(",acknowledged").to_owned())
            .collect();
        assert!(live.len() > 100, "{}", live.len());
        let settings = settings(&query);
        let mut made = BTreeSet::new();
        let mut labels = 0;
        generate::generate(
            &settings,
            settings.start_ms.unwrap(),
            60,
            |g| {
                let row = crate::sensor::csv_row(g.device_id, g.profile, &g.sample, "x");
                made.insert(row.trim_end_matches(",x").to_owned());
            },
            |_, _| labels += 1,
        );
        assert_eq!(made.len(), 180, "60 samples of each of 3 sensors");
        let missing: Vec<&String> = live.iter().filter(|row| !made.contains(*row)).collect();
        assert!(
            missing.is_empty(),
            "{connection}: {:?}",
            &missing[..missing.len().min(3)]
        );
        assert!(labels >= 3 * 60 / 4 / 2, "{labels} events' ground truth");
    }
}

#[test]
#[allow(clippy::disallowed_methods, reason = "the test's own statistics")]
fn a_fleet_shares_one_sky_and_differs_where_installations_differ() {
    // Four sensors a minute apart for a day, one building 30 m tall, no anomalies: the same
    // weather under all (pairwise correlation of pressure above 0.95, the issue's figure), each
    // at its own height and with its own offset, noise and temperature.
    let settings = settings(
        "devices=4&interval=60&anomaly_mode=off&altitude=200&altitude_spread=15&weather=stormy",
    );
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    generate::generate(
        &settings,
        settings.start_ms.unwrap(),
        24 * 60,
        |g| {
            series
                .entry(g.device_id.to_owned())
                .or_default()
                .push((g.sample.pressure_hpa, g.sample.temperature_c));
        },
        |_, _| panic!("no anomalies"),
    );
    let columns: Vec<Vec<(f64, f64)>> = series.into_values().collect();
    assert_eq!(columns.len(), 4);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let correlation = |a: &[f64], b: &[f64]| {
        let (ma, mb) = (mean(a), mean(b));
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    };
    let pressure: Vec<Vec<f64>> = columns
        .iter()
        .map(|c| c.iter().map(|s| s.0).collect())
        .collect();
    let temperature: Vec<Vec<f64>> = columns
        .iter()
        .map(|c| c.iter().map(|s| s.1).collect())
        .collect();
    let mut levels = vec![];
    for i in 0..4 {
        levels.push(mean(&pressure[i]));
        for j in i + 1..4 {
            let r = correlation(&pressure[i], &pressure[j]);
            assert!(r > 0.95, "sensors {i} and {j}: r = {r:.4}");
            assert_ne!(temperature[i], temperature[j], "each its own temperature");
        }
    }
    // 15 m of height is about 1.8 hPa at 200 m, the parts' offsets up to 1 hPa more: the levels
    // differ, within what the spread and the accuracy allow.
    let (low, high) = levels
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    assert!(
        high - low > 0.05 && high - low < 2.0 * 1.8 + 2.0,
        "{levels:?}"
    );
}

/// A started fleet replaying `recording` (CSV text) with `query`'s settings.
fn replaying(query: &str, recording: &str) -> (Fleet, Broker) {
    let mut settings = settings(&format!("profile=replay&replay=air.csv&{query}"));
    let recording = crate::sensor::Recording::parse(recording.as_bytes()).unwrap();
    settings.attach_recording(std::sync::Arc::new(recording));
    let mut fleet = Fleet::new(settings, 1);
    let mut broker = Broker::new();
    fleet.start(at(0));
    broker.serve(&mut fleet, at(0), usize::MAX);
    (fleet, broker)
}

/// The acknowledged rows of a fleet's CSV export: (device, sequence, pressure, temperature,
/// labelled, the recording's own timestamp).
fn exported(fleet: &Fleet) -> Vec<(String, u64, String, String, bool, String)> {
    let csv = fleet.export_csv();
    assert!(
        csv.starts_with("sequence,")
            && csv
                .lines()
                .next()
                .unwrap()
                .ends_with(",status,recorded_timestamp")
    );
    csv.lines()
        .skip(1)
        .filter(|row| row.contains(",acknowledged,"))
        .map(|row| {
            let cells: Vec<&str> = row.split(',').collect();
            (
                cells[2].to_owned(),
                cells[0].parse().unwrap(),
                cells[4].to_owned(),
                cells[5].to_owned(),
                cells[6] == "true",
                cells[10].to_owned(),
            )
        })
        .collect()
}

const AIR: &str = "timestamp,pressure,temperature\n\
    2016-06-01T00:00Z,958.1,12.5\n2016-06-01T01:00Z,958.2,12.25\n2016-06-01T02:00Z,958.3,12\n\
    2016-06-01T03:00Z,958.4,11.75\n2016-06-01T04:00Z,958.5,11.5\n2016-06-01T05:00Z,958.6,11.25\n\
    2016-06-01T06:00Z,958.7,11\n";

#[test]
fn a_replayed_recording_is_published_as_recorded_except_where_labelled() {
    // Three sensors on one connection, a sample a second for 20 s, a spike or a step every
    // 4th sample: each sensor plays the 7 rows from its own place (0, 2 and 4: (k - 1) x 7 / 3),
    // over and over, sequence numbers running on.
    let (mut fleet, mut broker) = replaying(
        "devices=3&connection=shared&interval=1&anomaly_every=4&anomaly_kinds=spike,step",
        AIR,
    );
    run(&mut fleet, &mut broker, 0, 20_000, usize::MAX);
    let rows = exported(&fleet);
    assert!(rows.len() >= 3 * 19, "{}", rows.len());
    let recording = crate::sensor::Recording::parse(AIR.as_bytes()).unwrap();
    let (mut labelled, mut equal) = (0, 0);
    for (device, sequence, pressure, temperature, anomaly, recorded) in &rows {
        let k: usize = device.strip_prefix("lab-").unwrap().parse().unwrap();
        let row = ((k - 1) * 7 / 3 + *sequence as usize - 1) % 7;
        assert_eq!(
            recorded,
            recording.timestamp(row),
            "the recording's own time is kept"
        );
        let (p, t) = recording.reading(row);
        let as_published = (format!("{p:.4}"), format!("{:.3}", t.unwrap()));
        if *anomaly {
            labelled += 1;
            assert_ne!(
                pressure, &as_published.0,
                "{device} {sequence}: the anomaly moved it"
            );
        } else {
            equal += 1;
            assert_eq!(
                (pressure, temperature),
                (&as_published.0, &as_published.1),
                "{device} {sequence}"
            );
        }
    }
    assert!(
        labelled >= 10 && equal >= 30,
        "{labelled} labelled, {equal} as recorded"
    );
}

#[test]
fn a_recording_played_once_ends_the_run_with_its_last_row() {
    for in_step in [false, true] {
        let (mut fleet, mut broker) = replaying(
            &format!(
                "devices=2&interval=1&anomaly_mode=off&replay_loop=false&replay_in_step={in_step}"
            ),
            AIR,
        );
        assert!(!fleet.finished());
        run(&mut fleet, &mut broker, 0, 60_000, usize::MAX);
        assert!(fleet.finished(), "7 rows played, all delivered");
        let rows = exported(&fleet);
        assert_eq!(rows.len(), 14, "7 samples each");
        let first = |device: &str| {
            rows.iter()
                .find(|r| r.0 == device && r.1 == 1)
                .map(|r| r.2.clone())
                .unwrap()
        };
        // In step: both from row 1; spread: the second from row 4 ((2 - 1) x 7 / 2 = 3). Each
        // reads every row once, the second round to row 1 after row 7.
        let second = if in_step { "958.1000" } else { "958.4000" };
        assert_eq!(
            (first("lab-1").as_str(), first("lab-2").as_str()),
            ("958.1000", second)
        );
        for device in ["lab-1", "lab-2"] {
            let mut read: Vec<&str> = rows
                .iter()
                .filter(|r| r.0 == device)
                .map(|r| r.2.as_str())
                .collect();
            read.sort_unstable();
            assert_eq!(
                read,
                [
                    "958.1000", "958.2000", "958.3000", "958.4000", "958.5000", "958.6000",
                    "958.7000"
                ]
            );
        }
    }
}

#[test]
fn generate_replays_a_recording_once_with_each_rows_recorded_time() {
    let mut settings =
        settings("profile=replay&replay=air.csv&devices=2&replay_loop=false&anomaly_mode=off");
    let recording = crate::sensor::Recording::parse(AIR.as_bytes()).unwrap();
    settings.attach_recording(std::sync::Arc::new(recording));
    let mut rows = vec![];
    generate::generate(
        &settings,
        settings.start_ms.unwrap(),
        1000,
        |g| {
            rows.push((
                g.device_id.to_owned(),
                g.sample.pressure_hpa,
                g.recorded.map(str::to_owned),
            ))
        },
        |_, _| {},
    );
    // Played once: 7 rows each, not the 1,000 asked for; the second sensor from row 4.
    assert_eq!(rows.len(), 14);
    assert_eq!(
        rows[0],
        ("lab-1".into(), 958.1, Some("2016-06-01T00:00Z".into()))
    );
    assert_eq!(
        rows[7],
        ("lab-2".into(), 958.4, Some("2016-06-01T03:00Z".into()))
    );
    assert_eq!(
        rows[13].2.as_deref(),
        Some("2016-06-01T02:00Z"),
        "round to row 1 and on"
    );
}

/// Scenarios played by a fleet (the core's `scenario` feature, which every workspace test run
/// has: the runner turns it on).
#[cfg(feature = "scenario")]
mod scenarios {
    use super::*;

    /// A fleet playing `scenario` (as the page and the runner apply it) over the settings `query`.
    fn scenario_fleet(scenario: &str, query: &str) -> Fleet {
        Fleet::new(scenario_settings(scenario, query), 1)
    }

    /// The settings of [`scenario_fleet`].
    fn scenario_settings(scenario: &str, query: &str) -> Settings {
        let scenario = crate::scenario::Scenario::parse(scenario).unwrap();
        let mut form = SettingsForm::defaults("t3st");
        form.apply_query("device_id=lab&seed=7&start=2026-01-01T00:00:00Z");
        form.apply_query(query);
        scenario.apply(&mut form);
        let mut settings = form.validate().unwrap();
        settings.attach_scenario(scenario).unwrap();
        settings
    }

    /// Starts `fleet` at `from` and runs it on the fake clock to `from + to`, noting at every whole
    /// second from Start how many connections were up, and stops it as the transports do when it
    /// has finished.
    fn play_from(fleet: &mut Fleet, broker: &mut Broker, from: u64, to: u64) -> Vec<usize> {
        let mut up = vec![];
        let mut now = from;
        let to = from + to;
        let mut wakes = 0;
        fleet.start(at(from));
        broker.serve(fleet, at(from), usize::MAX);
        while now <= to {
            fleet.on_timer(at(now));
            broker.serve(fleet, at(now), usize::MAX);
            if fleet.stop_if_finished(at(now)) {
                broker.serve(fleet, at(now), usize::MAX);
            }
            wakes += 1;
            assert!(wakes < 1_000_000, "the fleet keeps asking to be woken");
            let next = fleet.poll_timeout().unwrap_or(to + 1).max(now + 1);
            while from + (up.len() as u64) * 1000 < next.min(to + 1) {
                up.push(fleet.connected().0);
            }
            now = next;
        }
        up
    }

    fn play(fleet: &mut Fleet, broker: &mut Broker, to: u64) -> Vec<usize> {
        play_from(fleet, broker, 0, to)
    }

    /// Each device's samples in the export, as (ms after Start, sequence, anomaly kind).
    fn by_device(fleet: &Fleet) -> BTreeMap<String, Vec<(i64, u64, Option<String>)>> {
        let start = crate::settings::model::parse_start("2026-01-01T00:00:00Z")
            .unwrap()
            .unwrap();
        let mut out: BTreeMap<String, Vec<(i64, u64, Option<String>)>> = BTreeMap::new();
        for line in fleet.export_jsonl().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ms = crate::sensor::parse_rfc3339_millis(v["timestamp"].as_str().unwrap()).unwrap();
            out.entry(v["device_id"].as_str().unwrap().to_owned())
                .or_default()
                .push((
                    ms - start,
                    v["sequence"].as_u64().unwrap(),
                    v["anomaly_kind"].as_str().map(str::to_owned),
                ));
        }
        out
    }

    #[test]
    fn a_scenarios_stages_connect_devices_on_their_ramp_each_on_its_interval_and_the_run_ends() {
        let mut fleet = scenario_fleet(
            r#"{"stages": [{"duration": 10, "devices": 2},
                           {"duration": 20, "devices": 6, "ramp": 8, "interval": 0.5},
                           {"duration": 10, "devices": 3}]}"#,
            "connection=per-device&interval=1&anomaly_mode=off",
        );
        assert_eq!(
            fleet.connections().len(),
            6,
            "the fleet is the largest stage"
        );
        let mut broker = Broker::new();
        let up = play(&mut fleet, &mut broker, 60_000);
        // Two, then one more every 2 s from 12 s to 18 s, six to 30 s, three to the end at 40 s.
        assert_eq!(&up[..10], [2; 10]);
        assert_eq!(&up[10..20], [2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
        assert_eq!(&up[20..30], [6; 10]);
        assert_eq!(&up[30..40], [3; 10]);
        assert_eq!(&up[40..], [0; 21], "the run ended with its last stage");
        assert!(!fleet.is_active());
        assert!(fleet.scenario_ended());
        let samples = by_device(&fleet);
        let times = |device: &str| -> Vec<i64> { samples[device].iter().map(|s| s.0).collect() };
        // Device 1 (place 0 of 6): every second to 10 s, every half second to 30 s, then every
        // second again (the run's interval) to 40 s; sequences run on throughout.
        let one: Vec<i64> = (0..10)
            .map(|k| k * 1000)
            .chain((0..40).map(|k| 10_000 + k * 500))
            .chain((0..10).map(|k| 30_000 + k * 1000))
            .collect();
        assert_eq!(times("lab-1"), one);
        let sequences: Vec<u64> = samples["lab-1"].iter().map(|s| s.1).collect();
        assert_eq!(sequences, (1..=60).collect::<Vec<u64>>());
        // Device 4 joins at 14 s: its place (3/6 of the half second) on the grid from there, and
        // it leaves at 30 s with the last sample due before.
        let four: Vec<i64> = (0..32).map(|k| 14_250 + k * 500).collect();
        assert_eq!(times("lab-4"), four);
        // Device 3 stays for the last stage, back on the second's grid at its place.
        assert_eq!(times("lab-3").last(), Some(&39_333));
        assert_eq!(fleet.totals().dropped, 0);
        assert_eq!(fleet.totals().acked, fleet.totals().samples);
        // Devices 4 to 6 said DISCONNECT when their stage ended, devices 1 to 3 at the end.
        assert_eq!(broker.disconnects.values().sum::<usize>(), 6);
    }

    #[test]
    fn a_device_a_stage_brings_back_carries_on_its_sequence() {
        let mut fleet = scenario_fleet(
            r#"{"stages": [{"duration": 5, "devices": 2}, {"duration": 5, "devices": 1},
                           {"duration": 5, "devices": 2}]}"#,
            "connection=per-device&interval=1&anomaly_mode=off",
        );
        let mut broker = Broker::new();
        play(&mut fleet, &mut broker, 30_000);
        let samples = by_device(&fleet);
        let two: Vec<(i64, u64)> = samples["lab-2"].iter().map(|s| (s.0, s.1)).collect();
        let expected: Vec<(i64, u64)> = [
            500, 1500, 2500, 3500, 4500, 10_500, 11_500, 12_500, 13_500, 14_500,
        ]
        .into_iter()
        .zip(1..)
        .collect();
        assert_eq!(two, expected);
        assert_eq!(fleet.totals().dropped, 0);
    }

    #[test]
    fn a_scripted_anomaly_lands_on_each_devices_first_sample_at_or_after_its_time() {
        let mut fleet = scenario_fleet(
            r#"{"stages": [{"duration": 20, "devices": 3}],
                "events": [{"at": 2.5, "anomaly": "spike", "devices": [2]},
                           {"at": 6, "anomaly": "stuck", "devices": "1-3", "duration": 2}]}"#,
            "connection=per-device&interval=1&anomaly_mode=off",
        );
        let mut broker = Broker::new();
        play(&mut fleet, &mut broker, 30_000);
        let samples = by_device(&fleet);
        let labelled = |device: &str| -> Vec<(i64, String)> {
            samples[device]
                .iter()
                .filter_map(|(ms, _, kind)| kind.clone().map(|k| (*ms, k)))
                .collect()
        };
        // Device 2's samples fall at 333 ms past each second: the spike takes the one at 3.333 s.
        // Stuck lasts 5 samples in the catalogue, twice that here.
        assert_eq!(AnomalyKind::Stuck.duration(), 5);
        let stuck = |from: i64| (0..10).map(move |k| (from + k * 1000, "stuck".to_owned()));
        let two: Vec<(i64, String)> = std::iter::once((3333, "spike".to_owned()))
            .chain(stuck(6333))
            .collect();
        assert_eq!(labelled("lab-2"), two);
        // Device 1 is on the dot, device 3 at two thirds of each second.
        assert_eq!(labelled("lab-1"), stuck(6000).collect::<Vec<_>>());
        assert_eq!(labelled("lab-3"), stuck(6666).collect::<Vec<_>>());
    }

    #[test]
    fn an_outage_drops_the_connections_without_disconnect_and_loses_nothing() {
        let mut fleet = scenario_fleet(
            r#"{"stages": [{"duration": 20, "devices": 3}],
                "events": [{"at": 3, "offline": 5, "devices": "2-3"}]}"#,
            "connection=per-device&interval=1&anomaly_mode=off",
        );
        let mut broker = Broker::new();
        let up = play(&mut fleet, &mut broker, 30_000);
        assert_eq!(&up[..3], [3, 3, 3]);
        assert_eq!(
            &up[3..8],
            [1; 5],
            "devices 2 and 3 are offline from 3 s to 8 s"
        );
        assert_eq!(&up[8..20], [3; 12]);
        let counters: Vec<Counters> = fleet.connections().iter().map(Device::counters).collect();
        assert_eq!(
            counters.iter().map(|c| c.reconnects).collect::<Vec<_>>(),
            [0, 1, 1]
        );
        // Every sample came through: 20 each, sequences complete, none dropped.
        for (device, samples) in by_device(&fleet) {
            let sequences: Vec<u64> = samples.iter().map(|s| s.1).collect();
            assert_eq!(sequences, (1..=20).collect::<Vec<u64>>(), "{device}");
        }
        let acked: Vec<u64> = counters.iter().map(|c| c.acked).collect();
        assert_eq!(acked, [20, 20, 20]);
        let mut by_device = broker.sequences();
        for sequences in by_device.values_mut() {
            sequences.sort_unstable();
            sequences.dedup();
            assert_eq!(*sequences, (1..=20).collect::<Vec<u64>>());
        }
        // Only the end said DISCONNECT: the outage was a network lost, not a goodbye.
        assert_eq!(broker.disconnects, BTreeMap::from([(0, 1), (1, 1), (2, 1)]));
    }

    #[test]
    fn a_front_moves_every_sensors_air_by_its_change_unlabelled() {
        let stages = r#""stages": [{"duration": 60, "devices": 2}]"#;
        let with = format!(
            r#"{{{stages}, "events": [{{"at": 10, "weather": "front", "change_hpa": -6, "over": 20}}]}}"#
        );
        let pressures = |scenario: &str| {
            let mut fleet = scenario_fleet(
                scenario,
                "connection=shared&interval=1&anomaly_mode=off&profile=realistic",
            );
            let mut broker = Broker::new();
            play(&mut fleet, &mut broker, 70_000);
            let mut out = vec![];
            for line in fleet.export_jsonl().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["anomaly"], false, "a front is weather, not an anomaly");
                out.push(v["data"]["pressure"].as_f64().unwrap());
            }
            out
        };
        let moved = pressures(&with);
        let still = pressures(&format!("{{{stages}}}"));
        assert_eq!(moved.len(), 120);
        for (k, (a, b)) in moved.iter().zip(&still).enumerate() {
            // Device 2 samples half a second after device 1.
            let ms = (k % 60) * 1000 + (k / 60) * 500;
            let change = a - b;
            if ms <= 10_000 {
                assert_eq!(change, 0.0, "before the front, sample {k}");
            } else if ms >= 30_000 {
                assert!(
                    (change + 6.0).abs() < 1e-6,
                    "after the front, sample {k}: {change}"
                );
            } else {
                assert!(
                    change < 0.0 && change > -6.0,
                    "during the front, sample {k}: {change}"
                );
            }
        }
    }

    #[test]
    fn stop_ends_a_scenario_early_and_a_new_start_plays_it_again() {
        let mut fleet = scenario_fleet(
            r#"{"stages": [{"duration": 5, "devices": 1}, {"duration": 5, "devices": 3, "ramp": 4}]}"#,
            "connection=per-device&interval=1&anomaly_mode=off",
        );
        let mut broker = Broker::new();
        fleet.start(at(0));
        broker.serve(&mut fleet, at(0), usize::MAX);
        run(&mut fleet, &mut broker, 0, 3_000, usize::MAX);
        assert_eq!(
            fleet.stage(at(3_000)).map(|s| (s.index, s.devices)),
            Some((0, 1))
        );
        fleet.stop(at(3_000));
        broker.serve(&mut fleet, at(3_000), usize::MAX);
        run(&mut fleet, &mut broker, 3_000, 20_000, usize::MAX);
        assert!(!fleet.is_active(), "no stage starts after Stop");
        assert_eq!(fleet.connected().0, 0);
        assert!(
            !fleet.stop_if_finished(at(20_000)),
            "stopped by hand, not ended"
        );
        assert!(!fleet.scenario_ended(), "stopped, not played to its end");
        assert_eq!(
            fleet.stage(at(20_000)).map(|s| s.elapsed_ms),
            Some(3_000),
            "the stage stays where Stop left it"
        );
        // Started again: the scenario from its beginning, sequences from 1.
        let up = play_from(&mut fleet, &mut broker, 20_000, 30_000);
        assert_eq!(up[..10], [1, 1, 1, 1, 1, 1, 1, 2, 2, 3]);
        assert_eq!(by_device(&fleet)["lab-1"][0].1, 1);
    }

    #[test]
    fn a_device_that_joins_during_its_outage_joins_offline_and_the_longer_outage_holds() {
        let mut fleet = scenario_fleet(
            r#"{"stages": [{"duration": 4, "devices": 1}, {"duration": 16, "devices": 3}],
                "events": [{"at": 2, "offline": 6, "devices": [3]},
                           {"at": 1, "offline": 8, "devices": [1]},
                           {"at": 3, "offline": 1, "devices": [1]}]}"#,
            "connection=per-device&interval=1&anomaly_mode=off",
        );
        let mut broker = Broker::new();
        let up = play(&mut fleet, &mut broker, 30_000);
        // Device 1 offline from 1 s to 9 s (the short outage inside the long one does not
        // end it); device 3 joins at 4 s into its outage, up at 8 s; device 2 up from 4 s.
        assert_eq!(&up[..12], [1, 0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3]);
        for (device, samples) in by_device(&fleet) {
            let sequences: Vec<u64> = samples.iter().map(|s| s.1).collect();
            let expected = if device == "lab-1" { 20 } else { 16 };
            assert_eq!(sequences, (1..=expected).collect::<Vec<u64>>(), "{device}");
        }
        assert_eq!(fleet.totals().dropped, 0, "nothing lost");
    }

    #[test]
    fn the_shards_of_a_scenario_together_play_the_whole_fleets_scenario() {
        // Device 4 joins at 2.5 s and goes offline at 3 s; 5 and 6 join during the outage
        // (offline); all are back at 5 s, a second before the stage that lets them go.
        let settings = scenario_settings(
            r#"{"stages": [{"duration": 6, "devices": 6, "ramp": 5},
                           {"duration": 6, "devices": 3, "interval": 0.5}],
                "events": [{"at": 2, "anomaly": "step", "devices": [2, 5]},
                           {"at": 3, "offline": 2, "devices": "4-6"},
                           {"at": 3, "anomaly": "spike", "devices": "4-6"},
                           {"at": 7, "anomaly": "drift", "devices": "all"}]}"#,
            "connection=per-device&interval=1&anomaly_mode=off",
        );
        let lines = |fleet: &Fleet| -> Vec<String> {
            fleet.export_jsonl().lines().map(str::to_owned).collect()
        };
        let mut whole = Fleet::new(settings.clone(), 1);
        play(&mut whole, &mut Broker::new(), 20_000);
        let mut expected = lines(&whole);
        expected.sort();
        assert!(expected.len() > 40, "{}", expected.len());
        assert_eq!(whole.totals().dropped, 0);
        assert!(
            expected
                .iter()
                .any(|l| l.contains("\"lab-6\"") && l.contains("spike"))
        );
        for count in [2, 3, 6] {
            let mut joined = vec![];
            for index in 0..count {
                let mut shard = Fleet::shard(settings.clone(), 1, Shard { index, count });
                play(&mut shard, &mut Broker::new(), 20_000);
                assert!(shard.scenario_ended(), "{index} of {count}");
                joined.extend(lines(&shard));
            }
            joined.sort();
            assert_eq!(joined, expected, "{count} shards");
        }
    }
}
