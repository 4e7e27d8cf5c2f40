//! PostgreSQL: pg_dump (plain SQL) out, psql in a single transaction into a new database, and
//! a swap by renaming databases inside one transaction, which is atomic and cheap. The dump is
//! loaded by a temporary role with no rights outside the new database (see `load`).

mod load;

use async_trait::async_trait;
use tokio::io::AsyncRead;

use super::sql::{pg_ident, pg_literal, SqlClient};
use super::{DatabaseStore, DbProps, Swapped};
use crate::archive::DbStats;
use crate::config::Engine;
use crate::error::{Error, Result};
use crate::progress::Cancel;
use crate::runner::{capture, Stdout, ToolCommand};

const SEP: char = '\u{1f}';
const MAINTENANCE_DB: &str = "postgres";

pub struct PostgresStore {
    client: SqlClient,
}

impl PostgresStore {
    pub fn new(client: SqlClient) -> Self {
        Self { client }
    }

    fn command(&self, program: &str) -> ToolCommand {
        let c = &self.client;
        let mut cmd = ToolCommand::new(program).args(["-U", &c.creds.user]);
        if let Some((host, port)) = &c.tcp {
            cmd = cmd.args(["-h", host, "-p", &port.to_string()]);
        }
        cmd.secret_env("PGPASSWORD", c.creds.password.as_deref())
    }

    fn err(&self, context: &str, source: crate::runner::ToolError) -> Error {
        Error::Tool {
            context: format!("Postgres {}: {context}", self.client.runner.location()),
            source: Box::new(source),
        }
    }

    /// Run `sql` in `db`; rows of fields.
    async fn query(&self, db: &str, sql: &str, cancel: &Cancel) -> Result<Vec<Vec<String>>> {
        let cmd = self
            .command("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F"])
            .arg(SEP.to_string())
            .args(["-d", db]);
        let out = capture(self.client.runner.as_ref(), &cmd, sql, cancel)
            .await
            .map_err(|e| self.err(&format!("query on {db}"), e))?;
        Ok(out
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(SEP).map(str::to_string).collect())
            .collect())
    }

    async fn terminate(&self, dbs: &[&str], cancel: &Cancel) -> Result<()> {
        let list = dbs
            .iter()
            .map(|d| pg_literal(d))
            .collect::<Vec<_>>()
            .join(",");
        self.query(
            MAINTENANCE_DB,
            &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ({list}) AND pid <> pg_backend_pid();"),
            cancel,
        )
        .await?;
        Ok(())
    }

    /// Rename databases in one transaction, retrying while a straggling session holds one.
    async fn renames(&self, pairs: &[(&str, &str)], cancel: &Cancel) -> Result<()> {
        let mut sql = String::from("BEGIN;\n");
        for (from, to) in pairs {
            sql += &format!(
                "ALTER DATABASE {} RENAME TO {};\n",
                pg_ident(from),
                pg_ident(to)
            );
        }
        sql += "COMMIT;\n";
        let names: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        let mut last = None;
        for _ in 0..5 {
            self.terminate(&names, cancel).await?;
            match self.query(MAINTENANCE_DB, &sql, cancel).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_cancelled() => return Err(e),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        Err(last.expect("tried"))
    }
}

const STATS_SQL: &str = r#"
WITH rels AS (
  SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
)
SELECT 'T', quote_ident(nspname) || '.' || quote_ident(relname),
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', nspname, relname), false, true, '')))[1]::text
  FROM rels WHERE relkind IN ('r', 'p')
UNION ALL SELECT 'V', quote_ident(nspname) || '.' || quote_ident(relname), '' FROM rels WHERE relkind IN ('v', 'm')
UNION ALL SELECT 'S', quote_ident(schemaname) || '.' || quote_ident(sequencename), COALESCE(last_value, 0)::text FROM pg_sequences
  WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL SELECT 'R', quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', ''
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL SELECT 'G', quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(t.tgname), ''
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal
UNION ALL SELECT 'B', current_database(), pg_database_size(current_database())::text;
"#;

#[async_trait]
impl DatabaseStore for PostgresStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn describe(&self) -> String {
        format!("Postgres {}", self.client.runner.location())
    }

    async fn version(&self, cancel: &Cancel) -> Result<String> {
        let rows = self
            .query(MAINTENANCE_DB, "SELECT version();", cancel)
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
                MAINTENANCE_DB,
                &format!(
                    "SELECT 1 FROM pg_database WHERE datname = {};",
                    pg_literal(db)
                ),
                cancel,
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn list(&self, prefix: &str, cancel: &Cancel) -> Result<Vec<String>> {
        let rows = self
            .query(
                MAINTENANCE_DB,
                &format!(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, {}) ORDER BY 1;",
                    pg_literal(prefix)
                ),
                cancel,
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect())
    }

    async fn properties(&self, db: &str, cancel: &Cancel) -> Result<DbProps> {
        let rows = self
            .query(
                MAINTENANCE_DB,
                &format!(
                    "SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) FROM pg_database WHERE datname = {};",
                    pg_literal(db)
                ),
                cancel,
            )
            .await?;
        let r = rows.into_iter().next().unwrap_or_default();
        let get = |i: usize| r.get(i).filter(|v| !v.is_empty()).cloned();
        Ok(DbProps {
            charset: get(0),
            collation: get(1),
            ctype: get(2),
            owner: get(3),
        })
    }

    async fn stats(&self, db: &str, cancel: &Cancel) -> Result<DbStats> {
        let mut s = DbStats::default();
        for row in self.query(db, STATS_SQL, cancel).await? {
            let (kind, name, value) = (
                row[0].as_str(),
                row.get(1).cloned().unwrap_or_default(),
                row.get(2).cloned().unwrap_or_default(),
            );
            match kind {
                "T" => {
                    s.tables.insert(name, value.parse().unwrap_or(0));
                }
                "V" => s.views.push(name),
                "S" => {
                    s.sequences.insert(name, value.parse().unwrap_or(0));
                }
                "R" => s.routines.push(name),
                "G" => s.triggers.push(name),
                "B" => s.bytes = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        s.views.sort();
        s.routines.sort();
        s.triggers.sort();
        Ok(s)
    }

    async fn column(&self, db: &str, sql: &str, cancel: &Cancel) -> Result<Vec<String>> {
        let sql = format!("{};", sql.trim().trim_end_matches(';'));
        Ok(self
            .query(db, &sql, cancel)
            .await?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect())
    }

    async fn dump(&self, db: &str, out: Stdout<'_>, cancel: &Cancel) -> Result<()> {
        let cmd = self.command("pg_dump").args([
            "--format=plain",
            "--encoding=UTF8",
            "--no-password",
            "-d",
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
        let mut sql = format!("CREATE DATABASE {} WITH TEMPLATE template0", pg_ident(db));
        if let Some(owner) = &props.owner {
            let found = self
                .query(
                    MAINTENANCE_DB,
                    &format!(
                        "SELECT 1 FROM pg_roles WHERE rolname = {};",
                        pg_literal(owner)
                    ),
                    cancel,
                )
                .await?;
            if !found.is_empty() {
                sql += &format!(" OWNER {}", pg_ident(owner));
            }
        }
        if let Some(e) = &props.charset {
            sql += &format!(" ENCODING {}", pg_literal(e));
        }
        if let Some(c) = &props.collation {
            sql += &format!(" LC_COLLATE {}", pg_literal(c));
        }
        if let Some(c) = &props.ctype {
            sql += &format!(" LC_CTYPE {}", pg_literal(c));
        }
        self.query(MAINTENANCE_DB, &(sql + ";"), cancel).await?;
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
        self.terminate(&[db], cancel).await?;
        self.query(
            MAINTENANCE_DB,
            &format!("DROP DATABASE IF EXISTS {};", pg_ident(db)),
            cancel,
        )
        .await?;
        Ok(())
    }

    async fn plan_swap(&self, live: &str, _staged: &str, cancel: &Cancel) -> Result<Swapped> {
        Ok(Swapped {
            live_existed: self.exists(live, cancel).await?,
            ..Default::default()
        })
    }

    /// Both renames in one transaction: either both happen or neither.
    async fn swap(
        &self,
        live: &str,
        staged: &str,
        old: &str,
        _props: &DbProps,
        plan: &Swapped,
        cancel: &Cancel,
    ) -> Result<()> {
        if plan.live_existed {
            self.renames(&[(live, old), (staged, live)], cancel).await
        } else {
            self.renames(&[(staged, live)], cancel).await
        }
    }

    async fn unswap(
        &self,
        live: &str,
        staged: &str,
        old: &str,
        done: &Swapped,
        cancel: &Cancel,
    ) -> Result<()> {
        if done.live_existed {
            self.renames(&[(live, staged), (old, live)], cancel).await
        } else {
            self.renames(&[(live, staged)], cancel).await
        }
    }
}
