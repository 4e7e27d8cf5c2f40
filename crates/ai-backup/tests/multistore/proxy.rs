//! A TCP proxy in front of the S3 server that counts how many connections are open at once.
//! An HTTP client opens another connection only when every open one is busy, so the peak
//! shows how many requests were in flight together.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Proxy {
    /// Listen on a free local port and forward every connection to `target` ("host:port").
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (o, p, target) = (open.clone(), peak.clone(), target.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let o = o.clone();
                std::thread::spawn(move || {
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let up = std::thread::spawn(move || pipe(c2, s2));
                    pipe(server, client);
                    let _ = up.join();
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Proxy { addr, open, peak }
    }

    /// The most connections open at once since the last call; starts counting again.
    pub fn take_peak(&self) -> usize {
        self.peak
            .swap(self.open.load(Ordering::SeqCst), Ordering::SeqCst)
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
