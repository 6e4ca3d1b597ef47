//! `--latency`: the core's latency subscriber ([`dps368_core::latency`]) on a connection of
//! its own, with the `hdrhistogram` crate's histograms (3 significant digits: a value is
//! reported within 0.1 % of what was recorded, from 1 µs to an hour; longer waits count as an
//! hour). This file is the edge: it opens the subscriber's socket, carries out what its link
//! asks, and stamps the bytes with the time they were read.

use std::collections::VecDeque;
use std::time::Instant;

use dps368_core::device::Time;
use dps368_core::latency::{self, Histogram, Probe};
use dps368_core::link::Action;
use dps368_core::settings::Settings;
use tokio::sync::mpsc;

use crate::net::{Connection, Io, Target};

pub use dps368_core::latency::{Counts, Summary, lost_words, millis};

/// The connection index the subscriber's socket reports under (the fleet's are 0..n).
pub const SUBSCRIBER: usize = usize::MAX;

/// An HdrHistogram of µs.
#[derive(Clone)]
pub struct Hdr(hdrhistogram::Histogram<u64>);

impl Histogram for Hdr {
    fn empty() -> Self {
        Self(
            hdrhistogram::Histogram::new_with_bounds(1, latency::histogram::HIGHEST_US, 3)
                .expect("valid HdrHistogram bounds"),
        )
    }

    fn record(&mut self, us: u64) {
        self.0.saturating_record(us);
    }

    fn add(&mut self, other: &Self) {
        // Same bounds: never fails.
        let _ = self.0.add(&other.0);
    }

    fn value_at_quantile(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }

    fn count(&self) -> u64 {
        self.0.len()
    }
}

/// The subscriber and its socket.
pub struct Subscriber {
    core: latency::Subscriber<Hdr>,
    target: Target,
    connection: Option<Connection>,
    generation: u64,
    /// The clock's start, for receive times in µs.
    epoch: Instant,
    /// What its socket said.
    log: VecDeque<String>,
}

impl Subscriber {
    /// Subscribes to `fleet`'s topics on its own connection to the settings' broker.
    pub fn new(
        settings: &Settings,
        target: Target,
        fleet: &dps368_core::fleet::Fleet,
        epoch: Instant,
        now: Time,
    ) -> Self {
        let client_id = format!("dps368-lat-{:08x}", crate::args::random_u64() as u32);
        Self {
            core: latency::Subscriber::for_fleet(
                settings,
                fleet,
                client_id,
                crate::args::random_u64(),
                now,
            ),
            target,
            connection: None,
            generation: 0,
            epoch,
            log: VecDeque::new(),
        }
    }

    pub fn probe(&self) -> &Probe<Hdr> {
        &self.core.probe
    }

    pub fn probe_mut(&mut self) -> &mut Probe<Hdr> {
        &mut self.core.probe
    }

    pub fn ready(&self) -> bool {
        self.core.ready()
    }

    pub fn take_refused(&mut self) -> Option<String> {
        self.core.take_refused()
    }

    pub fn poll_log(&mut self) -> Option<String> {
        self.log.pop_front().or_else(|| self.core.poll_log())
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.core.poll_timeout()
    }

    pub fn down(&self, now: Time) -> (u64, u64) {
        self.core.down(now)
    }

    pub fn on_timer(&mut self, now: Time, io: &mpsc::UnboundedSender<Io>) {
        self.core.on_timer(now);
        self.act(io);
    }

    /// Carries out what the link wants done now (its first connection, after `new`).
    pub fn act(&mut self, io: &mpsc::UnboundedSender<Io>) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Open { .. } => {
                    self.generation += 1;
                    self.connection = Some(Connection::open(
                        self.target.clone(),
                        SUBSCRIBER,
                        self.generation,
                        io.clone(),
                    ));
                }
                Action::Send(bytes) => {
                    if let Some(c) = &self.connection {
                        c.send(bytes);
                    }
                }
                Action::Close => {
                    if let Some(c) = self.connection.take() {
                        drop(c.close());
                    }
                }
            }
        }
    }

    /// What its socket did.
    pub fn on_io(&mut self, report: Io, now: Time, io: &mpsc::UnboundedSender<Io>) {
        let current = |g: u64| self.connection.as_ref().is_some_and(|c| c.generation == g);
        match report {
            Io::Opened { generation, .. } if current(generation) => self.core.on_open(now),
            Io::Bytes {
                generation,
                bytes,
                at,
                ..
            } if current(generation) => {
                let received_us = at.saturating_duration_since(self.epoch).as_micros() as u64;
                self.core.on_bytes(&bytes, received_us, now);
            }
            Io::Text { generation, .. } if current(generation) => self.core.on_text_frame(now),
            Io::Closed {
                generation, error, ..
            } if current(generation) => {
                // Until subscribed the link says why it cannot connect (see the core).
                if let Some(error) = error.filter(|_| self.core.ready()) {
                    self.log.push_back(format!("latency subscriber: {error}"));
                }
                self.connection = None;
                self.core.on_closed(now);
            }
            _ => {}
        }
        self.act(io);
    }

    /// Says goodbye (DISCONNECT): the connection's task, to wait for, and the probe.
    pub fn close(mut self, now: Time) -> (Option<tokio::task::JoinHandle<()>>, Probe<Hdr>) {
        self.core.close(now);
        while let Some(action) = self.core.poll_action() {
            if let (Action::Send(bytes), Some(c)) = (action, &self.connection) {
                c.send(bytes);
            }
        }
        (
            self.connection.take().map(Connection::close),
            self.core.probe,
        )
    }
}
