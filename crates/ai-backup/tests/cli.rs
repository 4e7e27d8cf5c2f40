//! The CLI around the engine: `config`, `verify`, `inspect`, `modules`, the archive as plain
//! tools see it (tar, sha256, psql/mysql), its file mode, and the journal of destructive steps.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{archive, db, docker, fp, Engine, Module};

#[test]
fn config_prints_the_effective_config_without_any_password() {
    let env = common::setup();
    let cfg = env.path("with-passwords.toml");
    common::write_config(
        &cfg,
        &env.journal,
        "[servers.postgres]\npassword = \"pg-Secret-in-config\"\n\
         [servers.mysql]\npassword = \"my-Secret-in-config\"\n\
         [modules.n8n]\ndatabase = \"n8n_from_config\"\n",
    );
    let out = env.run_with(&cfg, &["config"]);
    out.assert_code(0, "config");
    for shown in [
        "[modules.n8n]",
        "n8n_from_config",
        "[modules.oneapi]",
        "oneapi_db",
        "ai-server-postgres",
        "ai-server-mysql",
        "<redacted>",
        &env.journal.display().to_string(),
    ] {
        assert!(
            out.stdout.contains(shown),
            "config should show {shown:?}:\n{}",
            out.stdout
        );
    }
    for secret in ["pg-Secret-in-config", "my-Secret-in-config"] {
        assert!(
            !out.text().contains(secret),
            "config printed a password from the file"
        );
    }
    let real = [
        docker::stack_secret("POSTGRES_PASSWORD"),
        docker::stack_secret("MARIADB_ROOT_PASSWORD"),
    ];
    let plain = env.run(&["config"]);
    plain.assert_code(0, "config");
    for secret in &real {
        assert!(
            !out.text().contains(secret.as_str()) && !plain.text().contains(secret.as_str()),
            "config printed a stack password"
        );
    }
}

#[test]
fn modules_lists_containers_and_databases() {
    let env = common::setup();
    db::seed(Module::N8n);
    db::seed(Module::OneApi);
    let out = env.run(&["modules"]);
    out.assert_code(0, "modules");
    for m in Module::ALL {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(m.id()))
            .unwrap_or_else(|| panic!("no line for {}:\n{}", m.id(), out.stdout));
        for part in [
            format!("{} present", m.db()),
            format!("{}: running", m.app()),
            format!("{}: running", m.engine().container()),
        ] {
            assert!(line.contains(&part), "{line:?} should contain {part:?}");
        }
    }
}

/// Tables and row counts, counted with SQL independently of the tool.
fn table_counts(m: Module) -> BTreeMap<String, u64> {
    let names = match m.engine() {
        Engine::Pg => db::pg_rows(
            m.db(),
            "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) FROM pg_stat_user_tables ORDER BY 1;",
        ),
        Engine::My => db::my_rows(
            None,
            &format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_TYPE = 'BASE TABLE';", m.db()),
        ),
    };
    names
        .into_iter()
        .map(|t| {
            let q = match m.engine() {
                Engine::Pg => t.clone(),
                Engine::My => format!("`{t}`"),
            };
            let n = db::count(m.engine(), m.db(), &q);
            (t, n)
        })
        .collect()
}

#[test]
fn verify_accepts_a_good_archive_and_inspect_shows_tables_and_row_counts() {
    let env = common::setup();
    for m in Module::ALL {
        db::seed(m);
        let counts = table_counts(m);
        assert!(
            counts.len() >= 7 && counts.values().any(|&n| n > 100),
            "{counts:?}"
        );
        let backup = env.backup(m, m.id());
        let file = backup.to_str().unwrap();

        let out = env.run(&["verify", file]);
        out.assert_code(0, "verify");
        assert!(out.stdout.contains("OK"), "{}", out.stdout);
        let out = env.run(&["--json", "verify", file]);
        out.assert_code(0, "verify --json");
        assert_eq!(out.result_path(), backup);

        let out = env.run(&["inspect", file]);
        out.assert_code(0, "inspect");
        let shown: BTreeMap<String, u64> = out
            .stdout
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let (t, n) = (it.next()?, it.next()?);
                (l.starts_with("  ") && it.next().is_none())
                    .then(|| n.parse().ok().map(|n| (t.to_string(), n)))
                    .flatten()
            })
            .collect();
        assert_eq!(shown, counts, "inspect's tables and rows:\n{}", out.stdout);
        for word in [m.id(), m.db(), "metadata.json"] {
            assert!(out.stdout.contains(word), "inspect should show {word:?}");
        }
        let out = env.run(&["--json", "inspect", file]);
        out.assert_code(0, "inspect --json");
        let ev = out
            .events()
            .into_iter()
            .find(|e| e["event"] == "inspect")
            .expect("inspect event");
        assert_eq!(ev["metadata"]["moduleId"], m.id());
        assert_eq!(out.result_path(), backup);
    }
}

fn tar(args: &[&str]) -> String {
    let out = Command::new("tar").args(args).output().expect("run tar");
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn archive_is_a_plain_tar_gz_that_plain_tools_can_check_and_load() {
    let env = common::setup();
    for m in Module::ALL {
        db::seed(m);
        let live = fp::module(m);
        let backup = env.backup(m, m.id());
        let file = backup.to_str().unwrap();
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "archive mode {mode:o}");

        let listed: Vec<String> = tar(&["tzf", file]).lines().map(str::to_string).collect();
        assert_eq!(listed.first().map(String::as_str), Some("metadata.json"));
        assert_eq!(listed.last().map(String::as_str), Some("manifest.json"));

        let dir = env.subdir(&format!("{}-x", m.id()));
        tar(&["xzf", file, "-C", dir.to_str().unwrap()]);
        let meta = archive::metadata(&backup);
        let manifest = archive::manifest(&backup);
        for key in [
            "moduleId",
            "engine",
            "dbName",
            "createdAt",
            "aiServerVersion",
            "components",
        ] {
            assert!(meta.get(key).is_some(), "metadata.json lacks {key}: {meta}");
        }
        assert_eq!(meta["moduleId"], m.id());
        assert_eq!(meta["dbName"], m.db());
        assert_eq!(meta["formatVersion"], 1);
        let entries = manifest["entries"].as_array().expect("entries");
        let mut expected: Vec<String> = entries
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect();
        expected.push("manifest.json".into());
        assert_eq!(listed, expected, "tar's listing and the manifest");
        for e in entries {
            let data = std::fs::read(dir.join(e["path"].as_str().unwrap())).unwrap();
            assert_eq!(e["size"], data.len(), "size of {}", e["path"]);
            assert_eq!(
                e["sha256"],
                archive::sha256_hex(&data),
                "sha256 of {}",
                e["path"]
            );
        }

        // The dump is the parts in order; loaded with the plain client it gives the live data.
        let prefix = format!("{}.part-", meta["db"]["entry"].as_str().unwrap());
        let mut dump = Vec::new();
        for p in listed.iter().filter(|p| p.starts_with(&prefix)) {
            dump.extend(std::fs::read(dir.join(p)).unwrap());
        }
        assert!(!dump.is_empty(), "no dump parts under {prefix}");
        let scratch = "ab_plain_load_check";
        db::reset(m.engine(), scratch);
        db::sql(
            m.engine(),
            scratch,
            &String::from_utf8(dump).expect("UTF-8 dump"),
        );
        let loaded = fp::database(m.engine(), scratch);
        db::drop_db(m.engine(), scratch);
        fp::assert_same(&live, &loaded, "the dump loaded by the plain client");
    }
}

#[test]
fn journal_records_the_swap_with_the_confirmation() {
    let env = common::setup();
    db::seed(Module::OneApi);
    let backup = env.backup(Module::OneApi, "out");
    assert!(!env.journal.exists(), "a backup logs nothing destructive");
    env.restore_ok(Module::OneApi, &backup);
    let text = std::fs::read_to_string(&env.journal).expect("journal written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
        .collect();
    let swap = lines
        .iter()
        .find(|l| l["step"] == "swap")
        .unwrap_or_else(|| panic!("no swap step in the journal:\n{text}"));
    assert_eq!(swap["confirmation"], "--yes", "{swap}");
    assert_eq!(swap["module"], "oneapi", "{swap}");
    assert_eq!(swap["archive"], backup.display().to_string(), "{swap}");
    assert!(
        swap["time"].as_str().is_some_and(|t| t.len() >= 20),
        "{swap}"
    );
    assert!(
        swap["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("oneapi_db"),
        "{swap}"
    );
    for l in &lines {
        assert_eq!(
            l["confirmation"], "--yes",
            "every step records the confirmation: {l}"
        );
    }
    assert!(
        lines.iter().any(|l| l["step"] == "drop-old"),
        "dropping the previous data is logged:\n{text}"
    );
    for secret in [
        docker::stack_secret("POSTGRES_PASSWORD"),
        docker::stack_secret("MARIADB_ROOT_PASSWORD"),
    ] {
        assert!(!text.contains(&secret), "the journal holds a password");
    }
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    let env = common::setup();
    db::seed(Module::N8n);
    let before = fp::module(Module::N8n);
    let out = env.run(&["backup", "no-such-module"]);
    out.assert_code(2, "backup of an unknown module");
    assert!(
        out.stderr.contains("n8n"),
        "known modules are named: {}",
        out.stderr
    );

    let existing = env.path("existing.tar.gz");
    std::fs::write(&existing, b"keep me").unwrap();
    let out = env.run(&["backup", "n8n", "-o", existing.to_str().unwrap()]);
    out.assert_code(2, "backup onto an existing file");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let missing = env.path("no-such-archive.tar.gz");
    let out = env.run(&["restore", "n8n", missing.to_str().unwrap(), "--yes"]);
    out.assert_code(2, "restore of an archive file that does not exist");
    let out = env.run(&["verify", missing.to_str().unwrap()]);
    out.assert_code(2, "verify of an archive file that does not exist");

    fp::assert_same(&before, &fp::module(Module::N8n), "live data");
    docker::assert_apps_running();
}
