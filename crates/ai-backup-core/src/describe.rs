//! Every text a person reads about a plan, an archive or an outcome, in one place, so the CLI,
//! the page and the desktop app say the same words.

use crate::archive::{Metadata, Verified};
use crate::engine::{BackupOutcome, Plan, RestoreOutcome};

/// The plan, for people: the database, each bucket/prefix and index with its size, the apps
/// and the secrets.
pub fn plan(p: &Plan) -> String {
    let mut s = format!(
        "module {}\n  database  {} on {}{}\n",
        p.module,
        p.scope.database,
        p.database_server,
        match (p.database_present, p.database_bytes) {
            (false, _) => " (missing)".to_string(),
            (true, Some(b)) => format!(", {}", human_bytes(b)),
            (true, None) => String::new(),
        }
    );
    for (bucket, prefix, n, bytes) in &p.object_counts {
        s += &format!(
            "  objects   {}: {n} objects, {bytes} bytes\n",
            bucket_scope(bucket, prefix)
        );
    }
    for (index, docs) in &p.index_counts {
        s += &format!("  index     {index}: {docs} documents\n");
    }
    if !p.apps.is_empty() {
        s += &format!(
            "  apps      {} (stopped during a restore)\n",
            p.apps.join(", ")
        );
    }
    for sec in &p.secrets {
        s += &format!("  secret    {sec}\n");
    }
    s.trim_end().to_string()
}

/// What an archive holds, for people: its metadata, tables and rows, objects, indices, the
/// names of its secrets (never their values) and every entry with its checksum.
pub fn archive(v: &Verified) -> String {
    let m = &v.metadata;
    let mut s = format!(
        "module:     {}\nengine:     {} ({})\ndatabase:   {}\ncreated:    {}\nformat:     {} v{} (tool {})\ncomponents: {}\nquiesced:   {}\n",
        m.module_id,
        m.engine,
        m.source_servers.get("db").cloned().unwrap_or_default(),
        m.db_name,
        m.created_at,
        m.format,
        m.format_version,
        m.tool_version,
        m.components.join(", "),
        m.quiesced
    );
    if let Some(n) = &m.notes {
        s += &format!("notes:      {n}\n");
    }
    s += &format!(
        "tables ({}, {} rows):\n",
        m.db.stats.tables.len(),
        m.db.stats.total_rows()
    );
    for (t, rows) in &m.db.stats.tables {
        s += &format!("  {t:<48} {rows:>12}\n");
    }
    for (kind, list) in [
        ("views", &m.db.stats.views),
        ("routines", &m.db.stats.routines),
        ("triggers", &m.db.stats.triggers),
        ("events", &m.db.stats.events),
    ] {
        if !list.is_empty() {
            s += &format!("{kind}: {}\n", list.join(", "));
        }
    }
    if !m.db.stats.sequences.is_empty() {
        s += &format!(
            "sequences: {}\n",
            m.db.stats
                .sequences
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(o) = &m.objects {
        let scope: Vec<String> = o
            .scope
            .iter()
            .map(|(b, p)| {
                if p.is_empty() {
                    b.clone()
                } else {
                    format!("{b}/{p}")
                }
            })
            .collect();
        s += &format!("objects in scope {}:\n", scope.join(", "));
        for (b, c) in &o.buckets {
            s += &format!(
                "  {b:<48} {:>12} objects {:>14} bytes\n",
                c.objects, c.bytes
            );
        }
    }
    if let Some(i) = &m.indices {
        s += "indices:\n";
        for (name, docs) in &i.indices {
            s += &format!("  {name:<48} {docs:>12} documents\n");
        }
    }
    for sec in &m.secrets {
        s += &format!(
            "secret:     {} (from {}, value not shown)\n",
            sec.name, sec.source
        );
    }
    s += "entries:\n";
    for e in &v.manifest.entries {
        s += &format!("  {:<48} {:>12}  {}\n", e.path, e.size, &e.sha256[..16]);
    }
    s.trim_end().to_string()
}

/// One line about an archive: "n8n backup of 2026-11-27T15:00:00Z: 12 tables, 54 rows".
pub fn archive_summary(m: &Metadata) -> String {
    format!(
        "{} backup of {}: {}",
        m.module_id,
        m.created_at,
        m.contents()
    )
}

/// The outcome of a backup.
pub fn backup_outcome(module: &str, o: &BackupOutcome) -> String {
    format!(
        "backed up {module} to {} ({} bytes in the archive: {}){}\n{}",
        o.path.display(),
        o.manifest.total_bytes(),
        o.metadata.contents(),
        retried(o.retries),
        timings(&o.timings)
    )
}

/// "Time by phase: verify 0.6 s, load 4.1 s, check 0.2 s, swap 0.1 s."
pub fn timings(t: &[(String, f64)]) -> String {
    let parts: Vec<String> = t.iter().map(|(p, s)| format!("{p} {s:.1} s")).collect();
    format!("Time by phase: {}.", parts.join(", "))
}

/// The sentence on transient errors retried, empty when there were none.
fn retried(n: u64) -> String {
    match n {
        0 => String::new(),
        1 => "\n1 transient error (a throttled or dropped request) was retried.".into(),
        n => format!("\n{n} transient errors (throttled or dropped requests) were retried."),
    }
}

/// The outcome of a restore: what came back, how, secrets written, health, the journal.
pub fn restore_outcome(module: &str, archive: &std::path::Path, o: &RestoreOutcome) -> String {
    let mut text = format!(
        "restored {module} from {}: {}.\n{}.",
        archive.display(),
        o.contents,
        o.method
    );
    if !o.secrets_written.is_empty() {
        text += &format!("\nSecrets put in place: {}.", o.secrets_written.join(", "));
    }
    if let Some(h) = &o.health {
        text += &format!(
            "\nHealth: {} ({}).",
            if h.healthy { "ok" } else { "NOT healthy" },
            h.details.join("; ")
        );
    }
    text += &retried(o.retries);
    text += &format!("\n{}", timings(&o.timings));
    text += &format!(
        "\nVerification: the archive was read once, checked while it loaded; its checksums took {:.1} s.",
        o.checksum_secs
    );
    text += &format!(
        "\nDestructive steps were logged to {}.",
        o.journal.display()
    );
    text
}

/// The archive's verification, for people.
pub fn verified(path: &std::path::Path, v: &Verified) -> String {
    format!(
        "{}: OK — {} backup of {}, {} entries, {} bytes, every checksum matches",
        path.display(),
        v.metadata.module_id,
        v.metadata.created_at,
        v.manifest.entries.len(),
        v.manifest.total_bytes()
    )
}

/// What a restore of the planned module overwrites or stops, one line each, for the
/// confirmation a person is asked for: the database, each bucket/prefix and index with what it
/// holds now, the apps, the secrets compared.
pub fn overwrites(p: &Plan) -> Vec<String> {
    let mut lines = vec![format!(
        "database {} on {}{}",
        p.scope.database,
        p.database_server,
        if p.database_present {
            ""
        } else {
            " (missing now)"
        }
    )];
    for (bucket, prefix, n, bytes) in &p.object_counts {
        lines.push(format!(
            "{}: {n} objects, {bytes} bytes now",
            bucket_scope(bucket, prefix)
        ));
    }
    for (index, docs) in &p.index_counts {
        lines.push(format!("index {index}: {docs} documents now"));
    }
    if !p.apps.is_empty() {
        lines.push(format!(
            "its apps will be stopped and started again: {}",
            p.apps.join(", ")
        ));
    }
    for sec in &p.secrets {
        lines.push(format!(
            "secret {sec} is compared (and replaced only when asked to)"
        ));
    }
    lines
}

fn bucket_scope(bucket: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        format!("bucket {bucket} (all of it)")
    } else {
        format!("bucket {bucket}, prefix {prefix}")
    }
}

/// What a backup of the planned module will read, the most free space its archive needs, and
/// about how long it takes, for the backup's explanatory dialog. Returns (bytes, seconds, text).
pub fn estimate(p: &Plan) -> (u64, u64, String) {
    /// A conservative pace for a compressed backup on a small machine.
    const BYTES_PER_SEC: u64 = 20 << 20;
    let objects: u64 = p.object_counts.iter().map(|(_, _, _, b)| b).sum();
    let docs: u64 = p.index_counts.iter().map(|(_, d)| d).sum();
    let bytes = p.database_bytes.unwrap_or(0) + objects;
    let secs = (bytes / BYTES_PER_SEC + docs / 20_000).max(1);
    let mut text = format!(
        "about {} of data (database {}",
        human_bytes(bytes),
        human_bytes(p.database_bytes.unwrap_or(0))
    );
    if !p.object_counts.is_empty() {
        text += &format!(", objects {}", human_bytes(objects));
    }
    text += ")";
    if !p.index_counts.is_empty() {
        text += &format!(" and {docs} index documents");
    }
    text += &format!(
        "; the archive needs at most that much free space (usually far less: it is compressed); expect about {}",
        human_secs(secs)
    );
    (bytes, secs, text)
}

/// 1536 -> "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human_secs(s: u64) -> String {
    match s {
        1 => "1 second".to_string(),
        0..=89 => format!("{s} seconds"),
        90..=5399 => format!("{} minutes", s.div_ceil(60)),
        _ => format!("{:.1} hours", s as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_say_them() {
        for (n, s) in [
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1536, "1.5 KiB"),
            (5 << 30, "5.0 GiB"),
        ] {
            assert_eq!(super::human_bytes(n), s);
        }
        for (n, s) in [(1, "1 second"), (120, "2 minutes"), (7200, "2.0 hours")] {
            assert_eq!(super::human_secs(n), s);
        }
    }
}
