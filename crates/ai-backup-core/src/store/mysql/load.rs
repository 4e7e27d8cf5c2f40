//! Loading a dump with least privilege. The dump runs as a temporary user made for this load,
//! with every privilege on the staging database and none elsewhere: no FILE, SUPER, SET USER,
//! GRANT OPTION or global privilege. Its password is random, reaches the client through the
//! environment, and expires in a day. The client runs with `--binary-mode` (no client commands
//! but `DELIMITER`) and `--local-infile=0`, and the dump passes the guard on its way in. The
//! guard rewrites the dump's `DEFINER=` clauses to the load user; afterwards the privileged
//! user re-creates those views, triggers, routines and events with the definers the dump named,
//! and drops the user — on the error paths too; a user left by a killed process is dropped by
//! the next load of the same database.

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

use super::super::dump_guard::{run_guarded, Definer, MysqlScanner};
use super::super::sql::{literal, my_ident};
use super::{MysqlStore, SqlObject};
use crate::error::{Error, Result};
use crate::progress::Cancel;

/// A load user: `'name'@'host'` and its password.
struct LoadUser {
    name: String,
    host: &'static str,
    password: String,
}

impl LoadUser {
    fn account(&self) -> String {
        format!("{}@{}", literal(&self.name), literal(self.host))
    }

    /// How SHOW CREATE prints this user as a definer.
    fn definer(&self) -> String {
        format!("{}@{}", my_ident(&self.name), my_ident(self.host))
    }
}

/// Load users of `db` start with this (`ab_load_` and a hash of the database name; 25 characters
/// in all, under MySQL's limit of 32).
fn user_prefix(db: &str) -> String {
    let hash = hex::encode(&Sha256::digest(db.as_bytes())[..4]);
    format!("ab_load_{hash}_")
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// `db` as a GRANT names it: `_` and `%` are wildcards there.
fn grant_db(db: &str) -> String {
    my_ident(
        &db.replace('\\', "\\\\")
            .replace('_', "\\_")
            .replace('%', "\\%"),
    )
}

impl MysqlStore {
    /// Load `input` into `db` as a temporary user, then finish as the privileged user.
    pub(super) async fn load_least_privilege(
        &self,
        db: &str,
        input: &mut (dyn AsyncRead + Unpin + Send),
        cancel: &Cancel,
    ) -> Result<()> {
        self.drop_leftover_users(db, cancel).await?;
        let user = LoadUser {
            name: format!("{}{}", user_prefix(db), random_hex(4)),
            // The client connects by the socket inside the container, by TCP from this host.
            host: if self.client.tcp.is_some() {
                "%"
            } else {
                "localhost"
            },
            password: random_hex(24),
        };
        let loaded = match self.create_user(db, &user, cancel).await {
            Ok(()) => self.load_as(db, &user, input, cancel).await,
            Err(e) => Err(e),
        };
        let finished = match loaded {
            Ok(definers) => self.put_definers_back(db, &user, &definers, cancel).await,
            Err(e) => Err(e),
        };
        let dropped = self
            .query(
                None,
                &format!("DROP USER IF EXISTS {};", user.account()),
                &Cancel::new(),
            )
            .await
            .map(drop);
        finished.and(dropped)
    }

    async fn create_user(&self, db: &str, user: &LoadUser, cancel: &Cancel) -> Result<()> {
        let sql = format!(
            "CREATE USER {a} IDENTIFIED BY {pw} PASSWORD EXPIRE INTERVAL 1 DAY;\n\
             GRANT ALL PRIVILEGES ON {d}.* TO {a};",
            a = user.account(),
            pw = literal(&user.password),
            d = grant_db(db),
        );
        self.query(None, &sql, cancel).await?;
        Ok(())
    }

    /// The client as `user`, fed through the guard; the definers the dump named.
    async fn load_as(
        &self,
        db: &str,
        user: &LoadUser,
        input: &mut (dyn AsyncRead + Unpin + Send),
        cancel: &Cancel,
    ) -> Result<Vec<Definer>> {
        let (client, _) = self.tool_names(cancel).await?;
        let mut cmd = crate::runner::ToolCommand::new(client).arg(format!("--user={}", user.name));
        if let Some((host, port)) = &self.client.tcp {
            cmd = cmd.args([
                format!("--host={host}"),
                format!("--port={port}"),
                "--protocol=TCP".into(),
            ]);
        }
        let cmd = cmd
            .args(["--batch", "--binary-mode", "--local-infile=0"])
            .arg("--default-character-set=utf8mb4")
            .arg(format!("--database={db}"))
            .secret_env("MYSQL_PWD", Some(&user.password));
        let mut scanner = MysqlScanner::new();
        let runner = self.client.runner.as_ref();
        run_guarded(runner, &cmd, b"", input, &mut scanner, cancel)
            .await?
            .map_err(|e| self.err(&format!("loading the dump into {db}"), e))?;
        Ok(scanner.definers().to_vec())
    }

    /// Re-create, as the privileged user, every object the load user defined, with the definer
    /// the dump named for it.
    async fn put_definers_back(
        &self,
        db: &str,
        user: &LoadUser,
        definers: &[Definer],
        cancel: &Cancel,
    ) -> Result<()> {
        let mine = format!("DEFINER={}", user.definer());
        let mut fixed = Vec::new();
        for def in self.objects(db, cancel).await? {
            if !def.create.contains(&mine) {
                continue;
            }
            let Some(d) = definers.iter().find(|d| def.drop == drop_of(db, d)) else {
                return Err(Error::Store {
                    module: db.into(),
                    store: "MySQL".into(),
                    message: format!(
                        "the dump created an object without naming its definer ({}); mysqldump always names one",
                        def.drop.trim_start_matches("DROP ")
                    ),
                });
            };
            let create = def
                .create
                .replacen(&mine, &format!("DEFINER={}", d.definer), 1);
            fixed.push(SqlObject {
                drop: def.drop,
                create,
            });
        }
        self.drop_objects(db, &fixed, cancel).await?;
        self.create_objects(db, &fixed, cancel).await
    }

    /// Users of earlier loads of `db` whose process was killed before it could drop them.
    async fn drop_leftover_users(&self, db: &str, cancel: &Cancel) -> Result<()> {
        let sql = format!(
            "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE LEFT(User, {}) = {};",
            user_prefix(db).len(),
            literal(&user_prefix(db))
        );
        for account in self.names_of(&sql, cancel).await? {
            self.query(None, &format!("DROP USER IF EXISTS {account};"), cancel)
                .await?;
        }
        Ok(())
    }
}

/// The drop statement `objects` makes for the object `d` names.
fn drop_of(db: &str, d: &Definer) -> String {
    format!(
        "DROP {} IF EXISTS {}.{}",
        d.kind,
        my_ident(db),
        my_ident(&d.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_name_the_staging_database_only() {
        assert_eq!(grant_db("oneapi_db__ab_new"), r"`oneapi\_db\_\_ab\_new`");
        assert_eq!(grant_db("a%b"), r"`a\%b`");
        assert!(user_prefix("oneapi_db__ab_new").len() + 8 <= 32);
    }
}
