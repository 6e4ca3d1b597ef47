//! One TCP connection per fleet connection: a task that connects, then reads into the runner's
//! channel and writes what the fleet sends, until either side closes. Dropping a [`Connection`]
//! ends it gracefully: what was sent before (a DISCONNECT) is written, then the socket closes.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
    Closed {
        index: usize,
        generation: u64,
    },
}

pub struct Connection {
    pub generation: u64,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Connects to `address` (`host:port`) in the background.
    pub fn open(
        address: String,
        index: usize,
        generation: u64,
        io: mpsc::UnboundedSender<Io>,
    ) -> Self {
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<Vec<u8>>();
        let task = tokio::spawn(async move {
            let stream = match TcpStream::connect(&address).await {
                Ok(stream) => stream,
                Err(_) => {
                    let _ = io.send(Io::Closed { index, generation });
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let _ = io.send(Io::Opened { index, generation });
            let (mut reader, mut writer) = stream.into_split();
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                tokio::select! {
                    read = reader.read(&mut buffer) => match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let _ = io.send(Io::Bytes { index, generation, bytes: buffer[..n].to_vec() });
                        }
                    },
                    bytes = to_send.recv() => match bytes {
                        Some(bytes) => {
                            if writer.write_all(&bytes).await.is_err() {
                                break;
                            }
                        }
                        None => return,
                    },
                }
            }
            let _ = io.send(Io::Closed { index, generation });
        });
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
