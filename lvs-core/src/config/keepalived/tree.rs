//! keepalived.conf's lexical layer: words, quoted strings, comments and
//! `{ }` blocks, into a tree of statements. Bounded in size and depth.

use alloc::string::String;
use alloc::vec::Vec;

use super::{KeepalivedError, KeepalivedErrorKind as Kind, MAX_DEPTH, MAX_TEXT_LEN};

/// One word of the text with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub text: String,
    pub line: usize,
}

/// One statement: a keyword, its arguments on the same line, and the block
/// that follows it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    pub key: Word,
    pub args: Vec<Word>,
    pub block: Option<Vec<Node>>,
}

#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Newline,
}

/// Splits `text` into tokens with their line numbers.
fn lex(text: &str) -> Result<Vec<(Tok, usize)>, KeepalivedError> {
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '\n' => {
                out.push((Tok::Newline, line));
                line += 1;
            }
            '#' | '!' => {
                while let Some(&(_, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '{' => out.push((Tok::Open, line)),
            '}' => out.push((Tok::Close, line)),
            '"' => {
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\n')) | None => {
                            return Err(KeepalivedError {
                                line: start,
                                kind: Kind::UnterminatedQuote,
                            });
                        }
                        Some((_, c)) => s.push(c),
                    }
                }
                out.push((Tok::Word(s), line));
            }
            c if c.is_whitespace() => {}
            c => {
                let mut s = String::new();
                s.push(c);
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | '"' | '#' | '!') {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push((Tok::Word(s), line));
            }
        }
    }
    Ok(out)
}

/// Parses `text` into its top-level statements.
pub(super) fn parse_tree(text: &str) -> Result<Vec<Node>, KeepalivedError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(KeepalivedError {
            line: 1,
            kind: Kind::TooLarge { len: text.len() },
        });
    }
    let toks = lex(text)?;
    let mut pos = 0;
    let nodes = block(&toks, &mut pos, 0, None)?;
    Ok(nodes)
}

/// Reads statements until the end (top level) or the `}` closing the block
/// opened on line `opened`.
fn block(
    toks: &[(Tok, usize)],
    pos: &mut usize,
    depth: usize,
    opened: Option<usize>,
) -> Result<Vec<Node>, KeepalivedError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut cur: Option<Node> = None;
    while let Some((tok, line)) = toks.get(*pos) {
        *pos += 1;
        match tok {
            Tok::Word(w) => {
                let word = Word {
                    text: w.clone(),
                    line: *line,
                };
                match cur.as_mut() {
                    Some(n) => n.args.push(word),
                    None => {
                        cur = Some(Node {
                            key: word,
                            args: Vec::new(),
                            block: None,
                        })
                    }
                }
            }
            Tok::Newline => {
                if let Some(n) = cur.take() {
                    nodes.push(n);
                }
            }
            Tok::Open => {
                if depth + 1 > MAX_DEPTH {
                    return Err(KeepalivedError {
                        line: *line,
                        kind: Kind::TooDeep,
                    });
                }
                let Some(mut n) = cur
                    .take()
                    .or_else(|| nodes.pop().filter(|n| n.block.is_none()))
                else {
                    return Err(KeepalivedError {
                        line: *line,
                        kind: Kind::BlockWithoutKeyword,
                    });
                };
                n.block = Some(block(toks, pos, depth + 1, Some(*line))?);
                nodes.push(n);
            }
            Tok::Close => {
                if let Some(n) = cur.take() {
                    nodes.push(n);
                }
                return match opened {
                    Some(_) => Ok(nodes),
                    None => Err(KeepalivedError {
                        line: *line,
                        kind: Kind::UnbalancedClose,
                    }),
                };
            }
        }
    }
    if let Some(n) = cur.take() {
        nodes.push(n);
    }
    match opened {
        Some(l) => Err(KeepalivedError {
            line: l,
            kind: Kind::UnclosedBlock,
        }),
        None => Ok(nodes),
    }
}
