//! mysqldump's `DEFINER=` clauses. Only a user with SUPER / SET USER may create an object for
//! another user, which the load user must not have; so each clause of the shapes mysqldump
//! writes is rewritten to `DEFINER=CURRENT_USER` and recorded with its object, and the privileged
//! user re-creates those objects with their recorded definers once the load is done.

use super::super::Refusal;

/// At most this many recorded definers.
const MAX_DEFINERS: usize = 100_000;

/// What comes before `DEFINER=` on the lines mysqldump writes, and the object kind that follows.
const SHAPES: &[(&str, &str)] = &[
    ("/*!50003 CREATE*/ /*!50017 ", "*/ /*!50003 TRIGGER "),
    ("/*!50106 CREATE*/ /*!50117 ", "*/ /*!50106 EVENT "),
    ("CREATE ", " PROCEDURE "),
    ("CREATE ", " FUNCTION "),
    ("/*!50013 ", " SQL SECURITY "),
];

const VIEW_LINE: &str = "/*!50001 VIEW ";

/// An object and the definer the dump gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Definer {
    /// TRIGGER, EVENT, PROCEDURE, FUNCTION or VIEW.
    pub kind: &'static str,
    pub name: String,
    /// As written: `` `user`@`host` ``.
    pub definer: String,
}

#[derive(Debug, Default)]
pub(super) struct Definers {
    all: Vec<Definer>,
    /// A view's definer line seen; its name is on the next `/*!50001 VIEW` line.
    view: Option<String>,
}

impl Definers {
    pub(super) fn all(&self) -> &[Definer] {
        &self.all
    }

    /// The line with its definer clause rewritten, when it has one of mysqldump's shapes.
    pub(super) fn rewrite(&mut self, line: &[u8]) -> Result<Option<Vec<u8>>, Refusal> {
        let Ok(text) = std::str::from_utf8(&line[..line.len().min(4096)]) else {
            return Ok(None);
        };
        if let Some(definer) = self.view.take() {
            if let Some(name) = text.strip_prefix(VIEW_LINE).and_then(quoted) {
                self.record("VIEW", name.0, definer)?;
                return Ok(None);
            }
        }
        for (before, after) in SHAPES {
            let Some(rest) = text
                .strip_prefix(before)
                .and_then(|r| r.strip_prefix("DEFINER="))
            else {
                continue;
            };
            let Some((user, used)) = user_spec(rest) else {
                continue;
            };
            let Some(tail) = rest[used..].strip_prefix(after) else {
                continue;
            };
            let kind = after.trim_matches(|c: char| c == ' ' || c == '*' || c == '/');
            if kind == "SQL SECURITY" {
                self.view = Some(user);
            } else {
                let kind = kind.rsplit(' ').next().unwrap_or(kind);
                let Some(name) = object_name(tail) else {
                    continue;
                };
                self.record(static_kind(kind), name, user)?;
            }
            let cut = before.len() + "DEFINER=".len();
            let mut out = line[..cut].to_vec();
            out.extend_from_slice(b"CURRENT_USER");
            out.extend_from_slice(&line[cut + used..]);
            return Ok(Some(out));
        }
        Ok(None)
    }

    fn record(&mut self, kind: &'static str, name: String, definer: String) -> Result<(), Refusal> {
        if self.all.len() >= MAX_DEFINERS {
            return Err(Refusal::new(format!(
                "more than {MAX_DEFINERS} views, triggers, routines and events"
            )));
        }
        self.all.push(Definer {
            kind,
            name,
            definer,
        });
        Ok(())
    }
}

fn static_kind(kind: &str) -> &'static str {
    match kind {
        "TRIGGER" => "TRIGGER",
        "EVENT" => "EVENT",
        "PROCEDURE" => "PROCEDURE",
        _ => "FUNCTION",
    }
}

/// A backtick-quoted name at the start of `s`: (name, bytes used).
fn quoted(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix('`')?;
    let mut name = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            if chars.peek().map(|p| p.1) == Some('`') {
                chars.next();
                name.push('`');
                continue;
            }
            return Some((name, i + 2));
        }
        if c.is_control() {
            return None;
        }
        name.push(c);
    }
    None
}

/// The object's name at the start of `s`, quoted or bare (as the user wrote it).
fn object_name(s: &str) -> Option<String> {
    if let Some((name, _)) = quoted(s) {
        return Some(name);
    }
    let bare: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
        .collect();
    (!bare.is_empty()).then_some(bare)
}

/// `` `user`@`host` `` at the start of `s`: (the text, bytes used).
fn user_spec(s: &str) -> Option<(String, usize)> {
    let (_, u) = quoted(s)?;
    let rest = s[u..].strip_prefix('@')?;
    let (_, h) = quoted(rest)?;
    let used = u + 1 + h;
    Some((s[..used].to_string(), used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(d: &mut Definers, line: &str) -> Option<String> {
        d.rewrite(line.as_bytes())
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn mysqldump_definers_are_rewritten_and_recorded() {
        let mut d = Definers::default();
        let t = "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `trg` AFTER INSERT ON `logs`\n";
        assert_eq!(
            rewrite(&mut d, t).unwrap(),
            "/*!50003 CREATE*/ /*!50017 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER `trg` AFTER INSERT ON `logs`\n"
        );
        let r = "CREATE DEFINER=`a``b`@`%` PROCEDURE `p`(IN x INT)\n";
        assert_eq!(
            rewrite(&mut d, r).unwrap(),
            "CREATE DEFINER=CURRENT_USER PROCEDURE `p`(IN x INT)\n"
        );
        let v = "/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n";
        assert!(rewrite(&mut d, v)
            .unwrap()
            .contains("DEFINER=CURRENT_USER SQL"));
        assert_eq!(rewrite(&mut d, "/*!50001 VIEW `v` AS select 1 */;\n"), None);
        assert_eq!(rewrite(&mut d, "CREATE TABLE `x` (\n"), None);
        assert_eq!(
            rewrite(&mut d, "INSERT INTO t VALUES ('DEFINER=`a`@`b`');\n"),
            None
        );
        let got: Vec<_> = d
            .all()
            .iter()
            .map(|x| (x.kind, x.name.as_str(), x.definer.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("TRIGGER", "trg", "`root`@`localhost`"),
                ("PROCEDURE", "p", "`a``b`@`%`"),
                ("VIEW", "v", "`root`@`localhost`"),
            ]
        );
    }
}
