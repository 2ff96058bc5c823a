//! Markdown (docs/*.md) as a man page: one text for the web and for `man`, so the two cannot
//! say different things. Only what those files use: headings, paragraphs, lists, tables (tbl),
//! code blocks and spans, emphasis, links (their text; a web address in brackets after it).

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The page: `.TH`, NAME (`name \- summary`), then the Markdown from its first `##` heading
/// (what comes before, the title and an introduction for the web, becomes DESCRIPTION).
pub fn page(name: &str, section: &str, summary: &str, version: &str, markdown: &str) -> String {
    let mut r = Roff::default();
    r.out.push_str("'\\\" t\n");
    r.out.push_str(&format!(
        ".TH {} {section} \"\" \"proctor {version}\" \"proctor\"\n.SH NAME\n{} \\- {}\n.SH DESCRIPTION\n",
        escape(&name.to_uppercase()),
        escape(name),
        escape(summary)
    ));
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES);
    for event in parser {
        r.event(event);
    }
    r.out
}

#[derive(Default)]
struct Roff {
    out: String,
    /// The inline text being gathered (a paragraph, heading, item or cell).
    line: String,
    fonts: Vec<&'static str>,
    /// Inside a heading: its text is gathered for `.SH`/`.SS`, not flushed as a paragraph.
    heading: bool,
    code_block: bool,
    lists: Vec<Option<u64>>,
    table: Option<Table>,
    /// A link's web address, said after its text.
    link: Option<String>,
}

#[derive(Default)]
struct Table {
    columns: usize,
    rows: Vec<Vec<String>>,
    head_rows: usize,
}

impl Roff {
    fn event(&mut self, e: Event) {
        match e {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) if self.code_block => {
                for l in t.lines() {
                    self.out.push_str(&line_start(&escape(l)));
                    self.out.push('\n');
                }
            }
            Event::Text(t) => self.line.push_str(&escape(&t)),
            Event::Code(t) => {
                self.line.push_str("\\fB");
                self.line.push_str(&code(&t));
                self.line.push_str(self.font());
            }
            Event::SoftBreak => self.line.push('\n'),
            Event::HardBreak => self.line.push_str("\n.br\n"),
            Event::Rule => self.out.push_str(".PP\n"),
            // HTML (an image, a comment) means nothing on a terminal.
            _ => {}
        }
    }

    /// The font in force once the innermost span ends.
    fn font(&self) -> &'static str {
        self.fonts.last().copied().unwrap_or("\\fR")
    }

    fn start(&mut self, tag: Tag) {
        match tag {
            Tag::Heading { .. } => {
                self.flush();
                self.heading = true;
            }
            Tag::Paragraph if self.lists.is_empty() && self.table.is_none() => {
                self.out.push_str(".PP\n");
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.code_block = true;
                self.out.push_str(".PP\n.RS 4\n.nf\n");
            }
            Tag::List(first) => {
                self.flush();
                if !self.lists.is_empty() {
                    self.out.push_str(".RS 2\n");
                }
                self.lists.push(first);
            }
            Tag::Item => {
                self.flush();
                let mark = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}.");
                        *n += 1;
                        m
                    }
                    _ => "\\(bu".to_owned(),
                };
                self.out.push_str(&format!(".IP {mark} 4\n"));
            }
            Tag::Emphasis => {
                self.fonts.push("\\fI");
                self.line.push_str("\\fI");
            }
            Tag::Strong => {
                self.fonts.push("\\fB");
                self.line.push_str("\\fB");
            }
            Tag::Link { dest_url, .. } => {
                let url = dest_url.to_string();
                self.link = url.starts_with("http").then_some(url);
            }
            Tag::Table(alignments) => {
                self.flush();
                self.table = Some(Table {
                    columns: alignments.len(),
                    ..Table::default()
                });
            }
            Tag::TableHead => {
                if let Some(t) = &mut self.table {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableCell => self.line.clear(),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(level) => {
                let text = std::mem::take(&mut self.line).replace('\n', " ");
                // The page's title is `.TH`'s.
                if level != HeadingLevel::H1 {
                    match level {
                        // Man pages' section titles are capitals; roff's escapes are not.
                        HeadingLevel::H2 if !text.contains('\\') => {
                            self.out.push_str(&format!(".SH {}\n", text.to_uppercase()));
                        }
                        HeadingLevel::H2 => self.out.push_str(&format!(".SH {text}\n")),
                        _ => self.out.push_str(&format!(".SS {text}\n")),
                    }
                }
                self.heading = false;
            }
            TagEnd::Paragraph => self.flush(),
            TagEnd::CodeBlock => {
                self.code_block = false;
                self.out.push_str(".fi\n.RE\n");
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if !self.lists.is_empty() {
                    self.out.push_str(".RE\n");
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::Emphasis | TagEnd::Strong => {
                self.fonts.pop();
                let f = self.font();
                self.line.push_str(f);
            }
            TagEnd::Link => {
                if let Some(url) = self.link.take() {
                    self.line.push_str(&format!(" <{}>", escape(&url)));
                }
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.line);
                if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(cell);
                }
            }
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    t.head_rows = t.rows.len();
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    self.out.push_str(&table(&t));
                }
            }
            _ => {}
        }
    }

    /// Ends the inline text gathered so far as its own lines.
    fn flush(&mut self) {
        if self.table.is_some() || self.heading {
            return;
        }
        let text = std::mem::take(&mut self.line);
        for l in text.lines() {
            self.out.push_str(&line_start(l.trim_start()));
            self.out.push('\n');
        }
    }
}

/// A tbl table: the header row bold, every cell a text block so long ones wrap.
fn table(t: &Table) -> String {
    let n = t.columns.max(1);
    let spec = |font: &str| {
        let mut cols: Vec<String> = (0..n).map(|_| format!("l{font}")).collect();
        if let Some(last) = cols.last_mut() {
            last.push('x');
        }
        cols.join(" ")
    };
    let mut s = String::from(".PP\n.TS\nallbox tab(\t);\n");
    if t.head_rows > 0 {
        s.push_str(&format!("{}\n", spec("B")));
    }
    s.push_str(&format!("{}.\n", spec("")));
    for row in &t.rows {
        let cells: Vec<String> = (0..n)
            .map(|i| {
                let c = row.get(i).map(String::as_str).unwrap_or("");
                let body: Vec<String> = c.lines().map(|l| line_start(l.trim_start())).collect();
                // Ragged right: a narrow column of long words cannot be justified.
                format!("T{{\n.na\n{}\nT}}", body.join("\n"))
            })
            .collect();
        s.push_str(&cells.join("\t"));
        s.push('\n');
    }
    s.push_str(".TE\n");
    s
}

/// A code span: `-` as the minus sign it is, and a place to break a line (`\:`) after each
/// `/`, `.`, `_`, `:` or `=`, so that a long path or key fits a table's column. A space at
/// either end is roff's fixed-width one: a line may start with the span, and a leading space
/// would break it there.
fn code(t: &str) -> String {
    let mut out = String::new();
    let text = escape(t);
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        match c {
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '-' => out.push_str("\\-"),
            '/' | '.' | '_' | ':' | '=' => {
                out.push(c);
                out.push_str("\\:");
            }
            c => out.push(c),
        }
    }
    out
}

/// Text as roff reads it: a backslash as `\e`.
fn escape(s: &str) -> String {
    s.replace('\\', "\\e")
}

/// A line that would start with a control character (`.` or `'`) made plain text.
fn line_start(l: &str) -> String {
    if l.starts_with('.') || l.starts_with('\'') {
        format!("\\&{l}")
    } else {
        l.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_roff() {
        let md = "# Title\n\nIntro `--json` and *this*. `/run/p.sock`\n\n## Keys\n\n.dot line\n\n| a | b |\n|---|---|\n| `x` | y |\n\n```\n.code\n```\n\n- one\n- two\n";
        let p = page("x.conf", "5", "a file", "1", md);
        assert!(p.starts_with("'\\\" t\n.TH X.CONF 5"));
        assert!(p.contains("Intro \\fB\\-\\-json\\fR and \\fIthis\\fR."));
        assert!(p.contains("\\fB/\\:run/\\:p.\\:sock\\fR"), "{p}");
        assert!(p.contains(".SH KEYS\n"));
        assert!(p.contains("\\&.dot line"));
        assert!(p.contains(".TS\nallbox tab(\t);\nlB lBx\nl lx.\nT{\n.na\na\nT}\tT{\n.na\nb\nT}\nT{\n.na\n\\fBx\\fR\nT}\tT{\n.na\ny\nT}\n.TE\n"), "{p}");
        assert!(p.contains(".nf\n\\&.code\n.fi"));
        assert!(p.contains(".IP \\(bu 4\none\n"));
    }
}
