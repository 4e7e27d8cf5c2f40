//! What the mysql / mariadb client would do with a mysqldump file. Refused: client commands
//! (`system`, `\!`, `source`, `\.`, `connect`, `\r`, `use`, any other backslash command or
//! command name at a statement's start), statements on other databases, users, privileges, files
//! or the server (`DROP/CREATE/ALTER DATABASE`, `GRANT`, `LOAD DATA`, `SET GLOBAL`, …), names
//! qualified with a database where a statement's target is decidable, and `NO_BACKSLASH_ESCAPES`
//! (it changes how the client reads every later string). Allowed: `DELIMITER` and mysqldump's
//! executable comments. `DEFINER=` clauses of views, triggers, routines and events are
//! rewritten to the load user and recorded, so the privileged user can put them back.

mod definers;
mod lexer;

use super::{keyword, trim_eol, Refusal, Scanner};

pub(crate) use definers::Definer;

use lexer::{Lexer, Token};

/// The client's own commands (`mysql.cc`), refused at a statement's start.
const CLIENT_COMMANDS: &[&str] = &[
    "?",
    "CLEAR",
    "CONNECT",
    "EDIT",
    "EGO",
    "EXIT",
    "GO",
    "HELP",
    "NOPAGER",
    "NOTEE",
    "PAGER",
    "PRINT",
    "PROMPT",
    "QUIT",
    "REHASH",
    "SOURCE",
    "STATUS",
    "SYSTEM",
    "TEE",
    "USE",
    "CHARSET",
    "WARNINGS",
    "NOWARNING",
    "RESETCONNECTION",
    "SANDBOX",
];

/// Statements a dump must not run, by their first words.
const REFUSED: &[&[&str]] = &[
    &["CREATE", "DATABASE"],
    &["CREATE", "SCHEMA"],
    &["ALTER", "DATABASE"],
    &["ALTER", "SCHEMA"],
    &["DROP", "DATABASE"],
    &["DROP", "SCHEMA"],
    &["USE"],
    &["GRANT"],
    &["REVOKE"],
    &["CREATE", "USER"],
    &["ALTER", "USER"],
    &["DROP", "USER"],
    &["RENAME", "USER"],
    &["CREATE", "ROLE"],
    &["DROP", "ROLE"],
    &["SET", "ROLE"],
    &["SET", "DEFAULT", "ROLE"],
    &["SET", "PASSWORD"],
    &["SET", "GLOBAL"],
    &["CREATE", "SERVER"],
    &["LOAD"],
    &["INSTALL"],
    &["UNINSTALL"],
    &["SHUTDOWN"],
    &["KILL"],
    &["FLUSH"],
    &["RESET"],
    &["PURGE"],
    &["CHANGE"],
];

/// Statement starts after which the next name is a table: qualified, it names a database.
const TARGETS: &[&[&str]] = &[
    &["INSERT", "INTO"],
    &["INSERT", "IGNORE", "INTO"],
    &["REPLACE", "INTO"],
    &["CREATE", "TABLE"],
    &["CREATE", "TABLE", "IF", "NOT", "EXISTS"],
    &["DROP", "TABLE"],
    &["DROP", "TABLE", "IF", "EXISTS"],
    &["DROP", "VIEW"],
    &["DROP", "VIEW", "IF", "EXISTS"],
    &["ALTER", "TABLE"],
    &["LOCK", "TABLES"],
    &["TRUNCATE"],
    &["TRUNCATE", "TABLE"],
    &["UPDATE"],
    &["DELETE", "FROM"],
];

/// mysqldump's first line since MariaDB 10.5.25 / 10.11.8: the client's sandbox mode.
const SANDBOX: &[&[u8]] = &[
    b"/*M!999999\\- enable the sandbox mode */",
    b"/*!999999\\- enable the sandbox mode */",
];

/// MySQL 8's GTID lines (with GTIDs on): server-wide state a restore into a new database must
/// not change, and the load user cannot. Dropped.
const DROPPED: &[&[u8]] = &[
    b"SET @@GLOBAL.GTID_PURGED",
    b"SET @@SESSION.SQL_LOG_BIN",
    b"SET @MYSQLDUMP_TEMP_LOG_BIN",
];

#[derive(Default)]
pub(crate) struct MysqlScanner {
    lexer: Lexer,
    /// Upper-cased words (and `.`, `` ` ``, `'`) at the start of the current statement.
    words: Vec<String>,
    tokens: Vec<Token>,
    definers: definers::Definers,
}

impl MysqlScanner {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The definers the dump named, for the privileged user to put back.
    pub(crate) fn definers(&self) -> &[Definer] {
        self.definers.all()
    }

    fn at_statement_start(&self) -> bool {
        self.lexer.idle() && self.words.is_empty()
    }

    /// Client commands, `DELIMITER` and dropped lines, seen before the line is read as SQL.
    fn line_command(&mut self, line: &[u8]) -> Result<Option<Vec<u8>>, Refusal> {
        let text = trim_eol(line).trim_ascii();
        if SANDBOX.contains(&text) {
            return Ok(Some(line.to_vec()));
        }
        let first = text
            .split(|b| b.is_ascii_whitespace() || *b == b';')
            .next()
            .unwrap_or_default();
        if DROPPED.iter().any(|p| text.starts_with(p)) && text.ends_with(b";") {
            return Ok(Some(b"\n".to_vec()));
        }
        let first = keyword(first);
        if first == "DELIMITER" {
            let d = text[9..].trim_ascii();
            let d = d.split(u8::is_ascii_whitespace).next().unwrap_or_default();
            if d.is_empty() || d.len() > 16 || d.iter().any(|b| b"\\'\"`".contains(b)) {
                return Err(Refusal::new("a DELIMITER the dump could not have written"));
            }
            self.lexer.set_delimiter(d);
            return Ok(Some(line.to_vec()));
        }
        if CLIENT_COMMANDS.contains(&first.as_str()) {
            return Err(Refusal::new(format!(
                "the client command `{}`",
                first.to_lowercase()
            )));
        }
        if first == "SET" && keyword(text).contains("NO_BACKSLASH_ESCAPES") {
            return Err(Refusal::new(
                "NO_BACKSLASH_ESCAPES (the client would read later strings differently)",
            ));
        }
        Ok(None)
    }

    fn scan(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        for &b in bytes {
            self.lexer.push(b, &mut self.tokens)?;
            for t in std::mem::take(&mut self.tokens) {
                self.token(t)?;
            }
        }
        Ok(())
    }

    fn token(&mut self, t: Token) -> Result<(), Refusal> {
        let word = match t {
            Token::Backslash => {
                return Err(Refusal::new("a client command (backslash command)"));
            }
            Token::End => {
                self.words.clear();
                return Ok(());
            }
            Token::Word(w) => keyword(&w),
            Token::Name => "`".into(),
            Token::Dot => ".".into(),
            Token::Quote => "'".into(),
        };
        if self.words.len() >= 10 {
            return Ok(());
        }
        self.words.push(word);
        self.check_words()
    }

    fn check_words(&self) -> Result<(), Refusal> {
        let w = self.words.as_slice();
        if let Some(p) = REFUSED.iter().find(|p| **p == w) {
            return Err(Refusal::new(format!("the statement {}", p.join(" "))));
        }
        let qualified = TARGETS.iter().any(|p| {
            w.len() == p.len() + 2
                && p.iter().zip(w).all(|(a, b)| a == b)
                && w[p.len() + 1] == "."
                && w[p.len()] != "."
        });
        if qualified {
            return Err(Refusal::new("a table of another database"));
        }
        Ok(())
    }
}

impl Scanner for MysqlScanner {
    fn start(&mut self, head: &[u8], _whole: bool) -> Result<Option<Vec<u8>>, Refusal> {
        if self.at_statement_start() {
            if let Some(sent) = self.line_command(head)? {
                return Ok(Some(sent));
            }
        }
        if self.lexer.idle() {
            if let Some(rewritten) = self.definers.rewrite(head)? {
                self.scan(&rewritten)?;
                return Ok(Some(rewritten));
            }
        }
        self.scan(head)?;
        Ok(None)
    }

    fn more(&mut self, piece: &[u8]) -> Result<(), Refusal> {
        self.scan(piece)
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        Ok(())
    }
}
