package actions

import (
	"fmt"
	"strings"

	"github.com/wxbot/wxbot/actions/mdtext"
)

// AnswerMarkdown is what the ai action does with Markdown in a model's
// answer: its markdown param. WeChat shows a text message as it is, so
// "**注意**" and "### 步骤" reach the user with their asterisks and hashes.
type AnswerMarkdown string

// Values of AnswerMarkdown; empty is MarkdownPlain.
const (
	// MarkdownPlain turns the answer's Markdown into plain text (see
	// package mdtext): titles in 【】, • bullets, links as text and URL.
	MarkdownPlain AnswerMarkdown = "plain"
	// MarkdownKeep sends the answer as the model wrote it: for a system
	// prompt that already asks for plain text and answers whose asterisks
	// and underscores must stay.
	MarkdownKeep AnswerMarkdown = "keep"
)

// UnmarshalText implements encoding.TextUnmarshaler: rules.yaml's value is
// checked when the rules load.
func (m *AnswerMarkdown) UnmarshalText(b []byte) error {
	switch v := AnswerMarkdown(b); v {
	case "", MarkdownPlain, MarkdownKeep:
		*m = v
		return nil
	}
	return fmt.Errorf("%q: want plain (Markdown becomes plain text; the default) or keep (sent as the model wrote it)", b)
}

// Shape returns the answer as the user reads it, before it is split to
// WeChat's size. Only the model's answer goes through it: over_limit and
// apology are the operator's own text, sent as written. An answer that is
// nothing but markup ("---") is sent as it is rather than as an empty
// message.
func (m AnswerMarkdown) Shape(answer string) string {
	if m == MarkdownKeep {
		return answer
	}
	if s := mdtext.Plain(answer); strings.TrimSpace(s) != "" {
		return s
	}
	return answer
}
