//! psql 15's lexer, as far as it decides where a backslash is a meta-command and where a
//! statement ends (`psqlscan.l`). Text that psql versions or settings could read two ways is
//! refused rather than guessed: a quote after an odd run of backslashes (it ends the string
//! with `standard_conforming_strings` on, not with it off), a `$` right after a name, letters
//! right after a number.

use super::super::{is_word, Refusal};

/// What the scanner needs to know of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// A word at parenthesis depth 0 (keyword, name or number).
    Word(Vec<u8>),
    /// A string literal starts at depth 0.
    Quote,
    /// A quoted name starts at depth 0.
    Name,
    /// A backslash outside quotes and comments: psql runs it as a meta-command.
    Backslash,
    /// A semicolon that makes psql send the statement.
    End,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Normal,
    Dash,
    Slash,
    LineComment,
    Block {
        depth: u32,
        last: u8,
    },
    Quote {
        backslashes: usize,
    },
    QuoteEnd,
    Name,
    DollarOpen(Vec<u8>),
    Dollar {
        tag: Vec<u8>,
        matched: Option<usize>,
    },
}

const MAX_WORD: usize = 256;

#[derive(Debug, Default)]
pub(super) struct Lexer {
    state: State,
    parens: u32,
    word: Vec<u8>,
    /// psql's `identifiers[4]` / `identifier_count` / `begin_depth`.
    idents: [u8; 4],
    ident_count: usize,
    begin_depth: u32,
}

impl Lexer {
    /// Between statements, outside every quote and comment.
    pub(super) fn idle(&self) -> bool {
        matches!(self.state, State::Normal)
            && self.word.is_empty()
            && self.parens == 0
            && self.begin_depth == 0
    }

    pub(super) fn push(&mut self, b: u8, out: &mut Vec<Token>) -> Result<(), Refusal> {
        match &mut self.state {
            State::Normal => self.normal(b, out),
            State::Dash => {
                self.state = State::Normal;
                if b == b'-' {
                    self.state = State::LineComment;
                    Ok(())
                } else {
                    self.normal(b, out)
                }
            }
            State::Slash => {
                self.state = State::Normal;
                if b == b'*' {
                    self.state = State::Block { depth: 1, last: 0 };
                    Ok(())
                } else {
                    self.normal(b, out)
                }
            }
            State::LineComment => {
                if b == b'\n' {
                    self.state = State::Normal;
                }
                Ok(())
            }
            State::Block { depth, last } => {
                if *last == b'/' && b == b'*' {
                    *depth += 1;
                    *last = 0;
                } else if *last == b'*' && b == b'/' {
                    *depth -= 1;
                    *last = 0;
                    if *depth == 0 {
                        self.state = State::Normal;
                    }
                } else {
                    *last = b;
                }
                Ok(())
            }
            State::Quote { backslashes } => {
                match b {
                    b'\\' => *backslashes += 1,
                    b'\'' if *backslashes % 2 == 1 => {
                        return Err(Refusal::new(
                            "a quote after a backslash in a string (psql could read it two ways)",
                        ))
                    }
                    b'\'' => self.state = State::QuoteEnd,
                    _ => *backslashes = 0,
                }
                Ok(())
            }
            State::QuoteEnd => {
                if b == b'\'' {
                    self.state = State::Quote { backslashes: 0 };
                    Ok(())
                } else {
                    self.state = State::Normal;
                    self.normal(b, out)
                }
            }
            State::Name => {
                if b == b'"' {
                    self.state = State::Normal;
                }
                Ok(())
            }
            State::DollarOpen(_) => self.dollar_open(b, out),
            State::Dollar { tag, matched } => {
                let closes = *matched == Some(tag.len()) && b == b'$';
                *matched = match *matched {
                    Some(n) if n < tag.len() && b == tag[n] => Some(n + 1),
                    _ if b == b'$' => Some(0),
                    _ => None,
                };
                if closes {
                    self.state = State::Normal;
                }
                Ok(())
            }
        }
    }

    fn normal(&mut self, b: u8, out: &mut Vec<Token>) -> Result<(), Refusal> {
        if b == b'$' && !self.word.is_empty() {
            return Err(Refusal::new("a `$` right after a name or number"));
        }
        if is_word(b) && b != b'$' {
            if self.word.len() >= MAX_WORD {
                return Err(Refusal::new("a name longer than any PostgreSQL name"));
            }
            self.word.push(b);
            return Ok(());
        }
        self.end_word(out)?;
        let at_top = self.parens == 0;
        match b {
            b'\'' => {
                self.state = State::Quote { backslashes: 0 };
                if at_top {
                    out.push(Token::Quote);
                }
            }
            b'"' => {
                self.state = State::Name;
                if at_top {
                    out.push(Token::Name);
                }
            }
            b'$' => self.state = State::DollarOpen(Vec::new()),
            b'-' => self.state = State::Dash,
            b'/' => self.state = State::Slash,
            b'(' => self.parens += 1,
            b')' => self.parens = self.parens.saturating_sub(1),
            b'\\' => out.push(Token::Backslash),
            b';' if at_top && self.begin_depth == 0 => {
                self.ident_count = 0;
                out.push(Token::End);
            }
            _ => {}
        }
        Ok(())
    }

    /// After `$`: a dollar quote's tag, a parameter (`$1`), or a lone `$` followed by a name.
    fn dollar_open(&mut self, b: u8, out: &mut Vec<Token>) -> Result<(), Refusal> {
        let State::DollarOpen(tag) = &mut self.state else {
            unreachable!("called in DollarOpen");
        };
        let tag_char = b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
        if tag_char || (b.is_ascii_digit() && !tag.is_empty()) {
            if tag.len() >= MAX_WORD {
                return Err(Refusal::new("a dollar-quote tag too long"));
            }
            tag.push(b);
            return Ok(());
        }
        let tag = std::mem::take(tag);
        if b == b'$' {
            self.state = State::Dollar { tag, matched: None };
            return Ok(());
        }
        // psql: `$` alone, then the tag's characters as a name.
        self.state = State::Normal;
        self.word = tag;
        self.normal(b, out)
    }

    fn end_word(&mut self, out: &mut Vec<Token>) -> Result<(), Refusal> {
        if self.word.is_empty() {
            return Ok(());
        }
        let word = std::mem::take(&mut self.word);
        if word[0].is_ascii_digit() {
            if !is_number(&word) {
                return Err(Refusal::new("letters right after a number"));
            }
        } else {
            self.identifier(&word);
        }
        if self.parens == 0 {
            out.push(Token::Word(word));
        }
        Ok(())
    }

    /// psql's tracking of `CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN … END`.
    fn identifier(&mut self, word: &[u8]) {
        let w = word.to_ascii_lowercase();
        if self.ident_count == 0 {
            self.idents = [0; 4];
        }
        let tracked = [&b"create"[..], b"function", b"procedure", b"or", b"replace"];
        if tracked.contains(&w.as_slice()) && self.ident_count < 4 {
            self.idents[self.ident_count] = w[0];
        }
        self.ident_count += 1;
        let i = self.idents;
        let routine = i[0] == b'c'
            && (i[1] == b'f'
                || i[1] == b'p'
                || (i[1] == b'o' && i[2] == b'r' && (i[3] == b'f' || i[3] == b'p')));
        if routine && self.parens == 0 {
            match w.as_slice() {
                b"begin" => self.begin_depth += 1,
                b"case" if self.begin_depth >= 1 => self.begin_depth += 1,
                b"end" => self.begin_depth = self.begin_depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

/// Digits, optionally with an exponent (`5e10`; the part before a `.` is another word).
fn is_number(word: &[u8]) -> bool {
    let digits = word.iter().take_while(|b| b.is_ascii_digit()).count();
    match &word[digits..] {
        [] => true,
        [e, rest @ ..] if e.eq_ignore_ascii_case(&b'e') => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}
