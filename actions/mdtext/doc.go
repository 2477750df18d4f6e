// Package mdtext turns the Markdown a language model answers with into plain
// text for a WeChat text message, which shows Markdown as it is: a reader
// would see "**注意：**" and "### 步骤" instead of emphasis and a title.
//
// # What becomes what
//
//   - A heading ("## 退换货") is its title in 【】 on a line of its own,
//     after a blank line: the way Chinese WeChat messages mark a section.
//   - Emphasis (**x**, __x__, *x*, _x_) loses its markers. Asterisks
//     between ASCII letters or digits (2*3*4, a**b) and underscores inside
//     words (snake_case, __init__) are left alone, and so is everything in
//     a URL.
//   - List items: "- x", "* x" and "+ x" become "• x" ("◦" and "▪" when
//     nested), "1. x" stays "1. x", task items become "☐ x" and "☑ x".
//     Indentation is kept.
//   - Links: [text](url) becomes "text（url）" after Chinese text and
//     "text: url" after other text, so WeChat, which makes URLs in a
//     message clickable, still offers the link; a link whose text is its
//     URL becomes the URL. Images are their alt text and URL. Reference
//     links ([text][1]) keep their label, and the definitions
//     ("[1]: url") become "[1] url" lines.
//   - Inline code loses its backticks; a fenced code block keeps its
//     content exactly as written (nothing inside is converted) and loses
//     its fence lines and language name (```python); other text after a
//     fence stays.
//   - Block quotes lose their ">"; horizontal rules become a blank line.
//   - A table is its rows, cells joined by " | ", without the row of
//     dashes.
//   - A few presentational HTML tags that models emit (<br>, <b>, <sup>,
//     <details>, …) are dropped, their text kept; <br> is a line break.
//     Anything else in angle brackets (<你的姓名>, a < b) stays.
//   - Backslash escapes (\*) lose their backslash.
//
// No text is ever dropped, only markup (a link's title, a tooltip nobody
// sees in a chat, counts as markup). Strikethrough (~~x~~) is kept as
// written, since "~" is also how Chinese text writes ranges (9:00~18:00).
// HTML entities (&amp;) are kept as written.
//
// # Why not a CommonMark library
//
// A CommonMark parser (goldmark was tried) renders the answers models
// actually write worse: CommonMark's flanking rules leave "**注意：**请带证件"
// untouched (a closing ** after a full-width colon and before a Han
// character does not close), turn "2*3*4" into "2<em>3</em>4" and
// "__init__" into "<strong>init</strong>", and drop unreferenced link
// definitions. This package follows CommonMark where models rely on it and
// departs from it where Chinese text needs: a delimiter next to a CJK
// character or CJK punctuation may open or close.
//
// # Properties
//
// Plain never panics, keeps every link's URL and every letter and digit
// outside markup, and is idempotent on its own output unless that output
// holds text that was verbatim (code, escapes, tags, link destinations)
// and may read as Markdown the second time; the fuzz tests say exactly
// where. Its cost is about linear in the input: every backward or forward
// search (brackets, tags, destinations, backtick runs) is bounded.
package mdtext
