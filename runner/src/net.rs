//! One connection per fleet connection, over TCP (`mqtt://`) or a WebSocket (`ws://`,
//! subprotocol `mqtt`, binary frames [MQTT-6.0.0-1] [MQTT-6.0.0-3]): a task that connects, then
//! writes what the fleet sends while a second task reads into the runner's channel, until either
//! side closes.
//! Dropping a [`Connection`] (or [`Connection::close`]) ends it gracefully: what was sent before
//! (a DISCONNECT) is written, the write side is shut, and what the broker still sends is read
//! (at most [`LINGER`]) so that the socket closes without a reset that could lose those bytes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port`, MQTT over TCP.
    Tcp(String),
    /// A `ws://` URL, MQTT over a WebSocket.
    WebSocket(String),
}

/// How long a closing connection waits for the broker to close its side.
const LINGER: Duration = Duration::from_secs(2);

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
        let task = match target {
            Target::Tcp(address) => tokio::spawn(tcp(address, index, generation, io, to_send)),
            Target::WebSocket(url) => tokio::spawn(websocket(url, index, generation, io, to_send)),
        };
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

async fn tcp(
    address: String,
    index: usize,
    generation: u64,
    io: mpsc::UnboundedSender<Io>,
    mut to_send: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let closed = |error: Option<String>| Io::Closed {
        index,
        generation,
        error,
    };
    // Given up (closed) before it connects: the connection attempt is dropped.
    let stream = tokio::select! {
        stream = TcpStream::connect(&address) => stream,
        // (Nothing is sent before the fleet hears the socket opened.)
        None = to_send.recv() => return,
    };
    let stream = match stream {
        Ok(stream) => stream,
        Err(error) => {
            let _ = io.send(closed(Some(format!(
                "cannot connect to {address}: {error}"
            ))));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let _ = io.send(Io::Opened { index, generation });
    let (mut reader, mut writer) = stream.into_split();
    let reports = io.clone();
    let reading = tokio::spawn(async move {
        // PUBACKs and CONNACKs are small: 4 KiB a connection, not 64, for thousands.
        let mut buffer = vec![0u8; 4 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let bytes = buffer[..n].to_vec();
                    let _ = reports.send(Io::Bytes {
                        index,
                        generation,
                        bytes,
                    });
                }
            }
        }
        let _ = reports.send(Io::Closed {
            index,
            generation,
            error: None,
        });
    });
    // Writes until the fleet closes the connection (the channel ends) or a write fails.
    while let Some(bytes) = to_send.recv().await {
        if let Err(error) = writer.write_all(&bytes).await {
            let _ = io.send(closed(Some(format!("write to {address} failed: {error}"))));
            break;
        }
    }
    let _ = writer.shutdown().await;
    linger(reading).await;
}

async fn websocket(
    url: String,
    index: usize,
    generation: u64,
    io: mpsc::UnboundedSender<Io>,
    mut to_send: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let closed = |error: Option<String>| Io::Closed {
        index,
        generation,
        error,
    };
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(error) => {
            let _ = io.send(closed(Some(format!("{url}: {error}"))));
            return;
        }
    };
    // [MQTT-6.0.0-3] The subprotocol is "mqtt".
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let connected = tokio::select! {
        // Nagle off, as on TCP: a PUBLISH goes out when it is made.
        connected = tokio_tungstenite::connect_async_with_config(request, None, true) => connected,
        // (Nothing is sent before the fleet hears the socket opened.)
        None = to_send.recv() => return,
    };
    let socket = match connected {
        Ok((socket, _)) => socket,
        Err(error) => {
            let _ = io.send(closed(Some(format!("cannot open {url}: {error}"))));
            return;
        }
    };
    let _ = io.send(Io::Opened { index, generation });
    let (mut sink, mut stream) = socket.split();
    let reports = io.clone();
    let url_read = url.clone();
    let reading = tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Binary(bytes)) => {
                    let _ = reports.send(Io::Bytes {
                        index,
                        generation,
                        bytes: bytes.to_vec(),
                    });
                }
                Ok(Message::Text(_)) => {
                    let _ = reports.send(Io::Text { index, generation });
                }
                Ok(Message::Close(_)) => break,
                Err(error) => {
                    let _ = reports.send(Io::Closed {
                        index,
                        generation,
                        error: Some(format!("reading {url_read} failed: {error}")),
                    });
                    return;
                }
                Ok(_) => {} // pings are answered by the library
            }
        }
        let _ = reports.send(Io::Closed {
            index,
            generation,
            error: None,
        });
    });
    while let Some(bytes) = to_send.recv().await {
        if let Err(error) = sink.send(Message::Binary(bytes.into())).await {
            let _ = io.send(closed(Some(format!("write to {url} failed: {error}"))));
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
