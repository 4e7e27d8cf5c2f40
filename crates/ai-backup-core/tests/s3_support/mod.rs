//! A real S3 server for the S3 tests: garage (scripts/garage install), one per test, on free
//! loopback ports in a temporary directory, killed on drop; plus deterministic large content
//! that is generated as it is read, never held in memory. Without the garage binary the tests
//! fail, telling how to get it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ai_backup_core::store::s3::{ObjectMeta, S3Client, S3Config};
use ai_backup_core::Cancel;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

const DEFAULT_GARAGE: &str = "/opt/ai-backup-tools/bin/garage";

fn garage_bin() -> PathBuf {
    let p = std::env::var_os("AI_BACKUP_GARAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_GARAGE));
    assert!(
        p.is_file(),
        "the garage binary is missing at {}: run `scripts/garage install` (or set \
         AI_BACKUP_GARAGE to a garage binary)",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn random_hex(bytes: usize) -> String {
    hex::encode(
        (0..bytes)
            .map(|_| rand::random::<u8>())
            .collect::<Vec<u8>>(),
    )
}

/// A single-node garage with one key that may create buckets. Killed on drop.
pub struct Garage {
    child: Child,
    dir: tempfile::TempDir,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Garage {
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(garage_bin())
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "garage {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub async fn start() -> Garage {
        let bin = garage_bin();
        let dir = tempfile::tempdir().unwrap();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let d = dir.path();
        let config = format!(
            "metadata_dir = \"{m}\"\ndata_dir = \"{data}\"\ndb_engine = \"lmdb\"\n\
             replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\n\
             [s3_api]\napi_bind_addr = \"127.0.0.1:{s3}\"\ns3_region = \"garage\"\n\
             root_domain = \".s3.garage.localhost\"\n\n[admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
            m = d.join("meta").display(),
            data = d.join("data").display(),
            secret = random_hex(32),
        );
        write_private(&d.join("garage.toml"), &config);
        let log = std::fs::File::create(d.join("garage.log")).unwrap();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(d.join("garage.toml"))
            .arg("server")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut g = Garage {
            child,
            dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
            access_key: format!("GK{}", random_hex(12)),
            secret_key: random_hex(32),
        };
        // `node id` reads the key from disk; `status` needs the RPC server up.
        g.retry("RPC", || g.cli(&["status"])).await;
        let node = g.cli(&["node", "id", "-q"]).unwrap();
        let node = node.trim().split('@').next().unwrap().to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node])
            .unwrap();
        g.cli(&["layout", "apply", "--version", "1"]).unwrap();
        let (ak, sk) = (g.access_key.clone(), g.secret_key.clone());
        g.cli(&["key", "import", "--yes", "-n", "test", &ak, &sk])
            .unwrap();
        g.cli(&["key", "allow", "--create-bucket", &ak]).unwrap();
        let client = g.client().with_retries(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = client.list_buckets(&Cancel::new()).await {
            assert!(
                Instant::now() < deadline,
                "garage S3 API not ready: {e}\n{}",
                g.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(status) = g.child.try_wait().unwrap() {
            panic!("garage exited ({status}):\n{}", g.log_tail());
        }
        g
    }

    async fn retry<T>(&self, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match f() {
                Ok(v) => return v,
                Err(e) if Instant::now() > deadline => {
                    panic!("garage: {what} not ready: {e}\n{}", self.log_tail())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub fn config(&self) -> S3Config {
        toml::from_str(&format!(
            "endpoint = \"{}\"\nregion = \"garage\"\naccess-key = \"{}\"\nsecret-key = \"{}\"\n",
            self.endpoint, self.access_key, self.secret_key
        ))
        .unwrap()
    }

    pub fn client(&self) -> S3Client {
        S3Client::from_config(&self.config(), None).unwrap()
    }
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
}

/// `len` deterministic pseudo-random bytes, generated as read (never held in memory). Calls
/// `on_read(total so far)` after each read, e.g. to cancel mid-way.
pub struct Gen {
    pub seed: u64,
    pub pos: u64,
    pub len: u64,
    pub hasher: Sha256,
    /// Never deliver past this offset (the read stays pending).
    pub stall_at: Option<u64>,
    pub on_read: Option<Box<dyn FnMut(u64) + Send>>,
}

impl Gen {
    pub fn new(seed: u64, len: u64) -> Self {
        Self {
            seed,
            pos: 0,
            len,
            hasher: Sha256::new(),
            stall_at: None,
            on_read: None,
        }
    }
    pub fn sha256(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

fn word(seed: u64, i: u64) -> [u8; 8] {
    // splitmix64
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).to_le_bytes()
}

impl AsyncRead for Gen {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let g = self.get_mut();
        let mut end = g.len;
        if let Some(s) = g.stall_at {
            if g.pos >= s {
                return Poll::Pending;
            }
            end = end.min(s);
        }
        let n = (buf.remaining() as u64).min(end - g.pos).min(256 << 10) as usize;
        let mut out = vec![0u8; n];
        for (j, b) in out.iter_mut().enumerate() {
            let p = g.pos + j as u64;
            *b = word(g.seed, p / 8)[(p % 8) as usize];
        }
        g.hasher.update(&out);
        buf.put_slice(&out);
        g.pos += n as u64;
        let pos = g.pos;
        if let Some(f) = g.on_read.as_mut() {
            f(pos);
        }
        Poll::Ready(Ok(()))
    }
}

pub async fn sha256_of(mut r: impl AsyncRead + Unpin) -> (u64, String) {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).await.unwrap();
        if k == 0 {
            return (n, hex::encode(h.finalize()));
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
}

pub async fn get_bytes(c: &S3Client, bucket: &str, key: &str) -> (ObjectMeta, Vec<u8>) {
    let mut g = c.get_object(bucket, key, &Cancel::new()).await.unwrap();
    let mut v = Vec::new();
    g.body.read_to_end(&mut v).await.unwrap();
    (g.head.meta, v)
}

pub fn meta(ct: &str, pairs: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        content_type: Some(ct.into()),
        headers: BTreeMap::new(),
        metadata: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}
