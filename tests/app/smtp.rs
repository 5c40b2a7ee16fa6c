//! A small SMTP server for tests: accepts every message on a real TCP port
//! and keeps it, so tests read what countersign sent and follow its links.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Default)]
pub struct Inbox {
    messages: Arc<Mutex<Vec<String>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Inbox {
    pub fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// How many connections clients have opened.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The `Message-ID` of every message received, in order (repeats kept).
    pub fn message_ids(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("Message-ID: "))
                    .map(|id| id.trim().to_string())
            })
            .collect()
    }

    /// Waits (up to `within`) until messages with `count` different
    /// `Message-ID`s arrived; returns how many have arrived.
    pub async fn wait_for_distinct(&self, count: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let mut ids = self.message_ids();
            ids.sort();
            ids.dedup();
            if ids.len() >= count || Instant::now() > deadline {
                return ids.len();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits (up to 10 s) until `count` messages matching `filter` arrived.
    pub async fn wait_for(&self, count: usize, filter: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<String> = self
                .all()
                .into_iter()
                .map(|m| decode(&m))
                .filter(|m| filter(m))
                .collect();
            if found.len() >= count || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Undoes quoted-printable soft breaks and escapes, enough to read links.
pub fn decode(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first link in a message whose path starts with `prefix`.
pub fn link(message: &str, prefix: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .find(|w| w.starts_with("http") && w.contains(prefix))
        .map(|w| w.trim_end_matches(['.', ',']).replace("&amp;", "&"))
}

/// Serves SMTP on `listener` until the test ends.
pub fn serve(listener: std::net::TcpListener) -> Inbox {
    serve_slowly(listener, Duration::ZERO)
}

/// Like `serve`, taking `each` to accept each message (a mail server
/// under load), so that messages are in flight when the test acts.
pub fn serve_slowly(listener: std::net::TcpListener, each: Duration) -> Inbox {
    listener.set_nonblocking(true).unwrap();
    let listener = TcpListener::from_std(listener).unwrap();
    let inbox = Inbox::default();
    let keep = inbox.clone();
    actix_web::rt::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.connections
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let keep = keep.clone();
            actix_web::rt::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 test.invalid ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            if !each.is_zero() {
                                tokio::time::sleep(each).await;
                            }
                            keep.messages.lock().unwrap().push(std::mem::take(body));
                            data = None;
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            body.push_str(line.strip_prefix('.').unwrap_or(&line));
                            body.push_str("\r\n");
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-test.invalid\r\n250 8BITMIME\r\n",
                        "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"502 not here\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    inbox
}
