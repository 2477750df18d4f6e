package console

import (
	"fmt"
	"slices"
)

// lang is a language the console speaks: a key of catalog.
type lang string

const (
	langZH lang = "zh-CN"
	langEN lang = "en"
)

// Langs are the values Config.Lang takes, the default first: marketers at
// Chinese companies read Chinese, so English is the one to ask for.
var Langs = []string{string(langZH), string(langEN)}

// ValidLang reports whether the console speaks l.
func ValidLang(l string) bool { return slices.Contains(Langs, l) }

// catalog is every text the console shows, by language and key. Both
// languages have every key (a test checks); texts with arguments take
// them printf-style, in the same order in both.
var catalog = map[lang]map[string]string{langEN: msgEN, langZH: msgZH}

// t is key's text in l with args, or the key itself when the catalog
// lacks it (a test checks that every key the code uses is there).
func (l lang) t(key string, args ...any) string {
	s, ok := catalog[l][key]
	if !ok {
		if s, ok = msgEN[key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// tmplT is the templates' t: an unknown key fails the page's rendering,
// so that a typo shows in the tests rather than as a raw key on a page.
func (l lang) tmplT(key string, args ...any) (string, error) {
	if _, ok := catalog[l][key]; !ok {
		return "", fmt.Errorf("no text %q in the %s catalog", key, l)
	}
	return l.t(key, args...), nil
}

// t is the text of key in the console's language.
func (s *Server) t(key string, args ...any) string { return s.lang.t(key, args...) }
