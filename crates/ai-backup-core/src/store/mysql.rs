//! MySQL / MariaDB: mysqldump (or mariadb-dump) out, the mysql client into a new database, and
//! a swap that moves every table in one atomic RENAME TABLE. Views, triggers, routines and
//! events cannot move between databases, so their definitions are read first and re-created;
//! the live ones are kept in memory (and in the journal) to put them back on rollback. The dump
//! is loaded by a temporary user with no rights outside the new database (see `load`).

mod load;

use async_trait::async_trait;
use tokio::io::AsyncRead;
use tokio::sync::OnceCell;

use super::sql::{literal, my_ident, SqlClient};
use super::{DatabaseStore, DbProps, SqlObject, Swapped};
use crate::archive::DbStats;
use crate::config::Engine;
use crate::error::{Error, Result};
use crate::progress::Cancel;
use crate::runner::{capture, Stdout, ToolCommand, ToolErrorKind};

/// Delimiter for scripts that re-create routines (whose bodies contain `;`).
const DELIM: &str = "$$ai_backup$$";

pub struct MysqlStore {
    client: SqlClient,
    /// Which client names this server's image has (MariaDB 11 dropped the mysql* names).
    names: OnceCell<(&'static str, &'static str)>,
}

impl MysqlStore {
    pub fn new(client: SqlClient) -> Self {
        Self {
            client,
            names: OnceCell::new(),
        }
    }

    fn base(&self, program: &str) -> ToolCommand {
        let c = &self.client;
        let mut cmd = ToolCommand::new(program).arg(format!("--user={}", c.creds.user));
        if let Some((host, port)) = &c.tcp {
            cmd = cmd.args([
                format!("--host={host}"),
                format!("--port={port}"),
                "--protocol=TCP".into(),
            ]);
        }
        cmd.secret_env("MYSQL_PWD", c.creds.password.as_deref())
    }

    fn err(&self, context: &str, source: crate::runner::ToolError) -> Error {
        Error::Tool {
            context: format!("MySQL {}: {context}", self.client.runner.location()),
            source: Box::new(source),
        }
    }

    /// (client, dump tool) names present where the tools run.
    async fn tool_names(&self, cancel: &Cancel) -> Result<(&'static str, &'static str)> {
        self.names
            .get_or_try_init(|| async {
                let probe = self.base("mysql").args(["--batch", "-e", "SELECT 1"]);
                match capture(self.client.runner.as_ref(), &probe, "", cancel).await {
                    Ok(_) => Ok(("mysql", "mysqldump")),
                    Err(e) if e.kind == ToolErrorKind::NotStarted => {
                        Ok(("mariadb", "mariadb-dump"))
                    }
                    Err(e) => Err(self.err("connecting", e)),
                }
            })
            .await
            .copied()
    }

    async fn client_cmd(&self, db: Option<&str>, cancel: &Cancel) -> Result<ToolCommand> {
        let (client, _) = self.tool_names(cancel).await?;
        let mut cmd = self.base(client).args([
            "--batch",
            "--skip-column-names",
            "--default-character-set=utf8mb4",
        ]);
        if let Some(db) = db {
            cmd = cmd.arg(format!("--database={db}"));
        }
        Ok(cmd)
    }

    /// Run `sql` (default database `db`); rows of unescaped fields.
    async fn query(
        &self,
        db: Option<&str>,
        sql: &str,
        cancel: &Cancel,
    ) -> Result<Vec<Vec<String>>> {
        let cmd = self.client_cmd(db, cancel).await?;
        let out = capture(self.client.runner.as_ref(), &cmd, sql, cancel)
            .await
            .map_err(|e| self.err(&format!("query on {}", db.unwrap_or("server")), e))?;
        Ok(out
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(unescape).collect())
            .collect())
    }

    async fn names_of(&self, sql: &str, cancel: &Cancel) -> Result<Vec<String>> {
        Ok(self
            .query(None, sql, cancel)
            .await?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect())
    }

    async fn base_tables(&self, db: &str, cancel: &Cancel) -> Result<Vec<String>> {
        self.names_of(
            &format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1;", literal(db)),
            cancel,
        )
        .await
    }

    /// Every view, trigger, routine and event of `db`, with definitions that create them in
    /// whatever database is current (names unqualified).
    async fn objects(&self, db: &str, cancel: &Cancel) -> Result<Vec<SqlObject>> {
        let q = literal(db);
        let qi = my_ident(db);
        let mut out = Vec::new();
        let listing = format!(
            "SELECT 'TRIGGER', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {q}
             UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {q}
             UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {q}
             UNION ALL SELECT 'VIEW', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {q};"
        );
        for row in self.query(None, &listing, cancel).await? {
            let (kind, name) = (row[0].as_str(), row.get(1).cloned().unwrap_or_default());
            let n = my_ident(&name);
            // SHOW CREATE with `db` as the current database prints unqualified names.
            let shown = self
                .query(Some(db), &format!("SHOW CREATE {kind} {n};"), cancel)
                .await?;
            let row = shown.into_iter().next().unwrap_or_default();
            let col = |i: usize| row.get(i).cloned().unwrap_or_default();
            let (mode, create) = match kind {
                "VIEW" => (None, col(1)),
                "TRIGGER" => (Some(col(1)), col(2)),
                "EVENT" => (
                    Some(col(1)),
                    format!(
                        "SET SESSION time_zone = {}{DELIM}\n{}",
                        literal(&col(2)),
                        col(3)
                    ),
                ),
                _ => (Some(col(1)), col(2)),
            };
            if create.is_empty() || create == "NULL" {
                return Err(Error::Store {
                    module: db.into(),
                    store: "MySQL".into(),
                    message: format!(
                        "cannot read the definition of {kind} {name} (missing privilege?)"
                    ),
                });
            }
            let create = match mode {
                Some(m) => format!("SET SESSION sql_mode = {}{DELIM}\n{create}", literal(&m)),
                None => create,
            };
            out.push(SqlObject {
                drop: format!("DROP {kind} IF EXISTS {qi}.{n}"),
                create,
            });
        }
        Ok(out)
    }

    /// Run statements separated by the script delimiter, with `db` current.
    async fn script(&self, db: &str, statements: &[String], cancel: &Cancel) -> Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        let mut sql = format!("DELIMITER {DELIM}\n");
        for s in statements {
            sql += s;
            sql += DELIM;
            sql += "\n";
        }
        self.query(Some(db), &sql, cancel).await?;
        Ok(())
    }

    /// Create objects in `db`; views that depend on views not yet made are retried.
    async fn create_objects(&self, db: &str, defs: &[SqlObject], cancel: &Cancel) -> Result<()> {
        let mut pending: Vec<&SqlObject> = defs.iter().collect();
        while !pending.is_empty() {
            let mut failed = Vec::new();
            let mut last_err = None;
            for d in &pending {
                if let Err(e) = self
                    .script(db, std::slice::from_ref(&d.create), cancel)
                    .await
                {
                    if e.is_cancelled() {
                        return Err(e);
                    }
                    last_err = Some(e);
                    failed.push(*d);
                }
            }
            if failed.len() == pending.len() {
                return Err(last_err.expect("failed"));
            }
            pending = failed;
        }
        Ok(())
    }

    async fn drop_objects(&self, db: &str, defs: &[SqlObject], cancel: &Cancel) -> Result<()> {
        let drops: Vec<String> = defs.iter().map(|d| d.drop.clone()).collect();
        self.script(db, &drops, cancel).await
    }

    async fn rename_tables(
        &self,
        moves: &[(String, String, String)],
        cancel: &Cancel,
    ) -> Result<()> {
        if moves.is_empty() {
            return Ok(());
        }
        let list = moves
            .iter()
            .map(|(from_db, to_db, t)| {
                format!(
                    "{}.{} TO {}.{}",
                    my_ident(from_db),
                    my_ident(t),
                    my_ident(to_db),
                    my_ident(t)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        self.query(None, &format!("RENAME TABLE {list};"), cancel)
            .await?;
        Ok(())
    }
}

/// Undo the mysql client's batch-mode escaping.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[async_trait]
impl DatabaseStore for MysqlStore {
    fn engine(&self) -> Engine {
        Engine::Mysql
    }

    fn describe(&self) -> String {
        format!("MySQL {}", self.client.runner.location())
    }

    async fn version(&self, cancel: &Cancel) -> Result<String> {
        let rows = self
            .query(
                None,
                "SELECT CONCAT(@@version_comment, ' ', VERSION());",
                cancel,
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .unwrap_or_default())
    }

    async fn exists(&self, db: &str, cancel: &Cancel) -> Result<bool> {
        let rows = self
            .query(
                None,
                &format!(
                    "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {};",
                    literal(db)
                ),
                cancel,
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn list(&self, prefix: &str, cancel: &Cancel) -> Result<Vec<String>> {
        let all = self
            .names_of(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1;",
                cancel,
            )
            .await?;
        Ok(all.into_iter().filter(|d| d.starts_with(prefix)).collect())
    }

    async fn properties(&self, db: &str, cancel: &Cancel) -> Result<DbProps> {
        let rows = self
            .query(
                None,
                &format!("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {};", literal(db)),
                cancel,
            )
            .await?;
        let r = rows.into_iter().next().unwrap_or_default();
        Ok(DbProps {
            charset: r.first().cloned(),
            collation: r.get(1).cloned(),
            ..Default::default()
        })
    }

    async fn stats(&self, db: &str, cancel: &Cancel) -> Result<DbStats> {
        let mut s = DbStats::default();
        let tables = self.base_tables(db, cancel).await?;
        if !tables.is_empty() {
            let counts = tables
                .iter()
                .map(|t| {
                    format!(
                        "SELECT {}, COUNT(*) FROM {}.{}",
                        literal(t),
                        my_ident(db),
                        my_ident(t)
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            for row in self.query(None, &(counts + ";"), cancel).await? {
                s.tables.insert(
                    row[0].clone(),
                    row.get(1).and_then(|v| v.parse().ok()).unwrap_or(0),
                );
            }
        }
        let q = literal(db);
        let listing = format!(
            "SELECT 'V', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {q}
             UNION ALL SELECT 'R', CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {q}
             UNION ALL SELECT 'G', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {q}
             UNION ALL SELECT 'E', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {q}
             UNION ALL SELECT 'B', CAST(COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {q};"
        );
        for row in self.query(None, &listing, cancel).await? {
            let v = row.get(1).cloned().unwrap_or_default();
            match row[0].as_str() {
                "V" => s.views.push(v),
                "R" => s.routines.push(v),
                "G" => s.triggers.push(v),
                "E" => s.events.push(v),
                "B" => s.bytes = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        s.views.sort();
        s.routines.sort();
        s.triggers.sort();
        s.events.sort();
        Ok(s)
    }

    async fn column(&self, db: &str, sql: &str, cancel: &Cancel) -> Result<Vec<String>> {
        let sql = format!("{};", sql.trim().trim_end_matches(';'));
        Ok(self
            .query(Some(db), &sql, cancel)
            .await?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect())
    }

    async fn dump(&self, db: &str, out: Stdout<'_>, cancel: &Cancel) -> Result<()> {
        let (_, dump) = self.tool_names(cancel).await?;
        let cmd = self.base(dump).args([
            "--single-transaction",
            "--quick",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--no-tablespaces",
            "--skip-dump-date",
            "--default-character-set=utf8mb4",
            db,
        ]);
        self.client
            .runner
            .run(&cmd, None, out, cancel)
            .await
            .map_err(|e| self.err(&format!("dump of {db}"), e))?;
        Ok(())
    }

    async fn create(&self, db: &str, props: &DbProps, cancel: &Cancel) -> Result<()> {
        let mut sql = format!("CREATE DATABASE {}", my_ident(db));
        if let Some(c) = &props.charset {
            sql += &format!(" CHARACTER SET {}", my_ident(c));
        }
        if let Some(c) = &props.collation {
            sql += &format!(" COLLATE {}", my_ident(c));
        }
        self.query(None, &(sql + ";"), cancel).await?;
        Ok(())
    }

    async fn load(
        &self,
        db: &str,
        input: &mut (dyn AsyncRead + Unpin + Send),
        cancel: &Cancel,
    ) -> Result<()> {
        self.load_least_privilege(db, input, cancel).await
    }

    async fn drop_db(&self, db: &str, cancel: &Cancel) -> Result<()> {
        // A client still loading into it (after a cancel) would block the drop: end it first.
        let ids = self
            .names_of(&format!("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = {} AND ID <> CONNECTION_ID();", literal(db)), cancel)
            .await?;
        for id in ids.iter().filter(|i| i.bytes().all(|b| b.is_ascii_digit())) {
            let _ = self.query(None, &format!("KILL {id};"), cancel).await;
        }
        self.query(
            None,
            &format!("DROP DATABASE IF EXISTS {};", my_ident(db)),
            cancel,
        )
        .await?;
        Ok(())
    }

    async fn plan_swap(&self, live: &str, staged: &str, cancel: &Cancel) -> Result<Swapped> {
        let live_existed = self.exists(live, cancel).await?;
        let (old_objects, old_tables) = if live_existed {
            (
                self.objects(live, cancel).await?,
                self.base_tables(live, cancel).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let new_objects = self
            .objects(staged, cancel)
            .await?
            .into_iter()
            .map(|d| SqlObject {
                drop: d.drop.replace(&my_ident(staged), &my_ident(live)),
                create: d.create,
            })
            .collect();
        Ok(Swapped {
            old_objects,
            new_objects,
            old_tables,
            new_tables: self.base_tables(staged, cancel).await?,
            live_existed,
        })
    }

    async fn swap(
        &self,
        live: &str,
        staged: &str,
        old: &str,
        props: &DbProps,
        plan: &Swapped,
        cancel: &Cancel,
    ) -> Result<()> {
        if !plan.live_existed {
            self.create(live, props, cancel).await?;
        }
        // Objects that cannot move between databases are taken off both sides first.
        let staged_drops: Vec<String> = plan
            .new_objects
            .iter()
            .map(|d| d.drop.replace(&my_ident(live), &my_ident(staged)))
            .collect();
        self.script(staged, &staged_drops, cancel).await?;
        self.drop_objects(live, &plan.old_objects, cancel).await?;
        crate::engine::state::pause_at("swap-objects-dropped");
        if !self.exists(old, cancel).await? {
            self.create(old, props, cancel).await?;
        }
        let mut moves: Vec<(String, String, String)> = plan
            .old_tables
            .iter()
            .map(|t| (live.to_string(), old.to_string(), t.clone()))
            .collect();
        moves.extend(
            plan.new_tables
                .iter()
                .map(|t| (staged.to_string(), live.to_string(), t.clone())),
        );
        let moved = self.rename_tables(&moves, cancel).await;
        let created = match moved {
            Ok(()) => {
                crate::engine::state::pause_at("swap-tables-moved");
                self.create_objects(live, &plan.new_objects, cancel).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = created {
            // Put the live side back as it was before returning the error.
            if self
                .rename_tables_back(live, staged, old, plan, cancel)
                .await
                .is_ok()
            {
                let _ = self.settle_swap(live, plan, false, &Cancel::new()).await;
            }
            return Err(e);
        }
        if let Some(cs) = &props.charset {
            let mut sql = format!(
                "ALTER DATABASE {} CHARACTER SET {}",
                my_ident(live),
                my_ident(cs)
            );
            if let Some(c) = &props.collation {
                sql += &format!(" COLLATE {}", my_ident(c));
            }
            let _ = self.query(None, &(sql + ";"), cancel).await;
        }
        Ok(())
    }

    async fn unswap(
        &self,
        live: &str,
        staged: &str,
        old: &str,
        done: &Swapped,
        cancel: &Cancel,
    ) -> Result<()> {
        self.drop_objects(live, &done.new_objects, cancel).await?;
        self.rename_tables_back(live, staged, old, done, cancel)
            .await?;
        self.create_objects(live, &done.old_objects, cancel).await
    }

    async fn settle_swap(
        &self,
        live: &str,
        plan: &Swapped,
        forward: bool,
        cancel: &Cancel,
    ) -> Result<()> {
        let (gone, wanted) = if forward {
            (&plan.old_objects, &plan.new_objects)
        } else {
            (&plan.new_objects, &plan.old_objects)
        };
        self.drop_objects(live, gone, cancel).await?;
        self.drop_objects(live, wanted, cancel).await?;
        self.create_objects(live, wanted, cancel).await
    }
}

impl MysqlStore {
    async fn rename_tables_back(
        &self,
        live: &str,
        staged: &str,
        old: &str,
        done: &Swapped,
        cancel: &Cancel,
    ) -> Result<()> {
        if !self.exists(staged, cancel).await? {
            self.create(staged, &DbProps::default(), cancel).await?;
        }
        let present = self.base_tables(live, cancel).await?;
        let mut moves: Vec<(String, String, String)> = done
            .new_tables
            .iter()
            .filter(|t| present.contains(t))
            .map(|t| (live.to_string(), staged.to_string(), t.clone()))
            .collect();
        let in_old = self.base_tables(old, cancel).await?;
        moves.extend(
            done.old_tables
                .iter()
                .filter(|t| in_old.contains(t))
                .map(|t| (old.to_string(), live.to_string(), t.clone())),
        );
        self.rename_tables(&moves, cancel).await
    }
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn batch_fields_are_unescaped() {
        assert_eq!(unescape(r"a\tb\nc\\d\0"), "a\tb\nc\\d\0");
        assert_eq!(unescape(r"plain"), "plain");
        assert_eq!(unescape(r"end\"), "end\\");
    }
}
