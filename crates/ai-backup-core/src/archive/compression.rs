//! The archive's compression: gzip (the default, readable by any `tar xzf`) or zstd (faster,
//! multi-threaded, `.tar.zst`). A reader knows which from the stream's first bytes, so every
//! reader takes both; the metadata records it too. Compression runs once, over the whole tar
//! stream: nothing inside the archive is compressed a second time.

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use super::gzip::Gzip;

/// gzip level: zlib-rs at level 2 compresses a dump at about 100 MB/s on one core, for an
/// archive within a tenth of level 6's size (level 1 is faster but about half again larger).
pub const GZIP_LEVEL: u32 = 2;
/// zstd level: as small as level 3 on dumps here, at twice its speed; on every core.
pub const ZSTD_LEVEL: i32 = 1;
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    /// `gzip` or `zstd`, as the metadata and the command line name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The archive's file name ending: `.tar.gz` or `.tar.zst`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Gzip => ".tar.gz",
            Self::Zstd => ".tar.zst",
        }
    }

    /// `gzip` or `zstd` (`gz`, `zst` too).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "gzip" | "gz" => Some(Self::Gzip),
            "zstd" | "zst" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The compression of a stream that starts with `head`, if it is one of ours.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(GZIP_MAGIC) {
            Some(Self::Gzip)
        } else if head.starts_with(ZSTD_MAGIC) {
            Some(Self::Zstd)
        } else {
            None
        }
    }

    /// `out` wrapped in this compression; zstd works on `threads` threads.
    pub(super) fn encoder(self, out: Box<dyn Finish>, threads: u32) -> io::Result<Box<dyn Finish>> {
        Ok(match self {
            Self::Gzip => Box::new(Gzip::new(out)?),
            Self::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
                enc.include_checksum(true)?;
                if threads > 1 {
                    enc.multithread(threads)?;
                }
                Box::new(Zst(enc))
            }
        })
    }

    /// `input` decompressed: one gzip member or one zstd frame, checked to its end.
    pub(super) fn decoder(self, input: Source) -> io::Result<Decoder> {
        Ok(match self {
            Self::Gzip => Decoder::Gz(Box::new(flate2::bufread::GzDecoder::new(input))),
            Self::Zstd => {
                Decoder::Zst(zstd::stream::read::Decoder::with_buffer(input)?.single_frame())
            }
        })
    }
}

/// The compressed stream being read (a file, or a file decrypted).
pub(super) type Source = Box<dyn BufRead + Send>;

/// A writer that must be told the stream ended: it writes its trailer, and passes `finish` on
/// to what it writes to (the file is synced to disk last).
pub(super) trait Finish: Write + Send {
    fn finish(self: Box<Self>) -> io::Result<()>;
    /// What follows is incompressible (already compressed media): a compressor that would
    /// spend time on it for nothing stores it as it is instead.
    fn incompressible(&mut self, _yes: bool) -> io::Result<()> {
        Ok(())
    }
}

impl Finish for io::BufWriter<std::fs::File> {
    fn finish(self: Box<Self>) -> io::Result<()> {
        let file = (*self).into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }
}

struct Zst(zstd::stream::write::Encoder<'static, Box<dyn Finish>>);
impl Write for Zst {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl Finish for Zst {
    fn finish(self: Box<Self>) -> io::Result<()> {
        self.0.finish()?.finish()
    }
}

/// True when `sample` (the start of an entry) looks incompressible: its bytes are nearly
/// uniformly spread (over 7.5 bits of entropy per byte), as in compressed or encrypted data.
pub fn looks_incompressible(sample: &[u8]) -> bool {
    if sample.len() < 512 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[b as usize] += 1;
    }
    let n = sample.len() as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits > 7.5
}

/// The decompressing reader; once read to its end, it hands back its source (to drain it).
pub(super) enum Decoder {
    Gz(Box<flate2::bufread::GzDecoder<Source>>),
    Zst(zstd::stream::read::Decoder<'static, Source>),
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Gz(d) => d.read(buf),
            Self::Zst(d) => d.read(buf),
        }
    }
}

impl Decoder {
    pub(super) fn into_source(self) -> Source {
        match self {
            Self::Gz(d) => (*d).into_inner(),
            Self::Zst(d) => d.finish(),
        }
    }
}
