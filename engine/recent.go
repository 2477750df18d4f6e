package engine

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxbot/wxbot/engine/store"
)

// Recent is one of the user's earlier texts (event.recent): what a
// webhook alerting staff sends along as the context.
type Recent struct {
	Text string    `expr:"text"`
	Time time.Time `expr:"time"`
}

// The bounds of event.recent: the last texts a user sent, each cut, for a
// day after it was sent.
const (
	MaxRecent      = 10
	MaxRecentRunes = 500
	RecentTTL      = 24 * time.Hour
)

// recentKey is where the user's texts are kept: the AI history's bounded,
// expiring per-user list (store.AIStore, on every store, shared by
// replicas), under a key no OpenID has, so that the user's state keeps
// its 8 KiB for the rules' own keys.
func recentKey(openID string) string { return "recent:" + openID }

// recent fills ev.Recent with the user's earlier texts and keeps this
// push's text among them. A store that fails leaves the list empty or
// the text unkept: context for people, not worth failing the push for.
func (e *Engine) recent(ev *Event) {
	if e.ai == nil || ev.From == "" {
		return
	}
	key := recentKey(ev.From)
	kept, err := e.ai.AITurns(e.ctx, key)
	if err != nil {
		e.log.Warn("reading the user's recent texts failed; event.recent is empty", "err", err)
	}
	now := e.now()
	ev.Recent = ev.Recent[:0]
	for _, t := range kept {
		at, err := time.Parse(time.RFC3339, t.A)
		if err == nil && now.Sub(at) < RecentTTL {
			ev.Recent = append(ev.Recent, Recent{Text: t.Q, Time: at.In(now.Location())})
		}
	}
	text := strings.TrimSpace(ev.Content)
	if ev.Type != "text" || text == "" || ev.Collects {
		return
	}
	t := store.Turn{Q: clipRunes(text, MaxRecentRunes), A: now.Format(time.RFC3339)}
	if err := e.ai.AddAITurn(e.ctx, key, t, MaxRecent, RecentTTL); err != nil {
		e.log.Warn("keeping the user's text for event.recent failed", "err", err)
	}
}

// clipRunes cuts s to at most n characters.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
