//! Where the Elasticsearch server is and how to log in. The password comes from the config or,
//! when unset, from the server container's `ELASTIC_PASSWORD` (as the official image takes
//! it); it is never printed, not even in `Debug` output.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub const DEFAULT_URL: &str = "http://127.0.0.1:9200";
/// The user the official image's `ELASTIC_PASSWORD` belongs to.
pub const DEFAULT_USER: &str = "elastic";
pub const PASSWORD_ENV: &str = "ELASTIC_PASSWORD";
/// Document transfers at once when the config does not say.
pub const DEFAULT_PARALLEL: usize = 3;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EsConfig {
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// The container running the server, to read `ELASTIC_PASSWORD` from when no password is
    /// configured.
    #[serde(default)]
    pub container: Option<String>,
    /// Document transfers at once: slices of the point in time (or scroll) a backup reads,
    /// `_bulk` requests a restore sends. Default `DEFAULT_PARALLEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

fn default_url() -> String {
    DEFAULT_URL.into()
}

impl Default for EsConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            user: None,
            password: None,
            container: None,
            concurrency: None,
        }
    }
}

impl std::fmt::Debug for EsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("container", &self.container)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl EsConfig {
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// The config with its credentials filled in: the configured password first, else the
    /// container's `ELASTIC_PASSWORD` (`env` is the container's environment, `None` when there
    /// is no container). A password found without a user is the `elastic` user's.
    pub fn resolve(&self, env: Option<&HashMap<String, String>>) -> EsConfig {
        let mut out = self.clone();
        if out.password.is_none() {
            out.password = env
                .and_then(|e| e.get(PASSWORD_ENV))
                .filter(|v| !v.is_empty())
                .cloned();
        }
        if out.password.is_some() && out.user.is_none() {
            out.user = Some(DEFAULT_USER.into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kebab_case_and_refuses_unknown_keys() {
        let c: EsConfig =
            toml::from_str("user = \"u\"\npassword = \"p\"\ncontainer = \"es\"").unwrap();
        assert_eq!(c.url, DEFAULT_URL);
        assert_eq!(c.container.as_deref(), Some("es"));
        assert!(toml::from_str::<EsConfig>("passwd = \"p\"").is_err());
        assert_eq!(toml::from_str::<EsConfig>("").unwrap(), EsConfig::default());
    }

    #[test]
    fn debug_redacts_the_password() {
        let c = EsConfig {
            password: Some("s3cret-pw".into()),
            ..EsConfig::default()
        };
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("s3cret-pw") && dbg.contains("<redacted>"),
            "{dbg}"
        );
    }

    #[test]
    fn resolve_reads_the_container_env_only_when_unset() {
        let env: HashMap<String, String> = [(PASSWORD_ENV.to_string(), "fromenv".to_string())]
            .into_iter()
            .collect();
        let r = EsConfig::default().resolve(Some(&env));
        assert_eq!(r.password.as_deref(), Some("fromenv"));
        assert_eq!(r.user.as_deref(), Some(DEFAULT_USER));
        let set = EsConfig {
            user: Some("admin".into()),
            password: Some("mine".into()),
            ..EsConfig::default()
        };
        let r = set.resolve(Some(&env));
        assert_eq!(
            (r.user.as_deref(), r.password.as_deref()),
            (Some("admin"), Some("mine"))
        );
        let r = EsConfig::default().resolve(None);
        assert_eq!((r.user, r.password), (None, None));
    }
}
