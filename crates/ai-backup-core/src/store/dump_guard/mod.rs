//! A dump is data, never code: the guard between an archive's dump and the database client's
//! stdin. It reads the dump line by line with bounded memory (a line longer than `HEAD` bytes is
//! examined in pieces as it streams through), lets a scanner of the client's own input language
//! judge every byte before it is sent, and stops at the first thing the client would run outside
//! the staging database: a client-side command, a statement naming another database, a server
//! program. Nothing of a refused piece reaches the client; what was sent before it was checked.
//! Scanners may also rewrite a short line (ownership and definer clauses the load user cannot
//! carry out; the privileged user finishes them afterwards).

mod mysql;
mod psql;

#[cfg(test)]
mod tests;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(crate) use mysql::{Definer, MysqlScanner};
pub(crate) use psql::{OwnerChange, PsqlScanner};

use crate::error::Error;
use crate::progress::Cancel;
use crate::runner::{ToolCommand, ToolError, ToolRunner};

/// Bytes of a line examined (and rewritable) before any of it is sent.
const HEAD: usize = 64 * 1024;
/// How much checked text is collected before it is written on.
const FLUSH_AT: usize = 256 * 1024;
/// Characters of a refused line shown in the error.
const EXCERPT_CHARS: usize = 48;

/// Why a scanner stopped the dump (the pump adds where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub String);

impl Refusal {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Refusal(what.into())
    }
}

/// A scanner of one client's input language.
pub(crate) trait Scanner: Send {
    /// The first bytes of a line: the whole line (with its `\n`, if any) when `whole`. Returns
    /// the text to send instead, when the line is rewritten.
    fn start(&mut self, head: &[u8], whole: bool) -> Result<Option<Vec<u8>>, Refusal>;
    /// The rest of a long line, in pieces; the last one ends with `\n` unless the input ends.
    fn more(&mut self, piece: &[u8]) -> Result<(), Refusal>;
    /// End of the input.
    fn finish(&mut self) -> Result<(), Refusal>;
}

/// Where the pump is: the line being read and what has been checked but not yet sent.
struct Pump {
    line: u64,
    head: Vec<u8>,
    long: bool,
    out: Vec<u8>,
}

/// Copy `input` to `output` through `scanner`, line by line.
///
/// # Errors
/// `DumpRefused` with the line and a short excerpt when the scanner refuses; `Io` when a stream
/// fails. Output stops before the refused line.
pub(crate) async fn pump(
    input: &mut (dyn AsyncRead + Unpin + Send),
    output: &mut (dyn AsyncWrite + Unpin + Send),
    scanner: &mut dyn Scanner,
) -> Result<u64, Error> {
    let mut p = Pump {
        line: 1,
        head: Vec::with_capacity(HEAD),
        long: false,
        out: Vec::with_capacity(FLUSH_AT + HEAD),
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input
            .read(&mut buf)
            .await
            .map_err(|e| Error::io("reading the dump", e))?;
        if n == 0 {
            break;
        }
        p.feed(&buf[..n], scanner)?;
        if p.out.len() >= FLUSH_AT {
            p.flush(output).await?;
        }
    }
    if !p.head.is_empty() && !p.long {
        let head = std::mem::take(&mut p.head);
        p.whole(&head, scanner)?;
    }
    scanner.finish().map_err(|r| p.refused(r, b""))?;
    p.flush(output).await?;
    output
        .shutdown()
        .await
        .map_err(|e| Error::io("writing the dump to the database client", e))?;
    Ok(p.line)
}

impl Pump {
    fn feed(&mut self, mut chunk: &[u8], scanner: &mut dyn Scanner) -> Result<(), Error> {
        while !chunk.is_empty() {
            let end = chunk.iter().position(|&b| b == b'\n');
            let take = end.map_or(chunk.len(), |i| i + 1);
            let (piece, rest) = chunk.split_at(take);
            chunk = rest;
            if self.long {
                scanner
                    .more(piece)
                    .map_err(|r| self.refused(r, &self.head))?;
                self.out.extend_from_slice(piece);
            } else if self.head.len() + piece.len() <= HEAD && end.is_some() {
                let mut line = std::mem::take(&mut self.head);
                line.extend_from_slice(piece);
                self.whole(&line, scanner)?;
                line.clear();
                self.head = line;
            } else if self.head.len() + piece.len() <= HEAD {
                self.head.extend_from_slice(piece);
                continue;
            } else {
                let fits = HEAD - self.head.len();
                self.head.extend_from_slice(&piece[..fits]);
                self.start_long(scanner)?;
                let tail = &piece[fits..];
                scanner
                    .more(tail)
                    .map_err(|r| self.refused(r, &self.head))?;
                self.out.extend_from_slice(tail);
            }
            if end.is_some() {
                self.line += 1;
                self.long = false;
                self.head.clear();
            }
        }
        Ok(())
    }

    fn whole(&mut self, line: &[u8], scanner: &mut dyn Scanner) -> Result<(), Error> {
        match scanner
            .start(line, true)
            .map_err(|r| self.refused(r, line))?
        {
            Some(text) => self.out.extend_from_slice(&text),
            None => self.out.extend_from_slice(line),
        }
        Ok(())
    }

    fn start_long(&mut self, scanner: &mut dyn Scanner) -> Result<(), Error> {
        let head = &self.head;
        match scanner
            .start(head, false)
            .map_err(|r| self.refused(r, head))?
        {
            Some(text) => self.out.extend_from_slice(&text),
            None => self.out.extend_from_slice(head),
        }
        self.long = true;
        Ok(())
    }

    async fn flush(&mut self, output: &mut (dyn AsyncWrite + Unpin + Send)) -> Result<(), Error> {
        output
            .write_all(&self.out)
            .await
            .map_err(|e| Error::io("writing the dump to the database client", e))?;
        self.out.clear();
        Ok(())
    }

    fn refused(&self, r: Refusal, line: &[u8]) -> Error {
        Error::DumpRefused {
            line: self.line,
            what: r.0,
            excerpt: excerpt(line),
        }
    }
}

/// The start of a line for an error: printable characters only, cut before the first string
/// literal so that data (keys, passwords) is not repeated.
pub(crate) fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(4 * EXCERPT_CHARS)]);
    let mut out = String::new();
    for (i, c) in text.trim().chars().enumerate() {
        if i == EXCERPT_CHARS || c == '\'' || c == '"' {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// Word characters of SQL names and keywords (both dialects; bytes ≥ 0x80 are letters).
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// A word, upper-cased and cut to a sane length, for keyword checks.
pub(crate) fn keyword(word: &[u8]) -> String {
    String::from_utf8_lossy(&word[..word.len().min(64)]).to_ascii_uppercase()
}

/// `line` without its line end.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Run `cmd` with `input`, passed through `scanner`, as its stdin; `prefix` is sent first (the
/// load's own settings). A refusal ends the client at once (killed, or its connection dropped),
/// before the refused line reaches it.
///
/// # Errors
/// The outer error is the guard's (`DumpRefused`, `Io`); the inner one the client's.
pub(crate) async fn run_guarded(
    runner: &dyn ToolRunner,
    cmd: &ToolCommand,
    prefix: &[u8],
    input: &mut (dyn AsyncRead + Unpin + Send),
    scanner: &mut dyn Scanner,
    cancel: &Cancel,
) -> Result<Result<(), ToolError>, Error> {
    let (tx, rx) = tokio::io::duplex(1 << 16);
    let local = cancel.child_token();
    let feed = async {
        let mut tx = tx;
        let fed = match tx.write_all(prefix).await {
            Ok(()) => pump(input, &mut tx, scanner).await.map(|_| ()),
            Err(e) => Err(Error::io("writing the dump to the database client", e)),
        };
        if fed.is_err() {
            local.cancel();
        }
        fed
    };
    // The client's end of the pipe closes as soon as the client ends, so that a feed blocked
    // on a full pipe fails instead of waiting forever.
    let run = async {
        let mut rx = rx;
        runner
            .run(cmd, Some(&mut rx), &mut tokio::io::sink(), &local)
            .await
    };
    let (fed, ran) = tokio::join!(feed, run);
    match (fed, ran) {
        (Err(e @ Error::DumpRefused { .. }), _) => Err(e),
        _ if cancel.is_cancelled() => Err(Error::Cancelled),
        (_, Err(t)) if !t.is_cancelled() => Ok(Err(t)),
        (Err(e), _) => Err(e),
        (Ok(()), ran) => Ok(ran.map(|_| ())),
    }
}
