//! A TCP proxy in front of a real S3 server that injects the transient faults a busy store
//! shows: the first connections are answered `503 SlowDown` (with S3's XML error body), and
//! the first object GETs after those are cut off halfway through the body. Every other
//! connection is relayed untouched. A faulty connection is closed after its one answer, so
//! the client must open a new one (and retry).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Faults left to inject, and how many were.
#[derive(Default)]
pub struct Plan {
    pub slowdowns: AtomicUsize,
    pub cut_gets: AtomicUsize,
    pub injected: AtomicUsize,
}

pub struct FaultProxy {
    pub endpoint: String,
    pub plan: Arc<Plan>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listen on a free loopback port, relaying to `upstream` (`host:port`).
    pub async fn start(upstream: &str, slowdowns: usize, cut_gets: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let plan = Arc::new(Plan::default());
        plan.slowdowns.store(slowdowns, Ordering::SeqCst);
        plan.cut_gets.store(cut_gets, Ordering::SeqCst);
        let (p, up) = (plan.clone(), upstream.to_string());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (p, up) = (p.clone(), up.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &up, &p).await;
                });
            }
        });
        Self {
            endpoint,
            plan,
            task,
        }
    }

    pub fn injected(&self) -> usize {
        self.plan.injected.load(Ordering::SeqCst)
    }
}

fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

async fn serve(mut client: TcpStream, upstream: &str, plan: &Plan) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    let text = String::from_utf8_lossy(&head).to_string();
    if take(&plan.slowdowns) {
        plan.injected.fetch_add(1, Ordering::SeqCst);
        skip_body(&mut client, &text, rest.len()).await?;
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                    <Message>Please reduce your request rate.</Message></Error>";
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        return client.write_all(answer.as_bytes()).await;
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&head).await?;
    server.write_all(&rest).await?;
    let object_get = text.starts_with("GET ") && !text.contains("list-type");
    if object_get && take(&plan.cut_gets) {
        plan.injected.fetch_add(1, Ordering::SeqCst);
        return cut_answer(&mut server, &mut client).await;
    }
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// Relay the answer's head and half its body, then close both sides.
async fn cut_answer(server: &mut TcpStream, client: &mut TcpStream) -> std::io::Result<()> {
    let (head, rest) = read_head(server).await?;
    let text = String::from_utf8_lossy(&head).to_lowercase();
    let len = content_length(&text);
    client.write_all(&head).await?;
    let half = (len / 2).min(rest.len());
    client.write_all(&rest[..half]).await?;
    let mut left = len / 2 - half;
    let mut buf = vec![0u8; 64 << 10];
    while left > 0 {
        let n = server.read(&mut buf[..left.min(64 << 10)]).await?;
        if n == 0 {
            break;
        }
        client.write_all(&buf[..n]).await?;
        left -= n;
    }
    client.flush().await?;
    Ok(())
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Read up to the end of an HTTP head; returns the head and whatever followed it.
async fn read_head(s: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok((buf, rest));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Read and drop the request's body (so the client sees the answer, not a reset).
async fn skip_body(s: &mut TcpStream, head: &str, have: usize) -> std::io::Result<()> {
    let mut left = content_length(head).saturating_sub(have);
    let mut buf = vec![0u8; 64 << 10];
    while left > 0 {
        let n = s.read(&mut buf[..left.min(64 << 10)]).await?;
        if n == 0 {
            break;
        }
        left -= n;
    }
    Ok(())
}
