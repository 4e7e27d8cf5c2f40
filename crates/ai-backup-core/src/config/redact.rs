//! What `ai-backup config` shows: the configuration without its secrets. Passwords and keys
//! are replaced, and so are credentials written inside any URL: the user and password of
//! `scheme://user:password@host`, and the value of every query parameter whose name says it
//! holds a secret (`?token=`, `?api_key=`, `&password=` ...).

use super::Config;

/// What a removed credential is replaced with.
pub const REDACTED: &str = "<redacted>";

impl Config {
    /// The effective configuration as TOML, with every password and every credential inside
    /// a URL (`user:password@`, `?token=`) replaced.
    pub fn redacted(&self) -> String {
        let mut copy = self.clone();
        for server in copy.servers.values_mut() {
            if server.password.is_some() {
                server.password = Some(REDACTED.into());
            }
        }
        for store in copy.object_stores.values_mut() {
            *store = store.redacted();
        }
        for es in copy.search.values_mut() {
            if es.password.is_some() {
                es.password = Some(REDACTED.into());
            }
        }
        let Ok(mut value) = toml::Value::try_from(&copy) else {
            return String::new();
        };
        redact_urls(&mut value);
        toml::to_string_pretty(&value).unwrap_or_default()
    }
}

/// Query parameter names (lower case) containing one of these hold a secret.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "key",
    "auth",
    "signature",
    "credential",
    "session",
];

/// `url` without its credentials; anything that is not a `scheme://` URL comes back as it is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{REDACTED}@{host}"),
        None => authority.to_string(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((t, f)) => (t, Some(f)),
        None => (tail, None),
    };
    let mut out = format!("{scheme}://{authority}");
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            out.push_str(&redact_query(query));
        }
        None => out.push_str(before_fragment),
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if holds_secret(name) => format!("{name}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn holds_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// Redact every URL among the string values of `value`, however deep.
pub fn redact_urls(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) => *s = redact_url(s),
        toml::Value::Array(items) => items.iter_mut().for_each(redact_urls),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| redact_urls(v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_inside_urls_are_removed() {
        for (url, shown) in [
            (
                "http://elastic:changeme@127.0.0.1:9200",
                "http://<redacted>@127.0.0.1:9200",
            ),
            (
                "https://user@es.local/prefix?x=1",
                "https://<redacted>@es.local/prefix?x=1",
            ),
            (
                "http://a:b@c@host:5678/healthz?token=t0k&v=2&API_KEY=k#top",
                "http://<redacted>@host:5678/healthz?token=<redacted>&v=2&API_KEY=<redacted>#top",
            ),
            (
                "http://host/p?password=pw&sessionId=s&plain",
                "http://host/p?password=<redacted>&sessionId=<redacted>&plain",
            ),
            ("http://127.0.0.1:9200", "http://127.0.0.1:9200"),
            ("http://host/a@b", "http://host/a@b"),
            (
                "npipe:////./pipe/docker_engine",
                "npipe:////./pipe/docker_engine",
            ),
            ("ai-server-n8n", "ai-server-n8n"),
            ("user:pass@host", "user:pass@host"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn config_shows_no_credential_of_any_url() {
        let mut c = Config::builtin();
        let es = c.search.values_mut().next().unwrap();
        es.url = "http://elastic:es-pass@127.0.0.1:9200".into();
        let n8n = c.modules.get_mut("n8n").unwrap();
        n8n.health.url = Some("http://admin:hp@127.0.0.1:5678/healthz?access_token=tk".into());
        let shown = c.redacted();
        for secret in ["es-pass", "elastic:", "admin", "hp@", "tk"] {
            assert!(!shown.contains(secret), "{secret} in\n{shown}");
        }
        assert!(
            shown.contains("http://<redacted>@127.0.0.1:9200"),
            "{shown}"
        );
        assert!(shown.contains("healthz?access_token=<redacted>"), "{shown}");
    }

    #[test]
    fn every_url_of_a_table_is_redacted() {
        let mut v: toml::Value = toml::from_str(
            "a = \"http://u:p@h\"\n[t]\nlist = [\"x\", \"http://h/?key=k\"]\nn = 3\n",
        )
        .unwrap();
        redact_urls(&mut v);
        let shown = toml::to_string(&v).unwrap();
        assert!(
            !shown.contains("u:p") && !shown.contains("key=k"),
            "{shown}"
        );
        assert_eq!(shown.matches(REDACTED).count(), 2, "{shown}");
    }
}
