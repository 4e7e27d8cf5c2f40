//! The archive's compression and encryption run on a thread of their own, fed and drained
//! through bounded channels: reading a store, hashing, compressing and writing the file overlap,
//! the async runtime never blocks on CPU work, and memory stays within the channels' bounds.

use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::{mpsc, oneshot};

use super::compression::{Compression, Finish, Source};
use super::crypt::{self, ArchiveKey, AGE_MAGIC};
use crate::error::{Error, Result};

/// Bytes gathered before they go to the thread, and how many batches may wait for it: more
/// than a streamed part, so a whole part can be handed over while the next one is read.
const BATCH: usize = 256 << 10;
const QUEUED_BATCHES: usize = 24;
/// Decompressed bytes per message, and messages waiting for the reader.
const CHUNK: usize = 256 << 10;
const QUEUED_CHUNKS: usize = 16;

enum Msg {
    Data(Bytes),
    Incompressible(bool),
    Finish,
}

/// The writing side: what is written goes to the thread, which compresses it, encrypts it when
/// there is a passphrase, and writes it to `file`.
pub(super) struct Compressor {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    pending: BytesMut,
    incompressible: bool,
}

impl Compressor {
    pub(super) fn start(file: std::fs::File, compression: Compression, key: &ArchiveKey) -> Self {
        let (tx, rx) = mpsc::channel(QUEUED_BATCHES);
        let passphrase = key.passphrase().cloned();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let thread = std::thread::spawn(move || {
            let out: Box<dyn Finish> = Box::new(io::BufWriter::with_capacity(1 << 20, file));
            let out = match &passphrase {
                Some(p) => crypt::encrypting(out, p)?,
                None => out,
            };
            drop(passphrase);
            compress(rx, compression.encoder(out, threads)?)
        });
        Self {
            tx: Some(tx),
            thread: Some(thread),
            pending: BytesMut::with_capacity(BATCH),
            incompressible: false,
        }
    }

    /// What follows is incompressible (or not, again): see `Finish::incompressible`.
    pub(super) async fn incompressible(&mut self, yes: bool) -> io::Result<()> {
        if yes == self.incompressible {
            return Ok(());
        }
        if !self.pending.is_empty() {
            self.send_pending().await?;
        }
        self.incompressible = yes;
        self.send(Msg::Incompressible(yes)).await
    }

    pub(super) async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = (BATCH - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.pending.len() >= BATCH {
                self.send_pending().await?;
            }
        }
        Ok(())
    }

    async fn send_pending(&mut self) -> io::Result<()> {
        let batch = self.pending.split().freeze();
        self.pending.reserve(BATCH);
        self.send(Msg::Data(batch)).await
    }

    async fn send(&mut self, msg: Msg) -> io::Result<()> {
        let tx = self.tx.as_ref().expect("open");
        if tx.send(msg).await.is_ok() {
            return Ok(());
        }
        // The thread stopped: its error says why.
        Err(self
            .join()
            .await
            .err()
            .unwrap_or_else(|| io::Error::other("the archive's compression stopped early")))
    }

    /// End the stream: the thread writes the trailers and syncs the file.
    pub(super) async fn finish(mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.send_pending().await?;
        }
        self.send(Msg::Finish).await?;
        self.join().await
    }

    async fn join(&mut self) -> io::Result<()> {
        self.tx = None;
        let Some(thread) = self.thread.take() else {
            return Err(io::Error::other("the archive's compression stopped early"));
        };
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("the archive's compression failed"))?
    }
}

fn compress(mut rx: mpsc::Receiver<Msg>, mut enc: Box<dyn Finish>) -> io::Result<()> {
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Data(b) => enc.write_all(&b)?,
            Msg::Incompressible(yes) => enc.incompressible(yes)?,
            Msg::Finish => return enc.finish(),
        }
    }
    // Abandoned (a failed or cancelled backup): the partial file is removed by its owner.
    Ok(())
}

/// The reading side: the archive decrypted and decompressed by the thread, read as a stream.
pub(super) struct Decompressed {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

/// What opening found: the stream, whether the file is encrypted, and its compression.
pub(super) type Opened = (Decompressed, bool, Compression);

/// Open `path` on the thread: the passphrase check and the compression's detection happen
/// before this returns, so their errors come from here.
pub(super) async fn open(path: &Path, key: &ArchiveKey) -> Result<Opened> {
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    let (opened, ready) = oneshot::channel();
    let (path, key) = (path.to_path_buf(), key.clone());
    std::thread::spawn(move || match prepare(&path, &key) {
        Ok((decoder, encrypted, compression)) => {
            if opened.send(Ok((encrypted, compression))).is_ok() {
                decompress(decoder, encrypted, &tx);
            }
        }
        Err(e) => {
            let _ = opened.send(Err(e));
        }
    });
    let (encrypted, compression) = ready
        .await
        .map_err(|_| Error::io("reading the archive", io::Error::other("reader stopped")))??;
    let stream = Decompressed {
        rx,
        current: Bytes::new(),
    };
    Ok((stream, encrypted, compression))
}

fn prepare(
    path: &PathBuf,
    key: &ArchiveKey,
) -> Result<(super::compression::Decoder, bool, Compression)> {
    let io = |e| Error::io(format!("cannot open {}", path.display()), e);
    let file = std::fs::File::open(path).map_err(io)?;
    let mut input: Source = Box::new(io::BufReader::with_capacity(1 << 20, file));
    let encrypted = input.fill_buf().map_err(io)?.starts_with(AGE_MAGIC);
    if encrypted {
        input = crypt::decrypting(path, input, key)?;
    }
    let head = input.fill_buf().map_err(|e| unreadable(path, e))?;
    let Some(compression) = Compression::sniff(head) else {
        return Err(Error::ArchiveRefused {
            path: path.clone(),
            reason: "it is not a valid gzip/tar archive (nor a zstd one)".into(),
        });
    };
    let decoder = compression.decoder(input).map_err(io)?;
    Ok((decoder, encrypted, compression))
}

/// The first decrypted bytes could not be read: an altered or cut-off encrypted archive is
/// refused as such, like any later block of it.
fn unreadable(path: &Path, e: io::Error) -> Error {
    let refused = |reason: String| Error::ArchiveRefused {
        path: path.to_path_buf(),
        reason,
    };
    if crypt::is_altered(&e) {
        refused(crypt::Altered.to_string())
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        refused("it is truncated".into())
    } else {
        Error::io(format!("cannot read {}", path.display()), e)
    }
}

/// Decompress to the end, then drain an encrypted stream to its last chunk so its end is
/// authenticated too. Stops when the reader is dropped.
fn decompress(
    mut decoder: super::compression::Decoder,
    encrypted: bool,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) {
    let mut buf = BytesMut::new();
    loop {
        buf.resize(CHUNK, 0);
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(buf.split().freeze())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
    if encrypted {
        if let Err(e) = io::copy(&mut decoder.into_source(), &mut io::sink()) {
            let _ = tx.blocking_send(Err(e));
        }
    }
}

impl AsyncRead for Decompressed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.current.is_empty() {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => self.current = b,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.current.len().min(out.remaining());
        out.put_slice(&self.current.split_to(n));
        Poll::Ready(Ok(()))
    }
}
