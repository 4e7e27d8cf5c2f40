//! The gzip stream, written with zlib-rs's deflate directly so that incompressible content
//! (images, PDFs, archives) goes into deflate's stored blocks at memory speed instead of being
//! searched for matches that are not there. Before a stored run the compressor is flushed to a
//! byte boundary; after it, the compressor starts afresh, so none of its back-references
//! reaches across the stored bytes it never saw. Plain `gunzip` reads the result like any
//! other gzip file.

use std::io::{self, Write};

use flate2::{Compress, Crc, FlushCompress, Status};

use super::compression::{Finish, GZIP_LEVEL};

/// gzip header: deflate, no name, no time, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
const OUT_BUF: usize = 256 << 10;
/// The most a stored block holds.
const STORED_MAX: usize = 65_535;

pub(super) struct Gzip {
    out: Box<dyn Finish>,
    deflate: Compress,
    crc: Crc,
    buf: Vec<u8>,
    stored: bool,
}

impl Gzip {
    pub(super) fn new(mut out: Box<dyn Finish>) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        Ok(Self {
            out,
            deflate: Compress::new(flate2::Compression::new(GZIP_LEVEL), false),
            crc: Crc::new(),
            buf: Vec::with_capacity(OUT_BUF),
            stored: false,
        })
    }

    /// Feed `input` through deflate with `flush`, writing out whatever it produces.
    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<Status> {
        loop {
            self.buf.clear();
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut self.buf, flush)
                .map_err(io::Error::other)?;
            let used = (self.deflate.total_in() - before) as usize;
            input = &input[used..];
            self.out.write_all(&self.buf)?;
            let full = self.buf.len() == self.buf.capacity();
            if input.is_empty() && !full {
                return Ok(status);
            }
            if status == Status::StreamEnd {
                return Ok(status);
            }
        }
    }

    /// `data` as stored blocks (not final): a zero header byte, LEN and its complement.
    fn store(&mut self, data: &[u8]) -> io::Result<()> {
        for block in data.chunks(STORED_MAX) {
            let len = block.len() as u16;
            let mut head = [0u8; 5];
            head[1..3].copy_from_slice(&len.to_le_bytes());
            head[3..].copy_from_slice(&(!len).to_le_bytes());
            self.out.write_all(&head)?;
            self.out.write_all(block)?;
        }
        Ok(())
    }
}

impl Write for Gzip {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.crc.update(data);
        if self.stored {
            self.store(data)?;
        } else {
            self.deflate(data, FlushCompress::None)?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Finish for Gzip {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        // The final block comes from the compressor (empty after a stored run).
        self.incompressible(false)?;
        while self.deflate(&[], FlushCompress::Finish)? != Status::StreamEnd {}
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.out.write_all(&trailer)?;
        self.out.finish()
    }

    fn incompressible(&mut self, yes: bool) -> io::Result<()> {
        if yes == self.stored {
            return Ok(());
        }
        if yes {
            // Everything compressed so far goes out, ending on a byte boundary.
            self.deflate(&[], FlushCompress::Sync)?;
        } else {
            self.deflate.reset();
        }
        self.stored = yes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::archive::compression::looks_incompressible;
    use crate::archive::roundtrip_tests::noise;

    /// Collects what the gzip writer produces.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<u8>>>);
    impl Write for Collect {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Finish for Collect {
        fn finish(self: Box<Self>) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn text_and_stored_media_read_back_through_plain_gunzip() {
        let text: Vec<u8> = (0..400_000)
            .flat_map(|i: u32| format!("{{\"id\":{i},\"status\":\"success\"}}\n").into_bytes())
            .collect();
        let media = noise(3 << 20);
        assert!(!looks_incompressible(&text[..65536]));
        assert!(looks_incompressible(&media[..65536]));
        let sink = Collect::default();
        let mut gz: Box<dyn Finish> = Box::new(Gzip::new(Box::new(sink.clone())).unwrap());
        for (part, media_part) in [(&text, false), (&media, true), (&text, false)] {
            gz.incompressible(media_part).unwrap();
            gz.write_all(part).unwrap();
        }
        gz.finish().unwrap();
        let bytes = sink.0.lock().unwrap().clone();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, [&text[..], &media[..], &text[..]].concat());
        // The media went in stored blocks: a few bytes per 64 KiB block over its own size,
        // and the text compressed well.
        assert!(bytes.len() < media.len() + media.len() / 100 + text.len() / 2);
        assert!(bytes.len() > media.len());
        // And GNU gzip agrees, checksum and all.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.gz");
        std::fs::write(&file, &bytes).unwrap();
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), back.len());
        assert!(out.stdout == back);
    }
}
