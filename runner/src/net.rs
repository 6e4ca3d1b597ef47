//! One connection per fleet connection, over TCP (`mqtt://`) or a WebSocket (`ws://`,
//! subprotocol `mqtt`, binary frames [MQTT-6.0.0-1] [MQTT-6.0.0-3]), either of them in TLS
//! (`mqtts://`, `wss://`): a task that connects, then writes what the fleet sends while a second
//! task reads into the runner's channel, until either side closes.
//! Dropping a [`Connection`] (or [`Connection::close`]) ends it gracefully: what was sent before
//! (a DISCONNECT) is written, the write side is shut, and what the broker still sends is read
//! (at most [`LINGER`]) so that the socket closes without a reset that could lose those bytes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::tls::Tls;

/// Where a connection goes.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port`, MQTT over TCP, in TLS for `mqtts://`.
    Tcp { address: String, tls: Option<Tls> },
    /// A `ws://` or `wss://` URL (the latter in TLS), MQTT over a WebSocket to `host:port`.
    WebSocket {
        url: String,
        address: String,
        tls: Option<Tls>,
    },
}

/// Debug shows a WebSocket URL without its query: a signed URL carries a credential there.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp { address, tls } => f
                .debug_struct("Tcp")
                .field("address", address)
                .field("tls", tls)
                .finish(),
            Target::WebSocket { url, address, tls } => f
                .debug_struct("WebSocket")
                .field("url", &dps368_core::settings::shown_url(url))
                .field("address", address)
                .field("tls", tls)
                .finish(),
        }
    }
}

impl Target {
    fn address(&self) -> &str {
        match self {
            Target::Tcp { address, .. } | Target::WebSocket { address, .. } => address,
        }
    }

    fn tls(&self) -> Option<&Tls> {
        match self {
            Target::Tcp { tls, .. } | Target::WebSocket { tls, .. } => tls.as_ref(),
        }
    }
}

/// How long a closing connection waits for the broker to close its side.
const LINGER: Duration = Duration::from_secs(2);

impl Io {
    /// The fleet connection it is about.
    pub fn index(&self) -> usize {
        match self {
            Io::Opened { index, .. }
            | Io::Bytes { index, .. }
            | Io::Text { index, .. }
            | Io::Closed { index, .. } => *index,
        }
    }
}

/// What a connection reports, tagged with its fleet connection and generation (a reconnect
/// opens a new generation; reports of an old one are ignored).
pub enum Io {
    Opened {
        index: usize,
        generation: u64,
    },
    Bytes {
        index: usize,
        generation: u64,
        bytes: Vec<u8>,
        /// When they were read (a latency probe's receive time).
        at: std::time::Instant,
    },
    /// A text frame, which MQTT never uses: a protocol error.
    Text {
        index: usize,
        generation: u64,
    },
    /// Ended; `error` says why when it never connected or a write failed.
    Closed {
        index: usize,
        generation: u64,
        error: Option<String>,
    },
}

pub struct Connection {
    pub generation: u64,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Connects to `target` in the background.
    pub fn open(
        target: Target,
        index: usize,
        generation: u64,
        io: mpsc::UnboundedSender<Io>,
    ) -> Self {
        let (outgoing, to_send) = mpsc::unbounded_channel::<Vec<u8>>();
        let report = Reporter {
            index,
            generation,
            io,
        };
        let task = tokio::spawn(run(target, report, to_send));
        Self {
            generation,
            outgoing,
            task,
        }
    }

    pub fn send(&self, bytes: Vec<u8>) {
        let _ = self.outgoing.send(bytes);
    }

    /// Ends the connection once what was sent is written; the task finishes then.
    pub fn close(self) -> JoinHandle<()> {
        self.task
    }
}

/// Tells the runner what one connection (of one generation) did.
#[derive(Clone)]
struct Reporter {
    index: usize,
    generation: u64,
    io: mpsc::UnboundedSender<Io>,
}

impl Reporter {
    fn opened(&self) {
        let (index, generation) = (self.index, self.generation);
        let _ = self.io.send(Io::Opened { index, generation });
    }

    fn bytes(&self, bytes: Vec<u8>) {
        let (index, generation) = (self.index, self.generation);
        let _ = self.io.send(Io::Bytes {
            index,
            generation,
            bytes,
            at: std::time::Instant::now(),
        });
    }

    fn text(&self) {
        let (index, generation) = (self.index, self.generation);
        let _ = self.io.send(Io::Text { index, generation });
    }

    fn closed(&self, error: Option<String>) {
        let (index, generation) = (self.index, self.generation);
        let _ = self.io.send(Io::Closed {
            index,
            generation,
            error,
        });
    }
}

/// Connects (TCP, then TLS when the target says so), then speaks MQTT over the stream or over a
/// WebSocket on it.
async fn run(target: Target, report: Reporter, mut to_send: mpsc::UnboundedReceiver<Vec<u8>>) {
    let address = target.address().to_owned();
    // Given up (closed) before it connects: the connection attempt is dropped.
    // (Nothing is sent before the fleet hears the socket opened.)
    let stream = tokio::select! {
        stream = TcpStream::connect(&address) => stream,
        None = to_send.recv() => return,
    };
    let stream = match stream {
        Ok(stream) => stream,
        Err(error) => {
            return report.closed(Some(format!("cannot connect to {address}: {error}")));
        }
    };
    // Nagle off: a PUBLISH goes out when it is made.
    let _ = stream.set_nodelay(true);
    let Some(tls) = target.tls() else {
        return speak(target, stream, report, to_send).await;
    };
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let handshake = tokio::select! {
        handshake = connector.connect(tls.server_name.clone(), stream) => handshake,
        None = to_send.recv() => return,
    };
    match handshake {
        Ok(stream) => speak(target, stream, report, to_send).await,
        Err(error) => report.closed(Some(format!("TLS with {address} failed: {error}"))),
    }
}

async fn speak<S>(
    target: Target,
    stream: S,
    report: Reporter,
    to_send: mpsc::UnboundedReceiver<Vec<u8>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match target {
        Target::Tcp { address, .. } => mqtt(stream, address, report, to_send).await,
        Target::WebSocket { url, .. } => websocket(stream, url, report, to_send).await,
    }
}

/// MQTT straight on the stream.
async fn mqtt<S>(
    stream: S,
    address: String,
    report: Reporter,
    mut to_send: mpsc::UnboundedReceiver<Vec<u8>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    report.opened();
    let (mut reader, mut writer) = tokio::io::split(stream);
    let reports = report.clone();
    let address_read = address.clone();
    let reading = tokio::spawn(async move {
        // PUBACKs and CONNACKs are small: 4 KiB a connection, not 64, for thousands.
        let mut buffer = vec![0u8; 4 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) => break,
                // A TLS alert says why the broker ended it (a client certificate it wanted).
                Err(error) => {
                    return reports
                        .closed(Some(format!("reading from {address_read} failed: {error}")));
                }
                Ok(n) => reports.bytes(buffer[..n].to_vec()),
            }
        }
        reports.closed(None);
    });
    // Writes until the fleet closes the connection (the channel ends) or a write fails.
    while let Some(bytes) = to_send.recv().await {
        if let Err(error) = writer.write_all(&bytes).await {
            report.closed(Some(format!("write to {address} failed: {error}")));
            break;
        }
    }
    let _ = writer.shutdown().await;
    linger(reading).await;
}

/// MQTT in binary WebSocket frames on the stream, after the WebSocket handshake.
async fn websocket<S>(
    stream: S,
    url: String,
    report: Reporter,
    mut to_send: mpsc::UnboundedReceiver<Vec<u8>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Reasons repeat the URL without its query: a signed URL carries a credential there.
    let shown = dps368_core::settings::shown_url(&url);
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(error) => return report.closed(Some(format!("{shown}: {error}"))),
    };
    // [MQTT-6.0.0-3] The subprotocol is "mqtt".
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let connected = tokio::select! {
        connected = tokio_tungstenite::client_async_with_config(request, stream, None) => connected,
        None = to_send.recv() => return,
    };
    let socket = match connected {
        Ok((socket, _)) => socket,
        Err(error) => return report.closed(Some(format!("cannot open {shown}: {error}"))),
    };
    report.opened();
    let (mut sink, mut stream) = socket.split();
    let reports = report.clone();
    let url_read = shown.clone();
    let reading = tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Binary(bytes)) => reports.bytes(bytes.to_vec()),
                Ok(Message::Text(_)) => reports.text(),
                Ok(Message::Close(_)) => break,
                Err(error) => {
                    return reports.closed(Some(format!("reading {url_read} failed: {error}")));
                }
                Ok(_) => {} // pings are answered by the library
            }
        }
        reports.closed(None);
    });
    while let Some(bytes) = to_send.recv().await {
        if let Err(error) = sink.send(Message::Binary(bytes.into())).await {
            report.closed(Some(format!("write to {shown} failed: {error}")));
            break;
        }
    }
    // A close frame, then what the broker still sends, as on TCP.
    let _ = sink.close().await;
    linger(reading).await;
}

/// Lets the reading task take what the broker still sends after our side closed, for at most
/// [`LINGER`], so the socket closes without a reset that could lose our last bytes.
async fn linger(mut reading: JoinHandle<()>) {
    if tokio::time::timeout(LINGER, &mut reading).await.is_err() {
        reading.abort();
    }
}
