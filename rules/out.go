package rules

import (
	"bytes"
	"regexp"

	"gopkg.in/yaml.v3"
)

// The shapes of a rules file as programs write it (`wxbot import`, the
// console) and read back what they wrote: only the fields they write.
// Field order is the order in the file; empty fields are left out.

// FileOut is a whole rules file.
type FileOut struct {
	Version int       `yaml:"version"`
	Rules   []RuleOut `yaml:"rules"`
	Tests   []TestOut `yaml:"tests,omitempty"`
}

// RuleOut is one rule.
type RuleOut struct {
	Name     string      `yaml:"name"`
	On       any         `yaml:"on"` // an event type, or a list of them
	Text     *TextOut    `yaml:"text,omitempty"`
	Key      string      `yaml:"key,omitempty"`
	When     string      `yaml:"when,omitempty"`
	Priority int         `yaml:"priority,omitempty"`
	Enabled  *bool       `yaml:"enabled,omitempty"`
	Cooldown string      `yaml:"cooldown,omitempty"`
	Actions  []ActionOut `yaml:"actions"`
}

// TextOut is a rule's text gate.
type TextOut struct {
	Exact    []string `yaml:"exact,omitempty"`
	Contains []string `yaml:"contains,omitempty"`
}

// ActionOut is one step: one of its fields is set.
type ActionOut struct {
	Reply    *MsgOut      `yaml:"reply,omitempty"`
	Kefu     *MsgOut      `yaml:"kefu,omitempty"`
	Transfer *TransferOut `yaml:"transfer,omitempty"`
}

// MsgOut is the message of a reply or kefu step.
type MsgOut struct {
	Text  []string     `yaml:"text,omitempty"`
	Image *MediaOut    `yaml:"image,omitempty"`
	Voice *MediaOut    `yaml:"voice,omitempty"`
	Video *MediaOut    `yaml:"video,omitempty"`
	News  []ArticleOut `yaml:"news,omitempty"`
}

// MediaOut is uploaded media.
type MediaOut struct {
	MediaID string `yaml:"media_id"`
}

// ArticleOut is a news article.
type ArticleOut struct {
	Title       string `yaml:"title"`
	Description string `yaml:"description,omitempty"`
	URL         string `yaml:"url,omitempty"`
	PicURL      string `yaml:"pic_url,omitempty"`
}

// TransferOut is a transfer step.
type TransferOut struct {
	KfAccount string `yaml:"kf_account"`
}

// TestOut is one test.
type TestOut struct {
	Name   string    `yaml:"name"`
	Event  EventOut  `yaml:"event"`
	Expect ExpectOut `yaml:"expect"`
}

// EventOut is a test's event.
type EventOut struct {
	Type    string `yaml:"type"`
	MsgID   string `yaml:"msg_id,omitempty"`
	Content string `yaml:"content,omitempty"`
	Key     string `yaml:"key,omitempty"`
}

// ExpectOut is what a test checks.
type ExpectOut struct {
	Rules   []string        `yaml:"rules,flow,omitempty"`
	Actions []string        `yaml:"actions,flow,omitempty"`
	Reply   *ReplyExpectOut `yaml:"reply,omitempty"`
}

// ReplyExpectOut is a test's expected reply.
type ReplyExpectOut struct {
	Type      string `yaml:"type,omitempty"`
	Text      string `yaml:"text,omitempty"`
	MediaID   string `yaml:"media_id,omitempty"`
	Title     string `yaml:"title,omitempty"`
	KfAccount string `yaml:"kf_account,omitempty"`
}

// MarshalYAML encodes v as rules files are written: two-space indents,
// and the key on bare (yaml.v3 quotes it, a YAML 1.1 boolean; wxbot reads
// it either way).
func MarshalYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return onKeyRE.ReplaceAll(b.Bytes(), []byte("${1}on:")), nil
}

var onKeyRE = regexp.MustCompile(`(?m)^(\s*(?:- )?)"on":`)
