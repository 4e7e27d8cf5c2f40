//! Database servers, each kind behind one trait. A store dumps a database as a stream, loads a
//! stream into a new database, counts what a database holds, and swaps a staged database in
//! place of the live one in a step that can be undone, so a restore never writes into the live
//! database before the new content has loaded and checked out.

mod dump_guard;
pub mod elasticsearch;
mod mysql;
mod postgres;
pub mod s3;
mod sql;

use async_trait::async_trait;
use tokio::io::AsyncRead;

pub use mysql::MysqlStore;
pub use postgres::PostgresStore;
pub use sql::{Credentials, SqlClient};

use crate::archive::DbStats;
use crate::config::{Engine, RunnerKind, ServerConfig};
use crate::docker::DockerClient;
use crate::error::{Error, Result};
use crate::progress::Cancel;
use crate::runner::{ContainerRunner, HostRunner, Stdout, ToolRunner};

/// Creation properties of a database, recorded at backup and used to create the new one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbProps {
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub ctype: Option<String>,
    pub owner: Option<String>,
}

/// What a swap does, read before it starts (`plan_swap`) and written to the restore's state
/// file, so that `unswap` or a recovery after a death midway can finish or undo it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Swapped {
    /// The live database's views, triggers, routines and events (MySQL): they cannot move
    /// between databases, so they are dropped and recreated around the table renames.
    pub old_objects: Vec<SqlObject>,
    /// The staged database's, as they are to be created in the live database.
    pub new_objects: Vec<SqlObject>,
    pub old_tables: Vec<String>,
    pub new_tables: Vec<String>,
    pub live_existed: bool,
}

/// A schema object kept as the statements that drop and create it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SqlObject {
    pub drop: String,
    pub create: String,
}

#[async_trait]
pub trait DatabaseStore: Send + Sync {
    fn engine(&self) -> Engine;
    /// "Postgres in container ai-server-postgres", for messages.
    fn describe(&self) -> String;
    async fn version(&self, cancel: &Cancel) -> Result<String>;
    async fn exists(&self, db: &str, cancel: &Cancel) -> Result<bool>;
    /// Databases whose name starts with `prefix` (to find leftovers of an interrupted restore).
    async fn list(&self, prefix: &str, cancel: &Cancel) -> Result<Vec<String>>;
    async fn properties(&self, db: &str, cancel: &Cancel) -> Result<DbProps>;
    async fn stats(&self, db: &str, cancel: &Cancel) -> Result<DbStats>;
    /// The first column of every row `sql` returns in `db` (discovery queries).
    async fn column(&self, db: &str, sql: &str, cancel: &Cancel) -> Result<Vec<String>>;
    /// Stream a complete logical dump of `db` into `out`.
    async fn dump(&self, db: &str, out: Stdout<'_>, cancel: &Cancel) -> Result<()>;
    async fn create(&self, db: &str, props: &DbProps, cancel: &Cancel) -> Result<()>;
    /// Load a dump (as written by `dump`) into the empty database `db`.
    async fn load(
        &self,
        db: &str,
        input: &mut (dyn AsyncRead + Unpin + Send),
        cancel: &Cancel,
    ) -> Result<()>;
    async fn drop_db(&self, db: &str, cancel: &Cancel) -> Result<()>;
    /// What `swap` will do, read without changing anything.
    async fn plan_swap(&self, live: &str, staged: &str, cancel: &Cancel) -> Result<Swapped>;
    /// Put `staged` in place of `live` as `plan` says; the former live content ends up as
    /// `old`. On error the live side is put back as it was before returning.
    async fn swap(
        &self,
        live: &str,
        staged: &str,
        old: &str,
        props: &DbProps,
        plan: &Swapped,
        cancel: &Cancel,
    ) -> Result<()>;
    /// After a death during a swap or its undo: make the schema objects of the side `live`
    /// now holds (the new one when `forward`) whole again. The table moves themselves are
    /// atomic; only the objects around them can be half done.
    async fn settle_swap(
        &self,
        _live: &str,
        _plan: &Swapped,
        _forward: bool,
        _cancel: &Cancel,
    ) -> Result<()> {
        Ok(())
    }
    /// Undo `swap`: `old` becomes `live` again and the content that was swapped in goes back
    /// to `staged`.
    async fn unswap(
        &self,
        live: &str,
        staged: &str,
        old: &str,
        done: &Swapped,
        cancel: &Cancel,
    ) -> Result<()>;
}

/// The store for a configured server, with its tools run where the config says.
///
/// # Errors
/// When the credentials cannot be found or Docker is needed and absent.
pub async fn open(
    server: &ServerConfig,
    docker: Option<&DockerClient>,
) -> Result<Box<dyn DatabaseStore>> {
    let container_env = match (&server.container, docker) {
        (Some(c), Some(d)) => d.env(c).await?,
        _ => None,
    };
    let runner: Box<dyn ToolRunner> = match server.runner {
        RunnerKind::Host => Box::new(HostRunner),
        RunnerKind::Container => {
            let (Some(name), Some(d)) = (&server.container, docker) else {
                return Err(Error::Usage(
                    "the container runner needs a container name and a Docker engine".into(),
                ));
            };
            let state = d.state(name).await?;
            if !state.running {
                return Err(Error::Docker(format!(
                    "container {name} is {}; start it first",
                    if state.exists {
                        "not running"
                    } else {
                        "missing"
                    }
                )));
            }
            Box::new(ContainerRunner::new(d.api().clone(), name.clone()))
        }
    };
    let creds = Credentials::resolve(server, container_env.as_ref());
    let client = SqlClient::new(runner, server, creds);
    Ok(match server.engine {
        Engine::Postgres => Box::new(PostgresStore::new(client)),
        Engine::Mysql => Box::new(MysqlStore::new(client)),
    })
}
