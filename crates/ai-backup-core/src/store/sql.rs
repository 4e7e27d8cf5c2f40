//! What the SQL stores share: credentials (from the config, else the server container's
//! environment), the tool runner, and quoting. Passwords reach the tools through environment
//! variables only.

use std::collections::HashMap;

use crate::config::{Engine, RunnerKind, ServerConfig};
use crate::runner::ToolRunner;

#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.user)
    }
}

impl Credentials {
    /// Config first, then the container's environment, then the engine's defaults.
    pub fn resolve(server: &ServerConfig, env: Option<&HashMap<String, String>>) -> Self {
        let get = |k: &str| {
            env.and_then(|e| e.get(k))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        match server.engine {
            Engine::Postgres => Credentials {
                user: server
                    .user
                    .clone()
                    .or_else(|| get("POSTGRES_USER"))
                    .unwrap_or_else(|| "postgres".into()),
                password: server.password.clone().or_else(|| get("POSTGRES_PASSWORD")),
            },
            Engine::Mysql => {
                let user = server.user.clone().unwrap_or_else(|| "root".into());
                let password = server.password.clone().or_else(|| {
                    if user == "root" {
                        get("MYSQL_ROOT_PASSWORD").or_else(|| get("MARIADB_ROOT_PASSWORD"))
                    } else {
                        get("MYSQL_PASSWORD").or_else(|| get("MARIADB_PASSWORD"))
                    }
                });
                Credentials { user, password }
            }
        }
    }
}

pub struct SqlClient {
    pub runner: Box<dyn ToolRunner>,
    pub creds: Credentials,
    /// Host and port for tools run on this host; `None` inside the container (local socket).
    pub tcp: Option<(String, u16)>,
}

impl SqlClient {
    pub fn new(runner: Box<dyn ToolRunner>, server: &ServerConfig, creds: Credentials) -> Self {
        let default_port = match server.engine {
            Engine::Postgres => 5432,
            Engine::Mysql => 3306,
        };
        let tcp = match server.runner {
            RunnerKind::Host => Some((server.host.clone(), server.port.unwrap_or(default_port))),
            RunnerKind::Container => None,
        };
        Self { runner, creds, tcp }
    }
}

/// `"name"` for Postgres.
pub fn pg_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `` `name` `` for MySQL.
pub fn my_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// A string literal valid in both engines' default modes.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A Postgres string literal (standard_conforming_strings: backslash is not an escape).
pub fn pg_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(pg_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(my_ident("a`b"), "`a``b`");
        assert_eq!(literal("it's a\\b"), "'it''s a\\\\b'");
        assert_eq!(pg_literal("it's a\\b"), "'it''s a\\b'");
    }

    #[test]
    fn credentials_come_from_config_then_env() {
        let mut server: ServerConfig = toml::from_str("engine = \"mysql\"").unwrap();
        let env: HashMap<String, String> =
            [("MARIADB_ROOT_PASSWORD".to_string(), "pw1".to_string())].into();
        let c = Credentials::resolve(&server, Some(&env));
        assert_eq!(
            (c.user.as_str(), c.password.as_deref()),
            ("root", Some("pw1"))
        );
        server.password = Some("pw2".into());
        assert_eq!(
            Credentials::resolve(&server, Some(&env))
                .password
                .as_deref(),
            Some("pw2")
        );
        assert!(!format!("{c:?}").contains("pw1"));

        let pg: ServerConfig = toml::from_str("engine = \"postgres\"").unwrap();
        let env: HashMap<String, String> = [
            ("POSTGRES_USER".to_string(), "ai".to_string()),
            ("POSTGRES_PASSWORD".to_string(), "pw".to_string()),
        ]
        .into();
        let c = Credentials::resolve(&pg, Some(&env));
        assert_eq!((c.user.as_str(), c.password.as_deref()), ("ai", Some("pw")));
        assert_eq!(Credentials::resolve(&pg, None).user, "postgres");
    }
}
