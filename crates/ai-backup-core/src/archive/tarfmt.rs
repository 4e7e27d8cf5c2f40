//! The few tar structures the archive needs, built and parsed by hand so that entries can be
//! written and read as async streams: ustar headers, GNU long names, padding, end blocks.

use std::io;

pub const BLOCK: usize = 512;

/// Header block(s) for a regular file `path` of `size` bytes. Paths over 100 bytes get a GNU
/// long-name entry first, which GNU tar, bsdtar and the tar crate all read.
pub fn file_header(path: &str, size: u64, mtime: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(BLOCK * 3);
    let name = path.as_bytes();
    if name.len() > 100 {
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name.len() as u64 + 1);
        long.set_mode(0o600);
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_cksum();
        out.extend_from_slice(long.as_bytes());
        out.extend_from_slice(name);
        out.push(0);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    Ok(out)
}

/// Zero bytes that bring an entry of `size` bytes up to a whole block.
pub fn padding(size: u64) -> usize {
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 {
        0
    } else {
        BLOCK - rem
    }
}

/// What one header block says.
pub enum Parsed {
    End,
    File { name: Vec<u8>, size: u64 },
    LongName { size: u64 },
    Other { size: u64 },
}

pub fn parse(block: &[u8; BLOCK]) -> io::Result<Parsed> {
    if block.iter().all(|&b| b == 0) {
        return Ok(Parsed::End);
    }
    let h = tar::Header::from_byte_slice(block);
    let stored = h
        .cksum()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad tar header checksum field"))?;
    let computed: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u32
            } else {
                b as u32
            }
        })
        .sum();
    if stored != computed {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "tar header checksum mismatch",
        ));
    }
    let size = h
        .entry_size()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad tar entry size"))?;
    Ok(match h.entry_type() {
        tar::EntryType::GNULongName => Parsed::LongName { size },
        tar::EntryType::Regular | tar::EntryType::Continuous => Parsed::File {
            name: h.path_bytes().into_owned(),
            size,
        },
        _ => Parsed::Other { size },
    })
}
