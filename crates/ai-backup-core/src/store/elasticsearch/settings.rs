//! Index settings Elasticsearch sets itself, and index-name rules. `GET /<index>` returns
//! settings such as `index.uuid` and `index.version.created` that `PUT /<index>` refuses
//! ("private index setting [...] can not be set explicitly", "unknown setting [...]"), and
//! others (`index.creation_date`) it accepts but that would be wrong on a new index. They are
//! listed here, in one place, and stripped from every definition a restore sends. The
//! wildcard rules keep one module's index patterns from reaching another module's indices.

use serde_json::{Map, Value};

/// Settings (flat keys) that Elasticsearch manages itself and that a new index must not get.
pub const PRIVATE_SETTINGS: &[&str] = &[
    "index.uuid",
    "index.creation_date",
    "index.creation_date_string",
    "index.provided_name",
    "index.history.uuid",
    "index.verified_before_close",
    // Set by ES when a disk reached the flood stage; copied, it would block the load.
    "index.blocks.read_only_allow_delete",
];

/// Prefixes of settings that Elasticsearch manages itself (`index.version.created`,
/// `index.resize.source.uuid`, ...).
pub const PRIVATE_PREFIXES: &[&str] = &[
    "index.version.",
    "index.resize.",
    "index.shrink.",
    "index.split.",
    "index.routing.allocation.initial_recovery.",
    "index.store.snapshot.",
    "index.downsample.",
];

/// Settings that a clone (shrink, split) writes into the new index with their default value
/// although the source does not set them: `(key, default)`.
pub const RESIZE_DEFAULTS: &[(&str, &str)] = &[("index.routing_partition_size", "1")];

/// True when `key` (flat, with or without the `index.` prefix) is managed by Elasticsearch.
pub fn is_private(key: &str) -> bool {
    let owned;
    let key = if key.starts_with("index.") {
        key
    } else {
        owned = format!("index.{key}");
        &owned
    };
    PRIVATE_SETTINGS.contains(&key) || PRIVATE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Remove the private settings from flat settings (`{"index.number_of_shards": "1", ...}`).
/// Returns the keys removed.
pub fn strip_private(settings: &mut Map<String, Value>) -> Vec<String> {
    let gone: Vec<String> = settings.keys().filter(|k| is_private(k)).cloned().collect();
    for k in &gone {
        settings.remove(k);
    }
    gone
}

/// Remove the `RESIZE_DEFAULTS` that have their default value from flat settings, so that
/// the definition of a clone equals its source's. Returns the keys removed.
pub fn strip_resize_defaults(settings: &mut Map<String, Value>) -> Vec<String> {
    let gone: Vec<String> = RESIZE_DEFAULTS
        .iter()
        .filter(|(k, default)| {
            matches!(settings.get(*k), Some(Value::String(v)) if v == default)
                || settings.get(*k).and_then(Value::as_u64) == default.parse().ok()
        })
        .map(|(k, _)| (*k).to_string())
        .collect();
    for k in &gone {
        settings.remove(k);
    }
    gone
}

/// Flatten nested settings (`{"index": {"number_of_shards": "1"}}`) into flat keys
/// (`{"index.number_of_shards": "1"}`), adding `index.` where it is missing. Lists and scalars
/// are leaves, as in `?flat_settings=true`.
pub fn flatten(settings: &Map<String, Value>) -> Map<String, Value> {
    fn walk(prefix: &str, node: &Map<String, Value>, out: &mut Map<String, Value>) {
        for (k, v) in node {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(m) => walk(&key, m, out),
                leaf => {
                    let key = if key.starts_with("index.") {
                        key
                    } else {
                        format!("index.{key}")
                    };
                    out.insert(key, leaf.clone());
                }
            }
        }
    }
    let mut out = Map::new();
    walk("", settings, &mut out);
    out
}

/// Elasticsearch's wildcard match for index expressions: `*` matches any run of characters,
/// everything else matches itself.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

const FORBIDDEN: &[char] = &[
    ',', ' ', '"', '\\', '/', '<', '>', '|', '?', '#', ':', '\t', '\n',
];

/// A module's index pattern: one index name, or one expression with `*`. Lists, exclusions
/// (`-x`), `_all`, cross-cluster (`c:x`) and date math (`<x-{now}>`) are refused so that a
/// pattern means exactly what it says.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.chars().all(|c| c == '*') {
        return Err(format!(
            "index pattern {pattern:?} would match every index; name the module's indices"
        ));
    }
    if pattern == "_all" || pattern.starts_with(['-', '+', '_']) {
        return Err(format!(
            "index pattern {pattern:?} is not allowed (no _all, exclusions or names starting with _, - or +)"
        ));
    }
    if let Some(c) = pattern.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(format!(
            "index pattern {pattern:?} contains {c:?}; give one pattern per entry, with only * as wildcard"
        ));
    }
    Ok(())
}

/// A concrete index name (what delete, create, dump and load take).
pub fn check_name(name: &str) -> Result<(), String> {
    check_pattern(name)?;
    if name.contains('*') {
        return Err(format!(
            "{name:?} is a pattern; this needs a concrete index name"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not an index name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_private_settings_only() {
        let mut s = json!({
            "index.uuid": "u", "index.creation_date": "1", "index.provided_name": "x",
            "index.version.created": "8110099", "index.version.upgraded": "1",
            "index.history.uuid": "h", "index.resize.source.uuid": "r",
            "index.routing.allocation.initial_recovery._id": "n",
            "index.number_of_shards": "2", "index.number_of_replicas": "0",
            "index.analysis.analyzer.a.type": "custom",
            "index.routing.allocation.include._tier_preference": "data_content",
            "index.refresh_interval": "1s"
        })
        .as_object()
        .unwrap()
        .clone();
        let mut gone = strip_private(&mut s);
        gone.sort();
        assert_eq!(gone.len(), 8, "{gone:?}");
        let kept: Vec<&str> = s.keys().map(String::as_str).collect();
        assert_eq!(
            kept,
            [
                "index.analysis.analyzer.a.type",
                "index.number_of_replicas",
                "index.number_of_shards",
                "index.refresh_interval",
                "index.routing.allocation.include._tier_preference",
            ]
        );
        assert!(is_private("uuid") && is_private("version.created"));
        assert!(!is_private("index.versioning") && !is_private("index.uuids"));
    }

    #[test]
    fn strips_resize_defaults_only_at_their_default() {
        let mut s = json!({"index.routing_partition_size": "1", "index.number_of_shards": "2"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            strip_resize_defaults(&mut s),
            ["index.routing_partition_size"]
        );
        assert_eq!(Value::Object(s), json!({"index.number_of_shards": "2"}));
        let mut s = json!({"index.routing_partition_size": 1})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(strip_resize_defaults(&mut s).len(), 1);
        let mut s = json!({"index.routing_partition_size": "3"})
            .as_object()
            .unwrap()
            .clone();
        assert!(strip_resize_defaults(&mut s).is_empty());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn flattens_nested_settings() {
        let nested = json!({"index": {"number_of_shards": "1", "analysis": {"analyzer": {
            "a": {"filter": ["lowercase"]}}}}, "refresh_interval": "5s"});
        let flat = flatten(nested.as_object().unwrap());
        assert_eq!(
            Value::Object(flat),
            json!({"index.number_of_shards": "1", "index.analysis.analyzer.a.filter": ["lowercase"],
                   "index.refresh_interval": "5s"})
        );
    }

    #[test]
    fn wildcards_follow_es() {
        assert!(wildcard_match("ragflow_*", "ragflow_abc"));
        assert!(wildcard_match("ragflow_*", "ragflow_"));
        assert!(!wildcard_match("ragflow_*", "ragflowx"));
        assert!(!wildcard_match("ragflow_*", "xragflow_a"));
        assert!(wildcard_match(
            "vector_index_*_node",
            "vector_index_42_node"
        ));
        assert!(!wildcard_match(
            "vector_index_*_node",
            "vector_index_42_node2"
        ));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("exact", "exact2"));
        assert!(wildcard_match("a**", "a"));
    }

    #[test]
    fn patterns_and_names_are_checked() {
        for ok in [
            "ragflow_*",
            "dify-*",
            "vector_index_*_node",
            ".hidden*",
            "idx",
        ] {
            assert!(check_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "*",
            "**",
            "_all",
            "-x*",
            "a,b",
            "c:x*",
            "<x-{now/d}>",
            "a b",
            "a?",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
        assert!(check_name("idx").is_ok());
        assert!(check_name("idx*").is_err());
        assert!(check_name("..").is_err());
    }
}
