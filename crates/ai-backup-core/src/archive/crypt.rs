//! Optional encryption of a whole archive with a passphrase, in the age format (scrypt
//! recipient): the compressed stream passes through age's streaming encryptor on its way to the
//! file, and back through its decryptor on every read, so there is never a plaintext copy on
//! disk and memory stays bounded (age works in 64 KiB chunks). age authenticates every chunk
//! and the end of the stream: a wrong passphrase, one changed byte or a cut-off file is
//! refused, never read as data. An encrypted archive is recognised by its first bytes, not by
//! its name. The passphrase lives in memory only, is zeroed when dropped and never shown.

use std::io::{Read, Write};
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncReadExt;

use super::compression::{Finish, Source};

use crate::error::{Error, Result};

/// The first bytes of every age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
/// Appended to the name of an encrypted archive: `<module>-backup-…tar.gz.age`.
pub const ENCRYPTED_SUFFIX: &str = ".age";
/// What a refused decryption says: age cannot tell a wrong passphrase from an altered header.
pub const WRONG_OR_ALTERED: &str = "the passphrase is wrong or the archive was altered";

/// A passphrase, held in memory only: zeroed when dropped, never shown by `Debug`.
#[derive(Clone)]
pub struct Passphrase(SecretString);

impl Passphrase {
    /// # Errors
    /// `Error::Usage` for an empty passphrase.
    pub fn new(text: String) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::Usage("the passphrase is empty".into()));
        }
        Ok(Self(SecretString::from(text)))
    }

    /// Whether two passphrases are the same (a prompt asked twice).
    pub fn matches(&self, other: &Passphrase) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

/// From a request body (the page's): the text, moved into the zeroed holder.
impl<'de> serde::Deserialize<'de> for Passphrase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Passphrase::new(text).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// How an archive is read or written: in the clear (the default) or with a passphrase.
#[derive(Clone, Debug, Default)]
pub struct ArchiveKey(Option<Passphrase>);

impl ArchiveKey {
    /// No passphrase: plain archives only.
    pub const NONE: ArchiveKey = ArchiveKey(None);

    pub fn passphrase(&self) -> Option<&Passphrase> {
        self.0.as_ref()
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl From<Passphrase> for ArchiveKey {
    fn from(p: Passphrase) -> Self {
        Self(Some(p))
    }
}

impl From<Option<Passphrase>> for ArchiveKey {
    fn from(p: Option<Passphrase>) -> Self {
        Self(p)
    }
}

/// Whether the file at `path` is an age file (by its first bytes, whatever its name).
///
/// # Errors
/// `Error::Io` when it cannot be read.
pub async fn is_encrypted(path: &Path) -> Result<bool> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    let mut head = [0u8; AGE_MAGIC.len()];
    let mut got = 0;
    while got < head.len() {
        let n = file
            .read(&mut head[got..])
            .await
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(head[..got] == *AGE_MAGIC)
}

/// `out` wrapped so that what is written to it is encrypted with `passphrase`; its `finish`
/// writes the last chunk. The key derivation (about a second of scrypt) runs here, on the
/// archive's compression thread.
pub(super) fn encrypting(
    out: Box<dyn Finish>,
    passphrase: &Passphrase,
) -> std::io::Result<Box<dyn Finish>> {
    let encryptor = age::Encryptor::with_user_passphrase(passphrase.0.clone());
    Ok(Box::new(Encrypting(encryptor.wrap_output(out)?)))
}

struct Encrypting(age::stream::StreamWriter<Box<dyn Finish>>);

impl Write for Encrypting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Finish for Encrypting {
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        self.0.finish()?.finish()
    }
}

/// `input` (positioned at the age header) decrypted with `key`'s passphrase, or why not.
pub(super) fn decrypting(path: &Path, input: Source, key: &ArchiveKey) -> Result<Source> {
    let refused = |reason: String| Error::ArchiveRefused {
        path: path.to_path_buf(),
        reason,
    };
    let Some(passphrase) = key.passphrase() else {
        return Err(refused(
            "it is encrypted with a passphrase, and none was given".into(),
        ));
    };
    let decryptor = age::Decryptor::new_buffered(input).map_err(|e| refused(why(e)))?;
    if !decryptor.is_scrypt() {
        return Err(refused(
            "it is encrypted to an age key, not with a passphrase; decrypt it with age first"
                .into(),
        ));
    }
    let identity = age::scrypt::Identity::new(passphrase.0.clone());
    let stream = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| refused(why(e)))?;
    Ok(Box::new(std::io::BufReader::with_capacity(
        1 << 20,
        Authenticated(stream),
    )))
}

/// A refused decryption in plain words.
fn why(e: age::DecryptError) -> String {
    use age::DecryptError as D;
    match e {
        D::NoMatchingKeys | D::DecryptionFailed | D::KeyDecryptionFailed | D::InvalidMac => {
            WRONG_OR_ALTERED.into()
        }
        D::ExcessiveWork { required, .. } => format!(
            "its passphrase needs a key derivation of work factor 2^{required}, beyond what this machine accepts"
        ),
        D::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => "it is truncated".into(),
        other => format!("it was altered or damaged: its encryption header is unreadable ({other})"),
    }
}

/// An encrypted chunk that fails its authentication (a changed byte), or a stream that ends
/// before its last chunk: the reader refuses the archive as altered.
#[derive(Debug)]
pub(super) struct Altered;

impl std::fmt::Display for Altered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "it was altered after it was written (an encrypted block fails its authentication)",
        )
    }
}

impl std::error::Error for Altered {}

/// Marks age's authentication failures so the reader can name them.
struct Authenticated<R>(R);

impl<R: Read> Read for Authenticated<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                std::io::Error::new(std::io::ErrorKind::InvalidData, Altered)
            } else {
                e
            }
        })
    }
}

/// True when `e` is an authentication failure of the encrypted stream.
pub(super) fn is_altered(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Altered>())
}
