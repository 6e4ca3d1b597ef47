//! The MQTT client session as a sans-IO state machine.
//!
//! Bytes and the time go in ([`Session::handle_input`], [`Session::handle_timeout`]); bytes to
//! send, events, and the next time it wants to be woken come out ([`Session::poll_transmit`],
//! [`Session::poll_event`], [`Session::poll_timeout`]). It never reads a clock or touches a
//! socket, so tests drive it against a scripted broker on a fake clock. Times are milliseconds
//! on any monotonic clock.
//!
//! A session outlives its connections: unacknowledged QoS 1 PUBLISHes stay in flight when a
//! connection ends, and go out again first, with their packet ids and DUP set, after the next
//! CONNACK [MQTT-4.4.0-1] (after any SUBSCRIBE the CONNACK calls for). Its subscriptions
//! outlive them too: after a CONNACK without a session they are asked for again.

use std::collections::VecDeque;
use std::fmt;

use crate::mqtt::{
    ConnAck, Connect, ConnectReturnCode, DecodeError, Decoder, EncodeError, Granted, Incoming,
    LastWill, Packet, PacketId, Publish, QoS, QosPid, SubAck, Subscribe, Unsubscribe, always,
    redacted,
};

/// What the session needs to know to connect.
#[derive(Clone, PartialEq)]
pub struct SessionConfig {
    pub client_id: String,
    pub clean_session: bool,
    /// Seconds; 0 turns keep-alive off.
    pub keep_alive_s: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub will: Option<LastWill>,
    /// How long to wait for CONNACK after sending CONNECT.
    pub connect_timeout_ms: u64,
    /// The largest packet accepted from the broker.
    pub max_packet_size: usize,
    /// At most this many QoS 1 PUBLISHes wait for PUBACK at once (1 to 65535).
    pub max_in_flight: usize,
}

impl SessionConfig {
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            clean_session: true,
            keep_alive_s: 60,
            username: None,
            password: None,
            will: None,
            connect_timeout_ms: 10_000,
            max_packet_size: 1 << 20,
            max_in_flight: 32,
        }
    }
}

impl fmt::Debug for SessionConfig {
    /// Everything but the password, which shows only whether one is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("client_id", &self.client_id)
            .field("clean_session", &self.clean_session)
            .field("keep_alive_s", &self.keep_alive_s)
            .field("username", &self.username)
            .field("password", &redacted(self.password.is_some()))
            .field("will", &self.will)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("max_packet_size", &self.max_packet_size)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// Why the session ended. After any of these the transport must close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// We sent DISCONNECT.
    Disconnected,
    /// CONNACK refused the connection.
    Refused(ConnectReturnCode),
    /// The broker sent bytes that are not MQTT.
    Protocol(DecodeError),
    /// The broker sent a packet a client must never receive, or at the wrong time.
    UnexpectedPacket(&'static str),
    /// A PUBACK for a packet id that is not in flight.
    UnknownPacketId(u16),
    /// A SUBACK or UNSUBACK for a packet id that no SUBSCRIBE or UNSUBSCRIBE waits with.
    UnknownAck { packet: &'static str, pid: u16 },
    /// A SUBACK whose return codes do not match the SUBSCRIBE's filters one for one
    /// [MQTT-3.8.4-5].
    SubAckMismatch { asked: usize, answered: usize },
    /// No CONNACK within the connect timeout.
    ConnAckTimeout,
    /// No answer to PINGREQ within half the keep-alive period.
    KeepAliveTimeout,
    /// The transport closed underneath us.
    ConnectionLost,
    /// Our own CONNECT could not be encoded.
    InvalidConnect(EncodeError),
    /// The WebSocket carried a text frame; MQTT uses binary frames only [MQTT-6.0.0-1].
    TextFrame,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("disconnected"),
            Self::Refused(code) => f.write_str(code.message()),
            Self::Protocol(error) => write!(f, "protocol error: {error}"),
            Self::UnexpectedPacket(name) => write!(f, "protocol error: unexpected {name}"),
            Self::UnknownPacketId(pid) => {
                write!(f, "protocol error: PUBACK for unknown packet id {pid}")
            }
            Self::UnknownAck { packet, pid } => {
                write!(f, "protocol error: {packet} for unknown packet id {pid}")
            }
            Self::SubAckMismatch { asked, answered } => write!(
                f,
                "protocol error: SUBACK answers {answered} topic filter(s) of {asked}"
            ),
            Self::ConnAckTimeout => f.write_str("no CONNACK from broker"),
            Self::KeepAliveTimeout => f.write_str("broker stopped answering (keep-alive timeout)"),
            Self::ConnectionLost => f.write_str("connection lost"),
            Self::InvalidConnect(error) => write!(f, "cannot send CONNECT: {error}"),
            Self::TextFrame => f.write_str("protocol error: broker sent a text frame"),
        }
    }
}

/// What happened, for the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<T> {
    /// CONNACK accepted the connection; publishing may start. `redelivered` PUBLISHes left
    /// unacknowledged by earlier connections were sent again, with DUP set.
    Connected {
        session_present: bool,
        redelivered: usize,
    },
    /// The broker acknowledged the QoS 1 PUBLISH that was given `tag` by [`Session::publish`].
    Acked { id: PacketId, tag: T },
    /// A PINGREQ went out.
    PingSent,
    /// The broker answered a SUBSCRIBE: each filter with what it granted (a refusal is
    /// [`Granted::Failure`]).
    Subscribed(Vec<(String, Granted)>),
    /// The broker confirmed an UNSUBSCRIBE of these filters.
    Unsubscribed(Vec<String>),
    /// A message on a subscribed topic (a QoS 1 one was acknowledged; after a reconnect it may
    /// come again: at least once).
    Message(Publish),
    /// A message over the size limit, skipped (and acknowledged at QoS 1): its topic and size.
    Skipped { topic: String, size: usize },
    /// The session is over; the connection must be closed.
    Closed(CloseReason),
}

/// A SUBSCRIBE or UNSUBSCRIBE asked for and not yet answered: `pid` once sent on the current
/// connection, `None` while it waits to be sent.
#[derive(Debug, Clone)]
struct Pending {
    pid: Option<PacketId>,
    request: Request,
}

#[derive(Debug, Clone)]
enum Request {
    Subscribe(Vec<(String, QoS)>),
    Unsubscribe(Vec<String>),
}

/// Why a PUBLISH was not accepted. Nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishError {
    /// Before CONNACK 0, or after the connection ended.
    NotConnected,
    /// `max_in_flight` PUBLISHes already wait for PUBACK.
    WindowFull,
    /// The PUBLISH cannot be written: a topic over 65,535 bytes, or a packet over 256 MB.
    Unencodable,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConnected => f.write_str("not connected"),
            Self::WindowFull => f.write_str("the in-flight window is full"),
            Self::Unencodable => f.write_str("the message is too large for MQTT"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No connection: before the transport opens, or after one ended.
    Disconnected,
    AwaitingConnAck {
        deadline: u64,
    },
    Connected,
}

/// An unacknowledged QoS 1 PUBLISH and the caller's tag for it.
#[derive(Debug)]
struct InFlight<T> {
    publish: Publish,
    tag: T,
}

/// One MQTT client session. `T` is what its owner tags each QoS 1 PUBLISH with (which sample
/// or label it carries, say): [`Event::Acked`] hands it back with the PUBACK.
pub struct Session<T> {
    config: SessionConfig,
    state: State,
    decoder: Decoder,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event<T>>,
    /// Unacknowledged QoS 1 PUBLISHes in the order they were first sent, indexed by packet id:
    /// slot `i` holds packet id `head_pid + i` (ids are handed out consecutively), and an
    /// acknowledged slot is `None` until the slots before it are acknowledged too. So a PUBACK
    /// finds its message in constant time, and redelivery goes oldest first.
    in_flight: VecDeque<Option<InFlight<T>>>,
    /// The packet id of `in_flight[0]`; when empty, the id the next PUBLISH takes.
    head_pid: PacketId,
    /// How many slots of `in_flight` are `Some`.
    unacked: usize,
    last_sent: u64,
    last_received: u64,
    /// Set while a PINGREQ waits for an answer.
    ping_deadline: Option<u64>,
    /// The topic filters asked for, in order, each once: renewed after a CONNACK without a
    /// session.
    subscriptions: Vec<(String, QoS)>,
    /// SUBSCRIBEs and UNSUBSCRIBEs asked for and not yet answered, in order.
    pending: Vec<Pending>,
}

impl<T> fmt::Debug for Session<T> {
    /// State and counts only: the bytes waiting to go out may be a CONNECT with the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("in_flight", &self.unacked)
            .field("transmits", &self.transmits.len())
            .field("events", &self.events.len())
            .finish()
    }
}

impl<T> Session<T> {
    pub fn new(config: SessionConfig) -> Self {
        let max_packet_size = config.max_packet_size;
        Self {
            config,
            state: State::Disconnected,
            decoder: Decoder::new(max_packet_size),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            in_flight: VecDeque::new(),
            head_pid: PacketId::MIN,
            unacked: 0,
            last_sent: 0,
            last_received: 0,
            ping_deadline: None,
            subscriptions: vec![],
            pending: vec![],
        }
    }

    /// A transport is open: send CONNECT, the first packet of every connection [MQTT-3.1.0-1].
    pub fn connect(&mut self, now: u64) {
        if self.state != State::Disconnected {
            return;
        }
        self.decoder.clear();
        self.ping_deadline = None;
        let connect = Connect {
            client_id: self.config.client_id.clone(),
            clean_session: self.config.clean_session,
            keep_alive: self.config.keep_alive_s,
            username: self.config.username.clone(),
            password: self.config.password.clone().map(String::into_bytes),
            will: self.config.will.clone(),
        };
        match Packet::Connect(connect).to_bytes() {
            Ok(bytes) => {
                self.send(bytes, now);
                self.last_received = now;
                self.state = State::AwaitingConnAck {
                    deadline: now + self.config.connect_timeout_ms,
                };
            }
            // Settings are validated before a session is made; should a field still be too long,
            // the session fails with the reason instead of the page panicking.
            Err(error) => self.close(CloseReason::InvalidConnect(error)),
        }
    }

    /// Bytes from the broker, in any framing.
    pub fn handle_input(&mut self, bytes: &[u8], now: u64) {
        if self.state == State::Disconnected {
            return;
        }
        self.decoder.push(bytes);
        loop {
            match self.decoder.next_incoming() {
                Ok(Some(Incoming::Oversized { publish, size })) => {
                    self.last_received = now;
                    self.ping_deadline = None;
                    if self.state != State::Connected {
                        return self.close(CloseReason::UnexpectedPacket("PUBLISH"));
                    }
                    // [MQTT-4.3.2-2] Acknowledged all the same, or the broker sends it again.
                    if let QosPid::AtLeastOnce(pid) = publish.qos_pid {
                        let bytes = always(Packet::PubAck(pid).to_bytes());
                        self.send(bytes, now);
                    }
                    self.events.push_back(Event::Skipped {
                        topic: publish.topic,
                        size,
                    });
                }
                Ok(Some(Incoming::Packet(packet))) => {
                    self.last_received = now;
                    self.ping_deadline = None;
                    self.handle_packet(packet, now);
                    if self.state == State::Disconnected {
                        return;
                    }
                }
                Ok(None) => return,
                Err(error) => return self.close(CloseReason::Protocol(error)),
            }
        }
    }

    fn handle_packet(&mut self, packet: Packet, now: u64) {
        match (self.state, packet) {
            (
                State::AwaitingConnAck { .. },
                Packet::ConnAck(ConnAck {
                    session_present,
                    code,
                }),
            ) => {
                if code == ConnectReturnCode::Accepted {
                    self.state = State::Connected;
                    self.renew_subscriptions(session_present, now);
                    let redelivered = self.redeliver(now);
                    self.events.push_back(Event::Connected {
                        session_present,
                        redelivered,
                    });
                } else {
                    self.close(CloseReason::Refused(code));
                }
            }
            // [MQTT-3.2.0-1] The first packet from the server must be CONNACK.
            (State::AwaitingConnAck { .. }, other) => {
                self.close(CloseReason::UnexpectedPacket(other.name()))
            }
            (State::Connected, Packet::PubAck(pid)) => match self.release(pid) {
                Some(tag) => self.events.push_back(Event::Acked { id: pid, tag }),
                None => self.close(CloseReason::UnknownPacketId(pid.get())),
            },
            (State::Connected, Packet::PingResp) => {}
            (State::Connected, Packet::Publish(publish)) => {
                // Acknowledged at once, so the broker does not send it again [MQTT-4.3.2-2]
                // (also a message from an old persistent subscription nobody asked for now).
                if let QosPid::AtLeastOnce(pid) = publish.qos_pid {
                    let bytes = always(Packet::PubAck(pid).to_bytes());
                    self.send(bytes, now);
                }
                self.events.push_back(Event::Message(publish));
            }
            (State::Connected, Packet::SubAck(SubAck { pid, granted })) => {
                match self.take_pending(pid) {
                    Some(Request::Subscribe(filters)) if filters.len() == granted.len() => {
                        let answered: Vec<(String, Granted)> =
                            filters.into_iter().map(|(f, _)| f).zip(granted).collect();
                        // A refused filter is not asked for again.
                        for (filter, granted) in &answered {
                            if *granted == Granted::Failure {
                                self.subscriptions.retain(|(f, _)| f != filter);
                            }
                        }
                        self.events.push_back(Event::Subscribed(answered));
                    }
                    // [MQTT-3.8.4-5] One return code per filter.
                    Some(Request::Subscribe(filters)) => self.close(CloseReason::SubAckMismatch {
                        asked: filters.len(),
                        answered: granted.len(),
                    }),
                    _ => self.close(CloseReason::UnknownAck {
                        packet: "SUBACK",
                        pid: pid.get(),
                    }),
                }
            }
            (State::Connected, Packet::UnsubAck(pid)) => match self.take_pending(pid) {
                Some(Request::Unsubscribe(filters)) => {
                    self.events.push_back(Event::Unsubscribed(filters))
                }
                _ => self.close(CloseReason::UnknownAck {
                    packet: "UNSUBACK",
                    pid: pid.get(),
                }),
            },
            (_, other) => self.close(CloseReason::UnexpectedPacket(other.name())),
        }
    }

    /// Sends every unacknowledged PUBLISH again, oldest first, with its packet id and DUP set
    /// [MQTT-4.4.0-1] [MQTT-3.3.1-1]. Done even when the broker kept no session
    /// (CleanSession = 1, or a broker restart): a duplicate is allowed at QoS 1, a loss is not.
    fn redeliver(&mut self, now: u64) -> usize {
        let mut frames = Vec::with_capacity(self.unacked);
        for InFlight { publish, .. } in self.in_flight.iter_mut().flatten() {
            publish.dup = true;
            frames.push(always(Packet::Publish(publish.clone()).to_bytes()));
        }
        let count = frames.len();
        for frame in frames {
            self.send(frame, now);
        }
        count
    }

    /// Subscribes to `filters` (each checked against the wildcard rules; nothing is kept if one
    /// breaks them). Sent now when connected, else after the next CONNACK; asked for again
    /// after any CONNACK without a session. [`Event::Subscribed`] gives the broker's answer;
    /// a filter it refuses is dropped.
    pub fn subscribe(&mut self, filters: &[(&str, QoS)], now: u64) -> Result<(), EncodeError> {
        let filters: Vec<(String, QoS)> =
            filters.iter().map(|(f, q)| ((*f).to_owned(), *q)).collect();
        // Checked by encoding, with any packet id, before anything is kept.
        Packet::Subscribe(Subscribe {
            pid: PacketId::MIN,
            filters: filters.clone(),
        })
        .to_bytes()?;
        for (filter, qos) in &filters {
            match self.subscriptions.iter_mut().find(|(f, _)| f == filter) {
                Some(kept) => kept.1 = *qos,
                None => self.subscriptions.push((filter.clone(), *qos)),
            }
        }
        self.request(Request::Subscribe(filters), now);
        Ok(())
    }

    /// Drops `filters`: forgotten at once, and an UNSUBSCRIBE sent now when connected, else
    /// after the next CONNACK that finds the session kept ([`Event::Unsubscribed`] when the
    /// broker confirms).
    pub fn unsubscribe(&mut self, filters: &[&str], now: u64) -> Result<(), EncodeError> {
        let filters: Vec<String> = filters.iter().map(|f| (*f).to_owned()).collect();
        Packet::Unsubscribe(Unsubscribe {
            pid: PacketId::MIN,
            filters: filters.clone(),
        })
        .to_bytes()?;
        self.subscriptions.retain(|(f, _)| !filters.contains(f));
        self.request(Request::Unsubscribe(filters), now);
        Ok(())
    }

    /// The topic filters subscribed to, in the order first asked for.
    pub fn subscriptions(&self) -> &[(String, QoS)] {
        &self.subscriptions
    }

    fn request(&mut self, request: Request, now: u64) {
        self.pending.push(Pending { pid: None, request });
        if self.state == State::Connected {
            self.send_requests(now);
        }
    }

    /// Sends every request not yet sent on this connection, in order, while packet ids last.
    fn send_requests(&mut self, now: u64) {
        for index in 0..self.pending.len() {
            if self.pending[index].pid.is_some() {
                continue;
            }
            let Some(pid) = self.control_pid() else {
                return;
            };
            let packet = match &self.pending[index].request {
                Request::Subscribe(filters) => Packet::Subscribe(Subscribe {
                    pid,
                    filters: filters.clone(),
                }),
                Request::Unsubscribe(filters) => Packet::Unsubscribe(Unsubscribe {
                    pid,
                    filters: filters.clone(),
                }),
            };
            self.pending[index].pid = Some(pid);
            self.send(always(packet.to_bytes()), now);
        }
    }

    /// After CONNACK. Without a session the broker forgot every subscription: each is asked for
    /// again, and what was owed an answer is moot. With one, every request the last connection
    /// left unanswered, or that was made meanwhile, goes (again) now.
    fn renew_subscriptions(&mut self, session_present: bool, now: u64) {
        if session_present {
            for pending in &mut self.pending {
                pending.pid = None;
            }
        } else {
            self.pending = self
                .subscriptions
                .iter()
                .map(|subscription| Pending {
                    pid: None,
                    request: Request::Subscribe(vec![subscription.clone()]),
                })
                .collect();
        }
        self.send_requests(now);
    }

    fn take_pending(&mut self, pid: PacketId) -> Option<Request> {
        let index = self.pending.iter().position(|p| p.pid == Some(pid))?;
        Some(self.pending.remove(index).request)
    }

    /// A packet id for a SUBSCRIBE or UNSUBSCRIBE, unused by any packet waiting for an answer
    /// [MQTT-2.3.1-2]: from the far side of the ring from the PUBLISHes in flight. A PUBLISH
    /// waits rather than take an id a SUBSCRIBE still holds (see `window_has_room`). `None`
    /// when every id is taken; the request then waits.
    fn control_pid(&self) -> Option<PacketId> {
        let mut pid = pid_after(self.head_pid, self.in_flight.len() + 32_768);
        for _ in 0..u16::MAX {
            let taken = self.pending.iter().any(|p| p.pid == Some(pid))
                || pid_offset(self.head_pid, pid) < self.in_flight.len();
            if !taken {
                return Some(pid);
            }
            pid = pid_after(pid, 1);
        }
        None
    }

    /// Whether [`Session::publish`] would take a message now.
    pub fn can_publish(&self) -> bool {
        self.state == State::Connected && self.window_has_room()
    }

    /// Fewer than `max_in_flight` unacknowledged, and the next packet id is free: it is unless
    /// a broker acknowledged 65,534 later messages but never the oldest, against the rule that
    /// PUBACKs come in order [MQTT-4.6.0-2]; then publishing waits for that one.
    fn window_has_room(&self) -> bool {
        let next = pid_after(self.head_pid, self.in_flight.len());
        self.unacked < self.max_in_flight()
            && self.in_flight.len() < usize::from(u16::MAX)
            && !self.pending.iter().any(|p| p.pid == Some(next))
    }

    fn max_in_flight(&self) -> usize {
        self.config.max_in_flight.clamp(1, usize::from(u16::MAX))
    }

    /// Publishes at QoS 1. The packet id is returned, and [`Event::Acked`] reports its PUBACK
    /// with `tag`, which the caller chooses (the device says which sample or label it is).
    pub fn publish(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        tag: T,
        now: u64,
    ) -> Result<PacketId, PublishError> {
        if self.state != State::Connected {
            return Err(PublishError::NotConnected);
        }
        if !self.window_has_room() {
            return Err(PublishError::WindowFull);
        }
        // Unique among unacknowledged PUBLISHes [MQTT-2.3.1-2]: ids run on from the oldest one
        // in flight, and fewer than 65,535 slots are in use.
        let pid = pid_after(self.head_pid, self.in_flight.len());
        let publish = Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(pid),
            retain: false,
            topic: topic.to_owned(),
            payload,
        };
        let bytes = Packet::Publish(publish.clone())
            .to_bytes()
            .map_err(|_| PublishError::Unencodable)?;
        self.send(bytes, now);
        self.in_flight.push_back(Some(InFlight { publish, tag }));
        self.unacked += 1;
        Ok(pid)
    }

    /// Removes the PUBLISH with packet id `pid` from those in flight, returning its tag, or
    /// `None` when no PUBLISH with that id waits for PUBACK. Constant time, amortised.
    fn release(&mut self, pid: PacketId) -> Option<T> {
        let offset = pid_offset(self.head_pid, pid);
        let released = self.in_flight.get_mut(offset)?.take()?;
        self.unacked -= 1;
        while let Some(None) = self.in_flight.front() {
            self.in_flight.pop_front();
            self.head_pid = pid_after(self.head_pid, 1);
        }
        Some(released.tag)
    }

    /// Gives up on every unacknowledged PUBLISH (the run is over): returns their tags, oldest
    /// first, and forgets them.
    pub fn abandon_in_flight(&mut self) -> Vec<T> {
        self.head_pid = pid_after(self.head_pid, self.in_flight.len());
        self.unacked = 0;
        let mut tags = Vec::new();
        while let Some(slot) = self.in_flight.pop_front() {
            if let Some(entry) = slot {
                tags.push(entry.tag);
            }
        }
        tags
    }

    /// Sends DISCONNECT (when connected) and ends the connection.
    pub fn disconnect(&mut self, now: u64) {
        if self.state == State::Connected {
            self.send(always(Packet::Disconnect.to_bytes()), now);
        }
        if self.state != State::Disconnected {
            self.close(CloseReason::Disconnected);
        }
    }

    /// Ends the connection for a reason found outside the MQTT byte stream (a text frame).
    pub fn abort(&mut self, reason: CloseReason) {
        if self.state != State::Disconnected {
            self.close(reason);
        }
    }

    /// The transport closed or failed.
    pub fn transport_closed(&mut self) {
        if self.state != State::Disconnected {
            self.close(CloseReason::ConnectionLost);
        }
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        match self.state {
            State::AwaitingConnAck { deadline } if now >= deadline => {
                self.close(CloseReason::ConnAckTimeout)
            }
            State::Connected => {
                if let Some(deadline) = self.ping_deadline {
                    if now >= deadline {
                        self.close(CloseReason::KeepAliveTimeout);
                    }
                } else if self.ping_due().is_some_and(|due| now >= due) {
                    self.send(always(Packet::PingReq.to_bytes()), now);
                    self.ping_deadline = Some(now + self.ping_timeout());
                    self.events.push_back(Event::PingSent);
                }
            }
            _ => {}
        }
    }

    /// When a PINGREQ is due: keep-alive after the last packet sent [MQTT-3.1.2-23], or after the
    /// last packet received, so that a broker that went silent while we publish is noticed too.
    fn ping_due(&self) -> Option<u64> {
        let keep_alive = self.keep_alive_ms()?;
        Some(self.last_sent.min(self.last_received) + keep_alive)
    }

    fn keep_alive_ms(&self) -> Option<u64> {
        (self.config.keep_alive_s > 0).then(|| u64::from(self.config.keep_alive_s) * 1000)
    }

    /// How long a PINGREQ may go unanswered: half the keep-alive, so that a silent broker is
    /// found within 1.5 x keep-alive.
    fn ping_timeout(&self) -> u64 {
        self.keep_alive_ms().unwrap_or(0) / 2
    }

    /// The next time [`Session::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::AwaitingConnAck { deadline } => Some(deadline),
            State::Connected => self.ping_deadline.or_else(|| self.ping_due()),
            State::Disconnected => None,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event<T>> {
        self.events.pop_front()
    }

    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// No connection: not yet connected, or the last one ended.
    pub fn is_disconnected(&self) -> bool {
        self.state == State::Disconnected
    }

    /// Unacknowledged QoS 1 PUBLISHes.
    pub fn in_flight(&self) -> usize {
        self.unacked
    }

    fn send(&mut self, bytes: Vec<u8>, now: u64) {
        self.last_sent = now;
        self.transmits.push_back(bytes);
    }

    fn close(&mut self, reason: CloseReason) {
        self.state = State::Disconnected;
        self.ping_deadline = None;
        self.decoder.clear();
        self.events.push_back(Event::Closed(reason));
    }
}

/// The packet id `n` after `pid`, in the cycle 1..=65535.
fn pid_after(pid: PacketId, n: usize) -> PacketId {
    let next = (u32::from(pid.get()) - 1 + (n % 65_535) as u32) % 65_535 + 1;
    PacketId::new(next as u16).expect("in 1..=65535")
}

/// How many ids after `head` the id `pid` comes, in the cycle 1..=65535.
fn pid_offset(head: PacketId, pid: PacketId) -> usize {
    ((u32::from(pid.get()) + 65_535 - u32::from(head.get())) % 65_535) as usize
}

#[cfg(test)]
mod tests;
