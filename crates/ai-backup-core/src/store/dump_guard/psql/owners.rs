//! pg_dump's `ALTER <kind> <name> OWNER TO <role>;` lines. The load user owns what it creates
//! and cannot give objects away, so these lines are held back and, once the load is done, run by
//! the privileged user. Only lines of a strict shape are taken: an object of the database (never
//! a database, role or tablespace), a name made of names, types and punctuation only (no string,
//! comment, dollar quote or second statement), and a plain role name.

use super::super::{trim_eol, Refusal};

/// Object kinds whose ownership is held back, longest first.
const KINDS: &[&str] = &[
    "TEXT SEARCH CONFIGURATION ",
    "TEXT SEARCH DICTIONARY ",
    "MATERIALIZED VIEW ",
    "OPERATOR FAMILY ",
    "OPERATOR CLASS ",
    "FOREIGN TABLE ",
    "LARGE OBJECT ",
    "STATISTICS ",
    "CONVERSION ",
    "COLLATION ",
    "PROCEDURE ",
    "AGGREGATE ",
    "PUBLICATION ",
    "SEQUENCE ",
    "FUNCTION ",
    "OPERATOR ",
    "ROUTINE ",
    "SCHEMA ",
    "DOMAIN ",
    "TABLE ",
    "VIEW ",
    "TYPE ",
];

/// At most this many held-back statements (a schema with more objects is refused).
const MAX_CHANGES: usize = 200_000;

/// One held-back ownership statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerChange {
    /// The statement as pg_dump wrote it, with its `;`.
    pub statement: String,
    /// The role, unquoted.
    pub role: String,
}

#[derive(Debug, Default)]
pub(super) struct Owners(Vec<OwnerChange>);

impl Owners {
    pub(super) fn changes(&self) -> &[OwnerChange] {
        &self.0
    }

    /// Hold `line` back if it is an ownership statement of the expected shape.
    pub(super) fn take(&mut self, line: &[u8]) -> Result<bool, Refusal> {
        let Some(change) = parse(trim_eol(line)) else {
            return Ok(false);
        };
        if self.0.len() >= MAX_CHANGES {
            return Err(Refusal::new(format!(
                "more than {MAX_CHANGES} ownership statements"
            )));
        }
        self.0.push(change);
        Ok(true)
    }
}

fn parse(line: &[u8]) -> Option<OwnerChange> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text.strip_prefix("ALTER ")?.strip_suffix(';')?;
    let (object, role) = rest.rsplit_once(" OWNER TO ")?;
    let kind = KINDS.iter().find(|k| object.starts_with(**k))?;
    let name = &object[kind.len()..];
    if name.is_empty() || !plain_name(name) {
        return None;
    }
    Some(OwnerChange {
        statement: text.to_string(),
        role: role_name(role)?,
    })
}

/// Names, quoted names, types, operators and punctuation; nothing that starts a string, a
/// comment, a dollar quote, a meta-command or another statement.
fn plain_name(s: &str) -> bool {
    let mut quoted = false;
    let mut prev = ' ';
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            let ok = c.is_alphanumeric() || " _.,()[]+*<>=~!@#%^&|`?-/".contains(c);
            let comment = (prev == '-' && c == '-') || (prev == '/' && c == '*');
            if !ok || comment {
                return false;
            }
        } else if c.is_control() {
            return false;
        }
        prev = c;
    }
    !quoted
}

/// `name` or `"Name"` (doubled quotes inside), unquoted.
fn role_name(s: &str) -> Option<String> {
    if let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        let undoubled = inner.replace("\"\"", "\"");
        let ok = !inner.is_empty()
            && !undoubled.chars().any(char::is_control)
            && undoubled.replace('"', "\"\"") == inner;
        return ok.then_some(undoubled);
    }
    let ok = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$');
    ok.then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn ownership_lines_of_the_expected_shape_are_taken() {
        let cases: &[(&str, Option<&str>)] = &[
            ("ALTER TABLE public.t OWNER TO aiserver;", Some("aiserver")),
            (
                "ALTER FUNCTION audit.f(wf character varying, n integer[]) OWNER TO \"Odd \"\"Role\";",
                Some("Odd \"Role"),
            ),
            ("ALTER SCHEMA audit OWNER TO pg_database_owner;", Some("pg_database_owner")),
            ("ALTER DATABASE n8n_db OWNER TO x;", None),
            ("ALTER ROLE r OWNER TO x;", None),
            ("ALTER TABLE t OWNER TO x; DROP TABLE y;", None),
            ("ALTER TABLE t OWNER TO x -- c;", None),
            ("ALTER TABLE t; SELECT 1 OWNER TO x;", None),
            ("ALTER TABLE t/*x*/ OWNER TO x;", None),
            ("ALTER TABLE \"a\\\" OWNER TO x;", Some("x")),
            ("ALTER TABLE t:v OWNER TO x;", None),
            ("ALTER TABLE $$x$$ OWNER TO x;", None),
            ("ALTER TABLE 'x' OWNER TO x;", None),
        ];
        for (line, role) in cases {
            let got = parse(line.as_bytes()).map(|c| c.role);
            assert_eq!(got.as_deref(), *role, "{line}");
        }
    }
}
