//! The two HTML pages snapkeep writes — `simulate --html` and the daemon's
//! status page — share these few pieces: escaping and the document shell.
//!
//! Both pages carry text the provider chose (server names, item names), so
//! every piece of text goes through [`escape`] on its way into the page;
//! there is no other way in. Both are self-contained: inline CSS and SVG,
//! no script, no font, no request for anything, so a page saved to disk or
//! opened with scripts off looks the same.

use std::fmt::Write as _;

/// `text` as HTML text or a quoted attribute value: `&`, `<`, `>`, `"` and
/// `'` become entities, so a name like `<script>` shows as itself.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole document: `title` (escaped here), extra `<head>` markup
/// (trusted, ours), the page's own `style` and its `body` (already escaped).
/// The content security policy forbids scripts and any outside resource,
/// so a page that would try either fails loudly in a browser's console.
pub(crate) fn document(title: &str, head: &str, style: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + style.len() + 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         {head}<title>{}</title>\n<style>\n{BASE_STYLE}{style}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    );
    out
}

/// What both pages look like: system fonts only, light and dark.
const BASE_STYLE: &str = "\
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d; --panel: #151b23; } }
body { font: 14px/1.45 system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 1.5rem; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 0 0 .25rem; }
.muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_become_text() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("web-01 é"), "web-01 é");
    }

    #[test]
    fn the_document_escapes_its_title_and_forbids_scripts() {
        let page = document("<b>", "", "", "<p>hi</p>\n");
        assert!(page.contains("<title>&lt;b&gt;</title>"), "{page}");
        assert!(page.contains("default-src 'none'"), "{page}");
        assert!(!page.contains("<script"), "{page}");
    }
}
