//! Unit tests of the dump guard: real dumps from the test stack (pg_dump 15 and MariaDB 10.11's
//! mysqldump, of databases with COPY data full of backslashes, `$$` bodies, `BEGIN ATOMIC`,
//! triggers, routines, views and events) pass byte for byte apart from the lines the guard is
//! meant to take; crafted lines are refused at the right line, whatever the read sizes.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::{pump, MysqlScanner, PsqlScanner, Scanner};
use crate::error::Error;

const PG_DUMP: &str = include_str!("testdata/pg_fixture.sql");
const MY_DUMP: &str = include_str!("testdata/my_fixture.sql");

/// Hands out its bytes `step` at a time, to cut lines and tokens everywhere.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

async fn guard(scanner: &mut dyn Scanner, input: &str, step: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut src = Trickle {
        data: input.as_bytes(),
        step,
    };
    pump(&mut src, &mut out, scanner).await?;
    Ok(out)
}

fn refused_at(r: Result<Vec<u8>, Error>) -> (u64, String) {
    match r {
        Err(Error::DumpRefused { line, what, .. }) => (line, what),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_real_pg_dump_passes_except_restrict_and_owner_lines() {
    for step in [1, 7, 4096, 1 << 20] {
        let mut s = PsqlScanner::new();
        let out = String::from_utf8(guard(&mut s, PG_DUMP, step).await.unwrap()).unwrap();
        let (ins, outs): (Vec<_>, Vec<_>) = (PG_DUMP.lines().collect(), out.lines().collect());
        assert_eq!(ins.len(), outs.len());
        for (i, o) in ins.iter().zip(&outs) {
            let taken = i.starts_with("\\restrict ")
                || i.starts_with("\\unrestrict ")
                || (i.starts_with("ALTER ") && i.contains(" OWNER TO "));
            assert_eq!(if taken { "" } else { i }, *o);
        }
        let owners: Vec<_> = s.owner_changes().iter().map(|c| c.role.as_str()).collect();
        assert_eq!(owners.len(), 6);
        assert!(owners.iter().all(|r| *r == "aiserver"));
    }
}

#[tokio::test]
async fn long_lines_stream_through_in_copy_data_and_sql() {
    let long = "\\x".repeat(100_000);
    let dump = format!(
        "COPY t (a) FROM stdin;\n\\{long}\n\\.\nCOMMENT ON TABLE t IS '{long}';\nSELECT 1;\n"
    );
    let mut s = PsqlScanner::new();
    assert_eq!(guard(&mut s, &dump, 65_000).await.unwrap(), dump.as_bytes());
    let bad = format!("SELECT '{long}' \\! touch /tmp/x\n");
    let mut s = PsqlScanner::new();
    assert_eq!(refused_at(guard(&mut s, &bad, 4096).await).0, 1);
}

#[tokio::test]
async fn crafted_psql_lines_are_refused_where_they_are() {
    let cases: &[(&str, u64, &str)] = &[
        ("\\! touch /tmp/x\n", 1, "meta-command"),
        (
            "SELECT 1;\n  SELECT 2; \\! touch /tmp/x\n",
            2,
            "meta-command",
        ),
        ("\\connect other_db\n", 1, "meta-command"),
        ("\\c other_db\n", 1, "meta-command"),
        ("\\restrict abc extra\n", 1, "meta-command"),
        ("COMMIT; DROP DATABASE canary_db; BEGIN;\n", 1, "COMMIT"),
        ("SELECT 1;\nDROP\nDATABASE canary_db;\n", 3, "DROP DATABASE"),
        ("/* c */ create database x;\n", 1, "CREATE DATABASE"),
        ("ALTER SYSTEM SET x = 1;\n", 1, "ALTER SYSTEM"),
        ("CREATE ROLE r SUPERUSER;\n", 1, "CREATE ROLE"),
        (
            "SET SESSION AUTHORIZATION postgres;\n",
            1,
            "SESSION AUTHORIZATION",
        ),
        ("COPY (select 1) TO PROGRAM 'touch /tmp/y';\n", 1, "TO"),
        ("COPY t FROM PROGRAM 'touch /tmp/y';\n", 1, "PROGRAM"),
        ("COPY t FROM '/etc/passwd';\n", 1, "file"),
        ("COPY t FROM stdin WITH (FORMAT binary);\n", 1, "options"),
        ("COPY t FROM stdin; \\! ls\n", 1, "after `COPY"),
        (
            "COPY t FROM stdin;\n\\! data\n\\.\n\\! ls\n",
            4,
            "meta-command",
        ),
        ("SELECT 'a\\' \\! ls ';\n", 1, "two ways"),
        ("SELECT 1a$$ $$ \\! ls\n", 1, "right after a name or number"),
        ("SELECT 1a;\n", 1, "letters right after a number"),
        ("SELECT x$$ $$ \\! ls\n", 1, "right after a name"),
        ("SELECT $$ a $$ \\! ls\n", 1, "meta-command"),
    ];
    for (dump, line, what) in cases {
        let mut s = PsqlScanner::new();
        let (l, w) = refused_at(guard(&mut s, dump, 3).await);
        assert_eq!((l, w.contains(what)), (*line, true), "{dump:?}: {w}");
    }
}

#[tokio::test]
async fn quoted_and_commented_backslashes_pass() {
    let ok = [
        "SELECT $f$ \\! no $f$, \"a\\b\", 'c\\d', E'e\\\\f'; -- \\! no\n",
        "/* \\! no /* nested */ \\c no */ SELECT 1;\n",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nSELECT 2;\n",
        "SELECT 1e5, $1, 'it''s';\n",
    ];
    for dump in ok {
        let mut s = PsqlScanner::new();
        assert_eq!(guard(&mut s, dump, 2).await.unwrap(), dump.as_bytes());
    }
}

#[tokio::test]
async fn a_real_mysqldump_passes_with_definers_taken() {
    for step in [1, 13, 1 << 20] {
        let mut s = MysqlScanner::new();
        let out = String::from_utf8(guard(&mut s, MY_DUMP, step).await.unwrap()).unwrap();
        assert_eq!(
            out,
            MY_DUMP.replace("DEFINER=`root`@`localhost`", "DEFINER=CURRENT_USER")
        );
        let mut got: Vec<_> = s
            .definers()
            .iter()
            .map(|d| format!("{} {} {}", d.kind, d.name, d.definer))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                "EVENT ev_noop `root`@`localhost`",
                "FUNCTION twice `root`@`localhost`",
                "PROCEDURE add_note `root`@`localhost`",
                "TRIGGER notes_ai `root`@`localhost`",
                "VIEW v_notes `root`@`localhost`",
            ]
        );
    }
}

#[tokio::test]
async fn crafted_mysql_lines_are_refused_where_they_are() {
    let cases: &[(&str, u64, &str)] = &[
        ("system touch /tmp/z\n", 1, "`system`"),
        ("SELECT 1;\n\\! touch /tmp/z\n", 2, "backslash"),
        ("SELECT 1; \\! touch /tmp/z\n", 1, "backslash"),
        ("source /etc/passwd\n", 1, "`source`"),
        ("\\. /etc/passwd\n", 1, "backslash"),
        ("connect other_db\n", 1, "`connect`"),
        ("\\r other_db\n", 1, "backslash"),
        ("USE other_db;\n", 1, "`use`"),
        ("SELECT 1; USE other_db;\n", 1, "USE"),
        ("DROP DATABASE canary_my;\n", 1, "DROP DATABASE"),
        ("/*!50000 DROP DATABASE canary_my */;\n", 1, "DROP DATABASE"),
        (
            "INSERT INTO other_db.t VALUES (1);\n",
            1,
            "another database",
        ),
        (
            "DROP TABLE IF EXISTS `other_db`.`t`;\n",
            1,
            "another database",
        ),
        (
            "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t;\n",
            1,
            "LOAD",
        ),
        (
            "SET sql_mode = 'NO_BACKSLASH_ESCAPES';\n",
            1,
            "NO_BACKSLASH",
        ),
        ("GRANT ALL ON *.* TO x;\n", 1, "GRANT"),
        (
            "DELIMITER ;;\nSELECT 1;; DROP DATABASE x;;\n",
            2,
            "DROP DATABASE",
        ),
    ];
    for (dump, line, what) in cases {
        let mut s = MysqlScanner::new();
        let (l, w) = refused_at(guard(&mut s, dump, 3).await);
        assert_eq!((l, w.contains(what)), (*line, true), "{dump:?}: {w}");
    }
}

#[test]
fn excerpts_stop_before_string_literals() {
    assert_eq!(
        super::excerpt(b"INSERT INTO `tokens` VALUES (1,'sk-secret');\n"),
        "INSERT INTO `tokens` VALUES (1,…"
    );
    assert_eq!(super::excerpt(b"\\! touch /tmp/x\n"), "\\! touch /tmp/x");
}

/// `AB_GUARD_DUMPS="pg:/path/a.sql my:/path/b.sql" cargo test -- --ignored` checks whole dumps
/// taken from a live stack.
#[tokio::test]
#[ignore]
async fn dumps_named_in_the_environment_pass() {
    let list = std::env::var("AB_GUARD_DUMPS").unwrap_or_default();
    for item in list.split_whitespace() {
        let (kind, path) = item.split_once(':').expect("kind:path");
        let text = std::fs::read_to_string(path).unwrap();
        let mut scanner: Box<dyn Scanner> = match kind {
            "pg" => Box::new(PsqlScanner::new()),
            _ => Box::new(MysqlScanner::new()),
        };
        let out = guard(scanner.as_mut(), &text, 1 << 16).await;
        assert!(out.is_ok(), "{path}: {out:?}");
    }
}

#[tokio::test]
async fn a_client_that_ends_early_ends_the_load_with_its_error() {
    use crate::runner::{HostRunner, ToolCommand, ToolErrorKind};
    let cmd = ToolCommand::new("sh").args(["-c", "head -c 10 >/dev/null; exit 3"]);
    let big = "SELECT 1;\n".repeat(500_000);
    let mut input = big.as_bytes();
    let mut scanner = PsqlScanner::new();
    let cancel = crate::progress::Cancel::new();
    let run = super::run_guarded(&HostRunner, &cmd, b"", &mut input, &mut scanner, &cancel);
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the load ends");
    match got {
        Ok(Err(e)) => assert_eq!(e.kind, ToolErrorKind::Failed(3)),
        other => panic!("expected the client's error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refusal_ends_the_client_before_the_line_reaches_it() {
    use crate::runner::{HostRunner, ToolCommand};
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let cmd = ToolCommand::new("sh").args(["-c", &format!("cat > {}", seen.display())]);
    let mut input = &b"SELECT 1;\n\\! touch /tmp/x\nSELECT 2;\n"[..];
    let mut scanner = PsqlScanner::new();
    let cancel = crate::progress::Cancel::new();
    let got = super::run_guarded(&HostRunner, &cmd, b"", &mut input, &mut scanner, &cancel).await;
    assert!(
        matches!(got, Err(Error::DumpRefused { line: 2, .. })),
        "{got:?}"
    );
    let sent = std::fs::read_to_string(&seen).unwrap_or_default();
    assert!(!sent.contains("touch"), "{sent:?}");
}
