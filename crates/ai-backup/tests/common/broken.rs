//! Makes the n8n stand-in fail at its next start, to provoke a failure after a restore's swap:
//! it exits at start when it cannot read its config file (made root-owned while it runs; it
//! reads the file only at start, and ai-backup reads it as root, so the key check still
//! passes).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const CONFIG: &str = "/home/node/.n8n/config";

/// Makes n8n fail at its next start; puts things right on drop, even after a panic (n8n is then
/// stopped, so the file is put back with `docker cp -a`, which works on a stopped container).
pub struct BrokenN8nStart {
    content: Vec<u8>,
    owner: (u32, u32),
}

impl BrokenN8nStart {
    pub fn new() -> Self {
        let read = crate::common::docker::docker(&["exec", crate::common::N8N_APP, "cat", CONFIG]);
        assert!(read.status.success(), "read {CONFIG}");
        let stat = crate::common::docker::docker(&[
            "exec",
            crate::common::N8N_APP,
            "stat",
            "-c",
            "%u %g",
            CONFIG,
        ]);
        let ids: Vec<u32> = String::from_utf8_lossy(&stat.stdout)
            .split_whitespace()
            .map(|n| n.parse().expect("uid/gid"))
            .collect();
        let out = crate::common::docker::docker(&[
            "exec",
            "-u",
            "root",
            crate::common::N8N_APP,
            "chown",
            "root:root",
            CONFIG,
        ]);
        assert!(out.status.success(), "chown {CONFIG}");
        BrokenN8nStart {
            content: read.stdout,
            owner: (ids[0], ids[1]),
        }
    }
}

impl Drop for BrokenN8nStart {
    fn drop(&mut self) {
        // A tar stream keeps the owner in its header (`docker cp -a` would need a running
        // container to resolve the user).
        let mut h = tar::Header::new_gnu();
        h.set_size(self.content.len() as u64);
        h.set_mode(0o600);
        h.set_uid(self.owner.0.into());
        h.set_gid(self.owner.1.into());
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut h, "config", self.content.as_slice())
            .expect("tar");
        let tarball = b.into_inner().expect("tar");
        let dir = CONFIG.rsplit_once('/').unwrap().0;
        let mut child = Command::new("docker")
            .args(["cp", "-", &format!("{}:{dir}", crate::common::N8N_APP)])
            .stdin(Stdio::piped())
            .spawn()
            .expect("docker cp");
        let _ = child.stdin.take().unwrap().write_all(&tarball);
        let _ = child.wait();
        let _ = crate::common::docker::docker(&["start", crate::common::N8N_APP]);
        crate::common::docker::wait_http("http://127.0.0.1:5678/healthz", Duration::from_secs(60));
    }
}
