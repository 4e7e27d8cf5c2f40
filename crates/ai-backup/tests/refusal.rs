//! Archives a restore must refuse before touching anything: foreign, corrupted, truncated, of
//! another module, of a newer format; and a restore nobody confirmed. Each exits 2 with a
//! reason, and leaves the live data, the other databases and the apps as they were.

mod common;

use std::path::{Path, PathBuf};

use common::{archive, db, docker, fp, Env, Module};

/// Seed both modules and back them up: (n8n archive, oneapi archive).
fn seeded_archives(env: &Env) -> (PathBuf, PathBuf) {
    db::seed(Module::N8n);
    db::seed(Module::OneApi);
    (
        env.backup(Module::N8n, "n8n"),
        env.backup(Module::OneApi, "oneapi"),
    )
}

fn archive_of(m: Module, archives: &(PathBuf, PathBuf)) -> &Path {
    match m {
        Module::N8n => &archives.0,
        Module::OneApi => &archives.1,
    }
}

/// `restore m bad --yes` (text and --json) and `verify bad` are refused with exit 2 and a
/// message containing `reason`; nothing changes.
fn assert_refused(env: &Env, m: Module, bad: &Path, reason: &str) {
    let before = fp::module(m);
    let others = fp::others(m);
    let file = bad.to_str().unwrap();

    let out = env.run(&["restore", m.id(), file, "--yes"]);
    out.assert_code(2, &format!("restore {} of {file}", m.id()));
    assert!(
        out.stderr.contains("refused") && out.stderr.contains(reason),
        "restore {}: the message should say the archive is refused because {reason:?}; got:\n{}",
        m.id(),
        out.stderr
    );

    let out = env.run(&["--json", "restore", m.id(), file, "--yes"]);
    out.assert_code(2, "restore --json");
    let result = out.last_json();
    assert_eq!(result["success"], false, "{result}");
    assert!(
        result["error"]
            .as_str()
            .unwrap_or_default()
            .contains(reason),
        "the result's error should contain {reason:?}: {result}"
    );
    assert_eq!(result.as_object().unwrap().len(), 2, "{result}");

    let out = env.run(&["verify", file]);
    out.assert_code(2, "verify");
    assert!(out.stderr.contains(reason), "verify: {}", out.stderr);

    fp::assert_same(&before, &fp::module(m), "live data after a refused restore");
    fp::assert_same(
        &others,
        &fp::others(m),
        "other databases after a refused restore",
    );
    assert_eq!(db::leftovers(), vec![], "databases left behind");
    docker::assert_apps_running();
    assert!(
        !env.journal.exists(),
        "a refused restore must not log destructive steps: {}",
        std::fs::read_to_string(&env.journal).unwrap_or_default()
    );
}

#[test]
fn restore_refuses_a_foreign_tar_gz() {
    let env = common::setup();
    db::seed(Module::N8n);
    db::seed(Module::OneApi);
    let random: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let foreign = env.path("foreign.tar.gz");
    archive::write(&foreign, &[("random.bin".to_string(), random)]);
    for m in Module::ALL {
        assert_refused(&env, m, &foreign, "not an ai-backup archive");
    }
    // Not even gzip.
    let text = env.path("notes.tar.gz");
    std::fs::write(&text, "just some text, not an archive\n").unwrap();
    for m in Module::ALL {
        assert_refused(&env, m, &text, "not a valid gzip/tar archive");
    }
}

#[test]
fn restore_refuses_a_corrupted_archive() {
    let env = common::setup();
    let archives = seeded_archives(&env);
    for m in Module::ALL {
        let mut bytes = std::fs::read(archive_of(m, &archives)).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        let bad = env.path(&format!("{}-corrupted.tar.gz", m.id()));
        std::fs::write(&bad, &bytes).unwrap();
        // A flipped byte shows as a deflate error, a gzip CRC error or a checksum mismatch:
        // any of them is a refusal naming the archive.
        assert_refused(&env, m, &bad, &bad.display().to_string());
        let out = env.run(&["verify", bad.to_str().unwrap()]);
        let said = out.stderr.to_lowercase();
        assert!(
            [
                "corrupt",
                "crc",
                "invalid",
                "not a valid",
                "checksum",
                "truncated"
            ]
            .iter()
            .any(|w| said.contains(w)),
            "the reason should name the corruption: {}",
            out.stderr
        );
    }
}

#[test]
fn restore_refuses_a_truncated_archive() {
    let env = common::setup();
    let archives = seeded_archives(&env);
    for m in Module::ALL {
        let bytes = std::fs::read(archive_of(m, &archives)).unwrap();
        let bad = env.path(&format!("{}-truncated.tar.gz", m.id()));
        std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
        assert_refused(&env, m, &bad, "truncated");
    }
}

#[test]
fn restore_refuses_an_archive_of_another_module() {
    let env = common::setup();
    let archives = seeded_archives(&env);
    for m in Module::ALL {
        let foreign = archive_of(m.other(), &archives);
        assert_refused_module(&env, m, foreign);
    }
}

fn assert_refused_module(env: &Env, m: Module, foreign: &Path) {
    let before = fp::module(m);
    let out = env.run(&["restore", m.id(), foreign.to_str().unwrap(), "--yes"]);
    out.assert_code(2, "restore of another module's archive");
    let reason = format!("backup of module {}, not {}", m.other().id(), m.id());
    assert!(out.stderr.contains(&reason), "{}", out.stderr);
    fp::assert_same(&before, &fp::module(m), "live data");
    assert_eq!(db::leftovers(), vec![]);
    docker::assert_apps_running();
}

#[test]
fn restore_refuses_an_archive_of_a_newer_format() {
    let env = common::setup();
    let archives = seeded_archives(&env);
    for m in Module::ALL {
        let real = archive_of(m, &archives);
        // Control: the same rewrite without the change gives an archive the tool accepts.
        let same = env.path(&format!("{}-rewritten.tar.gz", m.id()));
        archive::rewrite_metadata(real, &same, |_| {});
        env.run(&["verify", same.to_str().unwrap()])
            .assert_code(0, "verify of a rewritten but unchanged archive");

        let newer = env.path(&format!("{}-v99.tar.gz", m.id()));
        archive::rewrite_metadata(real, &newer, |meta| {
            meta["formatVersion"] = 99.into();
        });
        assert_refused(&env, m, &newer, "format version 99");
    }
}

#[test]
fn restore_without_yes_and_without_a_tty_is_refused() {
    let env = common::setup();
    let archives = seeded_archives(&env);
    for m in Module::ALL {
        let file = archive_of(m, &archives).to_str().unwrap().to_string();
        common::write_more(m);
        let before = fp::module(m);
        let out = env.run(&["restore", m.id(), &file]);
        out.assert_code(2, "restore without --yes");
        assert!(out.stderr.contains("--yes"), "{}", out.stderr);
        let out = env.run(&["--json", "restore", m.id(), &file]);
        out.assert_code(2, "restore --json without --yes");
        assert_eq!(out.last_json()["success"], false);
        fp::assert_same(
            &before,
            &fp::module(m),
            "live data after an unconfirmed restore",
        );
        assert_eq!(db::leftovers(), vec![]);
        docker::assert_apps_running();
    }
}
