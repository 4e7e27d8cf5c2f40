//! The mysql / mariadb client's reading of its input, as far as it decides where a backslash is
//! a client command and where a statement ends: strings with backslash escapes, quoted names,
//! `#`, `-- ` and `/* */` comments, and the executable comments `/*!NNNNN … */` and
//! `/*M!NNNNNN … */`, whose content the client and server treat as ordinary text.

use super::super::{is_word, Refusal};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Word(Vec<u8>),
    /// A backtick-quoted name.
    Name,
    Dot,
    Quote,
    Backslash,
    /// The client's delimiter: the statement is sent.
    End,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Normal,
    Single {
        escaped: bool,
    },
    Double {
        escaped: bool,
    },
    Backtick,
    LineComment,
    Block {
        star: bool,
    },
    Dash,
    Dashes,
    Slash,
    SlashStar,
    SlashStarM,
    /// The version number after `/*!` or `/*M!`.
    Version,
    /// A `*` inside an executable comment.
    CondStar,
}

#[derive(Debug)]
pub(super) struct Lexer {
    state: State,
    /// Inside `/*! … */`.
    cond: bool,
    word: Vec<u8>,
    delimiter: Vec<u8>,
    matched: usize,
}

impl Default for Lexer {
    fn default() -> Self {
        Self {
            state: State::Normal,
            cond: false,
            word: Vec::new(),
            delimiter: b";".to_vec(),
            matched: 0,
        }
    }
}

impl Lexer {
    /// Outside every string, name and comment (an executable comment counts as text).
    pub(super) fn in_text(&self) -> bool {
        self.state == State::Normal && self.word.is_empty()
    }

    /// Outside everything, executable comments included.
    pub(super) fn idle(&self) -> bool {
        self.in_text() && !self.cond && self.matched == 0
    }

    pub(super) fn set_delimiter(&mut self, d: &[u8]) {
        self.delimiter = d.to_vec();
        self.matched = 0;
    }

    pub(super) fn push(&mut self, b: u8, out: &mut Vec<Token>) -> Result<(), Refusal> {
        self.state = match self.state {
            State::Normal => return self.normal(b, out),
            State::Single { escaped } => match b {
                _ if escaped => State::Single { escaped: false },
                b'\\' => State::Single { escaped: true },
                b'\'' => State::Normal,
                _ => State::Single { escaped: false },
            },
            State::Double { escaped } => match b {
                _ if escaped => State::Double { escaped: false },
                b'\\' => State::Double { escaped: true },
                b'"' => State::Normal,
                _ => State::Double { escaped: false },
            },
            State::Backtick => {
                if b == b'`' {
                    State::Normal
                } else {
                    State::Backtick
                }
            }
            State::LineComment => {
                if b == b'\n' {
                    State::Normal
                } else {
                    State::LineComment
                }
            }
            State::Block { star } => match b {
                b'/' if star => State::Normal,
                _ => State::Block { star: b == b'*' },
            },
            State::Dash if b == b'-' => State::Dashes,
            State::Dashes if b == b'\n' => State::Normal,
            State::Dashes if b.is_ascii_whitespace() || b.is_ascii_control() => State::LineComment,
            State::Slash if b == b'*' => State::SlashStar,
            State::SlashStar | State::SlashStarM if b == b'!' => {
                self.cond = true;
                State::Version
            }
            State::SlashStar if b == b'M' => State::SlashStarM,
            State::SlashStar | State::SlashStarM => State::Block { star: b == b'*' },
            State::Version if b.is_ascii_digit() => State::Version,
            State::CondStar if b == b'/' => {
                self.cond = false;
                State::Normal
            }
            State::Dash | State::Dashes | State::Slash | State::Version | State::CondStar => {
                self.state = State::Normal;
                return self.normal(b, out);
            }
        };
        Ok(())
    }

    fn normal(&mut self, b: u8, out: &mut Vec<Token>) -> Result<(), Refusal> {
        if is_word(b) {
            // Only a word's start matters (keywords); hex literals can be very long.
            if self.word.len() < 64 {
                self.word.push(b);
            }
            return self.delimiter_byte(b, out);
        }
        if !self.word.is_empty() {
            out.push(Token::Word(std::mem::take(&mut self.word)));
        }
        match b {
            b'\'' => {
                self.state = State::Single { escaped: false };
                out.push(Token::Quote);
            }
            b'"' => {
                self.state = State::Double { escaped: false };
                out.push(Token::Quote);
            }
            b'`' => {
                self.state = State::Backtick;
                out.push(Token::Name);
            }
            b'#' => self.state = State::LineComment,
            b'-' => self.state = State::Dash,
            b'/' => self.state = State::Slash,
            b'*' if self.cond => self.state = State::CondStar,
            b'.' => out.push(Token::Dot),
            b'\\' => out.push(Token::Backslash),
            _ => {}
        }
        self.delimiter_byte(b, out)
    }

    /// Match the client's delimiter in ordinary text.
    fn delimiter_byte(&mut self, b: u8, out: &mut Vec<Token>) -> Result<(), Refusal> {
        if b == self.delimiter[self.matched] {
            self.matched += 1;
        } else {
            self.matched = usize::from(b == self.delimiter[0]);
        }
        if self.matched == self.delimiter.len() {
            self.matched = 0;
            if !self.word.is_empty() {
                // A delimiter made of word characters: the word ends with it.
                self.word.clear();
            }
            out.push(Token::End);
        }
        Ok(())
    }
}
