//! The few tar structures the archive needs, built and parsed by hand so that entries can be
//! written and read as async streams: ustar headers, GNU long names, padding, end blocks.

use std::io;

pub const BLOCK: usize = 512;
/// Name of the GNU long-name header `file_header` writes before a name over 100 bytes.
const LONG_LINK_NAME: &[u8] = b"././@LongLink";

/// Header block(s) for a regular file `path` of `size` bytes. Paths over 100 bytes get a GNU
/// long-name entry first, which GNU tar, bsdtar and the tar crate all read.
pub fn file_header(path: &str, size: u64, mtime: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(BLOCK * 3);
    if let Some(problem) = super::rules::name_problem(path) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("entry name {path:?} refused: {problem}"),
        ));
    }
    let name = path.as_bytes();
    if name.len() > 100 {
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name.len() as u64 + 1);
        long.set_mode(0o600);
        long.as_old_mut().name[..LONG_LINK_NAME.len()].copy_from_slice(LONG_LINK_NAME);
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
    Entry {
        kind: Kind,
        name: Vec<u8>,
        size: u64,
    },
}

/// The kinds of entry a reader tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    /// A GNU long-name entry exactly as `file_header` writes it: its content is the name of
    /// the file entry that follows.
    LongName,
    /// Anything else, with what it is (for the refusal).
    Refused(&'static str),
}

fn kind(h: &tar::Header) -> Kind {
    use tar::EntryType as T;
    Kind::Refused(match h.entry_type() {
        T::Regular => return Kind::File,
        T::Directory => return Kind::Directory,
        T::GNULongName if h.path_bytes().as_ref() == LONG_LINK_NAME => return Kind::LongName,
        T::GNULongName => "a GNU long-name entry unlike those ai-backup writes",
        T::Symlink => "a symbolic link",
        T::Link => "a hard link",
        T::Char => "a character device",
        T::Block => "a block device",
        T::Fifo => "a FIFO",
        T::XHeader => "a PAX extended header",
        T::XGlobalHeader => "a PAX global header",
        T::GNULongLink => "a GNU long link target",
        T::GNUSparse => "a GNU sparse file",
        T::Continuous => "a contiguous file",
        _ => "of an unknown tar entry type",
    })
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
    Ok(Parsed::Entry {
        kind: kind(h),
        name: h.path_bytes().into_owned(),
        size,
    })
}
