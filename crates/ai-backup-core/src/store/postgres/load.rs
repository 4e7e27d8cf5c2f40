//! Loading a dump with least privilege. The dump runs as a temporary role made for this load:
//! it may log in, owns the staging database (so it creates in it and owns its `public` schema),
//! and nothing else — no superuser, no CREATEDB/CREATEROLE/REPLICATION/BYPASSRLS, no membership
//! (so no `pg_execute_server_program` or server files), valid for one day. Its password is
//! random and reaches psql through the environment. The dump passes the guard on its way in,
//! under psql's own `\restrict` when this psql has it. Afterwards the privileged user gives
//! everything back to the database's recorded owner, runs the held-back `OWNER TO` statements
//! of objects that had another owner, and drops the role — on the error paths too; a role left
//! by a killed process is dropped by the next load of the same database.

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

use super::super::dump_guard::{run_guarded, OwnerChange, PsqlScanner};
use super::super::sql::{pg_ident, pg_literal};
use super::super::DatabaseStore;
use super::{PostgresStore, MAINTENANCE_DB};
use crate::error::Result;
use crate::progress::Cancel;
use crate::runner::{capture, ToolCommand};

/// A load role: its name and password. It inherits (the default): as the database's owner it
/// is a member of `pg_database_owner`, which owns the `public` schema.
pub(super) struct LoadRole {
    name: String,
    password: String,
}

/// Load roles of `db` start with this (`ab_load_` and a hash of the database name).
fn role_prefix(db: &str) -> String {
    let hash = hex::encode(&Sha256::digest(db.as_bytes())[..4]);
    format!("ab_load_{hash}_")
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

impl LoadRole {
    fn new(db: &str) -> Self {
        Self {
            name: format!("{}{}", role_prefix(db), random_hex(4)),
            password: random_hex(24),
        }
    }
}

impl PostgresStore {
    /// Load `input` into `db` as a temporary role, then finish as the privileged user.
    pub(super) async fn load_least_privilege(
        &self,
        db: &str,
        input: &mut (dyn AsyncRead + Unpin + Send),
        cancel: &Cancel,
    ) -> Result<()> {
        let owner = self.owner_of(db, cancel).await?;
        self.drop_leftover_roles(db, &owner, cancel).await?;
        let role = LoadRole::new(db);
        let loaded = match self.create_role(db, &role, cancel).await {
            Ok(()) => self.load_as(db, &role, input, cancel).await,
            Err(e) => Err(e),
        };
        let finished = match loaded {
            Ok(owners) => {
                self.give_back(db, &role.name, &owner, &owners, cancel)
                    .await
            }
            Err(e) => Err(e),
        };
        // Whatever happened, the role goes (with a token of its own: cancel must not skip it).
        let dropped = self.drop_role(db, &role.name, &owner, &Cancel::new()).await;
        finished.and(dropped)
    }

    async fn owner_of(&self, db: &str, cancel: &Cancel) -> Result<String> {
        let sql = format!(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = {};",
            pg_literal(db)
        );
        let rows = self.query(MAINTENANCE_DB, &sql, cancel).await?;
        Ok(rows
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_else(|| self.client.creds.user.clone()))
    }

    async fn create_role(&self, db: &str, role: &LoadRole, cancel: &Cancel) -> Result<()> {
        let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let sql = format!(
            "SET log_statement = 'none';\n\
             CREATE ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
             CONNECTION LIMIT 2 VALID UNTIL {until} PASSWORD {pw};\n\
             ALTER DATABASE {d} OWNER TO {r};",
            r = pg_ident(&role.name),
            until = pg_literal(&until),
            pw = pg_literal(&role.password),
            d = pg_ident(db),
        );
        self.query(MAINTENANCE_DB, &sql, cancel).await?;
        Ok(())
    }

    /// psql as `role`, fed through the guard; the held-back ownership statements.
    async fn load_as(
        &self,
        db: &str,
        role: &LoadRole,
        input: &mut (dyn AsyncRead + Unpin + Send),
        cancel: &Cancel,
    ) -> Result<Vec<OwnerChange>> {
        let mut cmd = ToolCommand::new("psql").args(["-U", &role.name]);
        if let Some((host, port)) = &self.client.tcp {
            cmd = cmd.args(["-h", host, "-p", &port.to_string()]);
        }
        let cmd = cmd
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
            .args(["--no-password", "-d", db])
            .secret_env("PGPASSWORD", Some(&role.password));
        let prefix = match self.has_restrict(cancel).await? {
            true => format!("\\restrict {}\n", random_hex(24)),
            false => String::new(),
        };
        let mut scanner = PsqlScanner::new();
        let runner = self.client.runner.as_ref();
        run_guarded(runner, &cmd, prefix.as_bytes(), input, &mut scanner, cancel)
            .await?
            .map_err(|e| self.err(&format!("loading the dump into {db}"), e))?;
        Ok(scanner.owner_changes().to_vec())
    }

    /// Whether this psql has `\restrict` (15.14, 16.10, 17.6 and later; 13.22, 14.19).
    async fn has_restrict(&self, cancel: &Cancel) -> Result<bool> {
        let cmd = ToolCommand::new("psql").arg("--version");
        let out = capture(self.client.runner.as_ref(), &cmd, "", cancel)
            .await
            .map_err(|e| self.err("psql --version", e))?;
        Ok(restrict_supported(&out))
    }

    /// Everything the role owns goes to `owner`; objects the dump gave to other roles get them.
    async fn give_back(
        &self,
        db: &str,
        role: &str,
        owner: &str,
        owners: &[OwnerChange],
        cancel: &Cancel,
    ) -> Result<()> {
        let mut sql = format!(
            "REASSIGN OWNED BY {} TO {};\n",
            pg_ident(role),
            pg_ident(owner)
        );
        for change in owners.iter().filter(|c| c.role != owner) {
            sql += &change.statement;
            sql.push('\n');
        }
        self.query(db, &sql, cancel).await?;
        Ok(())
    }

    async fn drop_role(&self, db: &str, role: &str, owner: &str, cancel: &Cancel) -> Result<()> {
        let r = pg_ident(role);
        let in_db = format!(
            "REASSIGN OWNED BY {r} TO {};\nDROP OWNED BY {r};\n",
            pg_ident(owner)
        );
        let exists = self.exists(db, cancel).await.unwrap_or(false);
        let cleared = match exists {
            true => self.query(db, &in_db, cancel).await.map(drop),
            false => Ok(()),
        };
        let dropped = self
            .query(MAINTENANCE_DB, &format!("DROP ROLE IF EXISTS {r};"), cancel)
            .await
            .map(drop);
        cleared.and(dropped)
    }

    /// Roles of earlier loads of `db` whose process was killed before it could drop them.
    async fn drop_leftover_roles(&self, db: &str, owner: &str, cancel: &Cancel) -> Result<()> {
        let sql = format!(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, {});",
            pg_literal(&role_prefix(db))
        );
        for role in self
            .query(MAINTENANCE_DB, &sql, cancel)
            .await?
            .into_iter()
            .flatten()
        {
            self.drop_role(db, &role, owner, cancel).await?;
        }
        Ok(())
    }
}

fn restrict_supported(version: &str) -> bool {
    let Some(v) = version
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
    else {
        return false;
    };
    let mut parts = v
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    match major {
        18.. => true,
        17 => minor >= 6,
        16 => minor >= 10,
        15 => minor >= 14,
        14 => minor >= 19,
        13 => minor >= 22,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_is_known_from_the_psql_version() {
        for (v, yes) in [
            ("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", true),
            ("psql (PostgreSQL) 15.3", false),
            ("psql (PostgreSQL) 17.6", true),
            ("psql (PostgreSQL) 18beta1", true),
            ("psql (PostgreSQL) 12.22", false),
        ] {
            assert_eq!(restrict_supported(v), yes, "{v}");
        }
        assert!(role_prefix("n8n_db__ab_new").len() <= 20);
        assert_ne!(LoadRole::new("a").name, LoadRole::new("a").name);
    }
}
