//! What psql would do with a pg_dump plain dump. psql runs a backslash anywhere outside quotes
//! and comments as a meta-command (`\!` is a shell), so the scanner follows psql 15's lexer:
//! quotes, quoted names, dollar quotes, nested comments, parentheses and the `BEGIN ATOMIC`
//! bodies whose semicolons do not end a statement. It knows `COPY … FROM stdin` data blocks,
//! which pass untouched up to their `\.` line. Refused: every meta-command (pg_dump's own
//! `\restrict`/`\unrestrict` lines are dropped: the load sets its own key), statements on other
//! databases, roles, the server or the transaction, `COPY` other than `FROM stdin`, and text
//! psql could read two ways. `ALTER … OWNER TO` lines are held back for the privileged user.

use super::{keyword, trim_eol, Refusal, Scanner};

mod lexer;
mod owners;

pub(crate) use owners::OwnerChange;

use lexer::{Lexer, Token};

/// Statements a dump must not run, by their first words.
const REFUSED: &[&[&str]] = &[
    &["CREATE", "DATABASE"],
    &["ALTER", "DATABASE"],
    &["DROP", "DATABASE"],
    &["ALTER", "SYSTEM"],
    &["CREATE", "ROLE"],
    &["ALTER", "ROLE"],
    &["DROP", "ROLE"],
    &["CREATE", "USER"],
    &["ALTER", "USER"],
    &["DROP", "USER"],
    &["CREATE", "GROUP"],
    &["ALTER", "GROUP"],
    &["DROP", "GROUP"],
    &["CREATE", "TABLESPACE"],
    &["ALTER", "TABLESPACE"],
    &["DROP", "TABLESPACE"],
    &["CREATE", "SUBSCRIPTION"],
    &["ALTER", "SUBSCRIPTION"],
    &["DROP", "SUBSCRIPTION"],
    &["REASSIGN"],
    &["LOAD"],
    &["SET", "ROLE"],
    &["SET", "SESSION", "AUTHORIZATION"],
    &["SET", "SESSION", "ROLE"],
    &["SET", "LOCAL", "ROLE"],
    &["RESET", "ROLE"],
    &["RESET", "SESSION"],
    &["BEGIN"],
    &["START"],
    &["COMMIT"],
    &["END"],
    &["ROLLBACK"],
    &["ABORT"],
    &["PREPARE", "TRANSACTION"],
];

/// Where a `COPY` statement is: only `COPY <table> [(columns)] FROM stdin;` is let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copy {
    Target,
    From,
    Stdin,
}

#[derive(Default)]
pub(crate) struct PsqlScanner {
    lexer: Lexer,
    /// Upper-cased first words of the current statement.
    words: Vec<String>,
    copy: Option<Copy>,
    /// After `COPY … FROM stdin;`: only blanks may follow on that line.
    copy_pending: bool,
    /// Inside a `COPY` data block.
    in_copy: bool,
    owners: owners::Owners,
    tokens: Vec<Token>,
}

impl PsqlScanner {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// `ALTER … OWNER TO` statements held back, for the privileged user to run after the load.
    pub(crate) fn owner_changes(&self) -> &[OwnerChange] {
        self.owners.changes()
    }

    fn at_statement_start(&self) -> bool {
        !self.in_copy && !self.copy_pending && self.lexer.idle() && self.words.is_empty()
    }

    fn scan(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        for &b in bytes {
            if self.copy_pending {
                if b == b'\n' {
                    self.copy_pending = false;
                    self.in_copy = true;
                } else if !b.is_ascii_whitespace() {
                    return Err(Refusal::new(
                        "text after `COPY … FROM stdin;` on the same line",
                    ));
                }
                continue;
            }
            self.lexer.push(b, &mut self.tokens)?;
            for t in std::mem::take(&mut self.tokens) {
                self.token(t)?;
            }
        }
        Ok(())
    }

    fn token(&mut self, t: Token) -> Result<(), Refusal> {
        match t {
            Token::Backslash => Err(Refusal::new("a psql meta-command (backslash command)")),
            Token::End => self.end_statement(),
            Token::Word(w) => self.word(&w),
            Token::Quote if self.copy.is_some() => Err(Refusal::new("COPY from or to a file")),
            Token::Quote | Token::Name => self.word(b"\""),
        }
    }

    fn word(&mut self, w: &[u8]) -> Result<(), Refusal> {
        let k = keyword(w);
        if self.words.is_empty() && k == "COPY" {
            self.copy = Some(Copy::Target);
        }
        if let Some(stage) = self.copy {
            self.copy = Some(copy_step(stage, &k)?);
        }
        if self.words.len() < 4 {
            self.words.push(k);
            if let Some(p) = REFUSED.iter().find(|p| **p == self.words.as_slice()) {
                return Err(Refusal::new(format!("the statement {}", p.join(" "))));
            }
        }
        Ok(())
    }

    fn end_statement(&mut self) -> Result<(), Refusal> {
        match self.copy {
            Some(Copy::Stdin) => self.copy_pending = true,
            Some(_) => return Err(Refusal::new("COPY other than `FROM stdin`")),
            None => {}
        }
        self.copy = None;
        self.words.clear();
        Ok(())
    }

    /// A line inside a COPY data block: only its end marker matters.
    fn copy_line(&mut self, head: &[u8], whole: bool) {
        if whole && trim_eol(head) == b"\\." {
            self.in_copy = false;
        }
    }
}

/// The next stage of `COPY <table> FROM stdin` after word `k`, or why it is refused.
fn copy_step(stage: Copy, k: &str) -> Result<Copy, Refusal> {
    let refuse = |what: &str| Err(Refusal::new(what.to_string()));
    match (stage, k) {
        (_, "PROGRAM") => refuse("COPY … PROGRAM (runs a program on the server)"),
        (_, "TO") => refuse("COPY … TO (writes outside the database)"),
        (Copy::Target, "FROM") => Ok(Copy::From),
        (Copy::Target, _) => Ok(Copy::Target),
        (Copy::From, "STDIN") => Ok(Copy::Stdin),
        (Copy::From, _) => refuse("COPY from a file"),
        (Copy::Stdin, _) => refuse("COPY options other than pg_dump's"),
    }
}

/// `\restrict KEY` / `\unrestrict KEY` as pg_dump writes them.
fn is_restrict_line(line: &[u8]) -> bool {
    let line = trim_eol(line);
    let rest = line
        .strip_prefix(b"\\restrict ")
        .or_else(|| line.strip_prefix(b"\\unrestrict "));
    rest.is_some_and(|k| !k.is_empty() && k.iter().all(|&b| b.is_ascii_alphanumeric()))
}

impl Scanner for PsqlScanner {
    fn start(&mut self, head: &[u8], whole: bool) -> Result<Option<Vec<u8>>, Refusal> {
        if self.in_copy {
            self.copy_line(head, whole);
            return Ok(None);
        }
        if whole && self.at_statement_start() {
            if is_restrict_line(head) {
                return Ok(Some(b"\n".to_vec()));
            }
            if self.owners.take(head)? {
                return Ok(Some(b"\n".to_vec()));
            }
        }
        self.scan(head)?;
        Ok(None)
    }

    fn more(&mut self, piece: &[u8]) -> Result<(), Refusal> {
        if self.in_copy {
            return Ok(());
        }
        self.scan(piece)
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        Ok(())
    }
}
