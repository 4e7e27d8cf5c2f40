//! SQL inside the database containers (psql / mysql by `docker exec -i`), and the states the
//! tests put databases in: reset, seeded from a fixture, made big, left over.

use std::time::Duration;

use super::docker::{exec, stack_secret};
use super::{Engine, Module};

fn pg_user() -> String {
    stack_secret("POSTGRES_USER")
}

/// Run SQL with psql in `db`; records are separated by NUL (`-0`), so values may hold newlines.
pub fn try_pg(db: &str, sql: &str) -> Result<String, String> {
    let user = pg_user();
    let out = exec(
        super::PG_CONTAINER,
        &[("PGPASSWORD", stack_secret("POSTGRES_PASSWORD"))],
        &[
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-0",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            &user,
            "-d",
            db,
        ],
        sql.as_bytes(),
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn pg(db: &str, sql: &str) -> String {
    try_pg(db, sql).unwrap_or_else(|e| panic!("psql on {db} failed: {e}\nSQL: {}", short(sql)))
}

/// NUL-separated psql records.
pub fn pg_rows(db: &str, sql: &str) -> Vec<String> {
    pg(db, sql)
        .split('\0')
        .map(|r| r.trim_start_matches('\n').to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

/// Run SQL with the mysql client (default database `db`); batch output, one row a line,
/// fields escaped by the client (`\n`, `\t`) and separated by tabs.
pub fn try_my(db: Option<&str>, sql: &str) -> Result<String, String> {
    let mut argv = vec![
        "mysql",
        "-uroot",
        "--batch",
        "--skip-column-names",
        "--default-character-set=utf8mb4",
    ];
    if let Some(db) = db {
        argv.push(db);
    }
    let out = exec(
        super::MY_CONTAINER,
        &[("MYSQL_PWD", stack_secret("MARIADB_ROOT_PASSWORD"))],
        &argv,
        sql.as_bytes(),
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn my(db: Option<&str>, sql: &str) -> String {
    try_my(db, sql).unwrap_or_else(|e| panic!("mysql on {db:?} failed: {e}\nSQL: {}", short(sql)))
}

pub fn my_rows(db: Option<&str>, sql: &str) -> Vec<String> {
    my(db, sql)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Run SQL in `db` on whichever server holds it.
pub fn sql(engine: Engine, db: &str, sql: &str) -> String {
    match engine {
        Engine::Pg => pg(db, sql),
        Engine::My => my(Some(db), sql),
    }
}

fn short(sql: &str) -> String {
    if sql.len() > 2000 {
        let head: String = sql.chars().take(2000).collect();
        format!("{head}... ({} bytes)", sql.len())
    } else {
        sql.to_string()
    }
}

/// Wait until the server accepts connections and runs a query.
pub fn wait_ready(engine: Engine, timeout: Duration) -> bool {
    super::poll_until(timeout, Duration::from_millis(500), || match engine {
        Engine::Pg => try_pg("postgres", "SELECT 1;").is_ok(),
        Engine::My => try_my(None, "SELECT 1;").is_ok(),
    })
}

/// Databases on the server, without the system ones.
pub fn databases(engine: Engine) -> Vec<String> {
    let mut v = match engine {
        Engine::Pg => pg_rows(
            "postgres",
            "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1;",
        ),
        Engine::My => my_rows(
            None,
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN \
             ('information_schema', 'mysql', 'performance_schema', 'sys') ORDER BY 1;",
        ),
    };
    v.sort();
    v
}

pub fn exists(engine: Engine, db: &str) -> bool {
    databases(engine).iter().any(|d| d == db)
}

/// Drop (if there) and create `db` empty, as the stack creates it.
pub fn reset(engine: Engine, db: &str) {
    match engine {
        Engine::Pg => {
            pg(
                "postgres",
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE);"),
            );
            pg(
                "postgres",
                &format!(
                    "CREATE DATABASE \"{db}\" OWNER \"{}\" ENCODING 'UTF8';",
                    pg_user()
                ),
            );
        }
        Engine::My => {
            my(
                None,
                &format!(
                    "DROP DATABASE IF EXISTS `{db}`;\nCREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
                ),
            );
        }
    }
}

pub fn drop_db(engine: Engine, db: &str) {
    match engine {
        Engine::Pg => pg(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE);"),
        ),
        Engine::My => my(None, &format!("DROP DATABASE IF EXISTS `{db}`;")),
    };
}

/// The module's database, empty.
pub fn reset_empty(m: Module) {
    reset(m.engine(), m.db());
}

/// The module's database, reset and seeded with its fixture.
pub fn seed(m: Module) {
    let path = m.fixture();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {} is missing ({e}); it is written with the stack",
            path.display()
        )
    });
    reset_empty(m);
    sql(m.engine(), m.db(), &text);
}

/// Databases that an interrupted restore leaves beside the live one (`<db>__ab_new`,
/// `<db>__ab_old`), on both servers.
pub fn leftovers() -> Vec<(Engine, String)> {
    let mut out = Vec::new();
    for engine in [Engine::Pg, Engine::My] {
        for d in databases(engine) {
            if d.ends_with("__ab_new") || d.ends_with("__ab_old") {
                out.push((engine, d));
            }
        }
    }
    out
}

/// Remove what earlier failed tests may have left, so they do not break this one.
pub fn drop_leftovers() {
    for (engine, d) in leftovers() {
        eprintln!("[setup] dropping leftover database {d}");
        drop_db(engine, &d);
    }
}

/// Content in the databases of the other modules, so that "untouched" means something.
pub fn ensure_neighbours() {
    let rows = "(1, 'dify neighbour ✓'), (2, E'line\\nbreak'), (3, NULL)";
    for (engine, db) in [
        (Engine::Pg, "ragflow_db"),
        (Engine::My, "dify_db"),
        (Engine::My, "ragflow_db"),
    ] {
        if !exists(engine, db) {
            reset(engine, db);
        }
    }
    pg(
        "ragflow_db",
        &format!(
            "CREATE TABLE IF NOT EXISTS ab_sentinel (id int PRIMARY KEY, v text);\n\
             INSERT INTO ab_sentinel VALUES {rows} ON CONFLICT DO NOTHING;"
        ),
    );
    for db in ["dify_db", "ragflow_db"] {
        my(
            Some(db),
            "CREATE TABLE IF NOT EXISTS ab_sentinel (id int PRIMARY KEY AUTO_INCREMENT, v text);\n\
             INSERT IGNORE INTO ab_sentinel VALUES (1, 'neighbour ✓'), (2, 'line\\nbreak'), (3, NULL);",
        );
    }
}

/// Add a table of about `rows` rows of ~100 bytes to the module's database, so that dumping
/// and loading it take a few seconds.
pub fn add_big_table(m: Module, rows: u64) {
    match m.engine() {
        Engine::Pg => {
            pg(
                m.db(),
                &format!(
                    "CREATE TABLE public.ab_big (id bigint PRIMARY KEY, payload text NOT NULL);\n\
                     INSERT INTO public.ab_big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) \
                     FROM generate_series(1, {rows}) g;"
                ),
            );
        }
        Engine::My => {
            my(
                Some(m.db()),
                &format!(
                    "CREATE TABLE ab_big (id bigint PRIMARY KEY, payload varchar(200) NOT NULL) ENGINE=InnoDB;\n\
                     INSERT INTO ab_big SELECT seq, CONCAT(MD5(seq), MD5(seq * 7), MD5(seq * 13)) \
                     FROM seq_1_to_{rows};"
                ),
            );
        }
    }
}

/// Rows of a table (for checks of what `inspect` shows).
pub fn count(engine: Engine, db: &str, table: &str) -> u64 {
    let q = match engine {
        Engine::Pg => format!("SELECT count(*) FROM {table};"),
        Engine::My => format!("SELECT COUNT(*) FROM {table};"),
    };
    sql(engine, db, &q)
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .parse()
        .unwrap_or_else(|e| panic!("count of {table}: {e}"))
}
