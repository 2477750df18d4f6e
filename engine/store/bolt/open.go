package bolt

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/dedup"
	"github.com/wxbot/wxbot/engine/store"
)

func init() { store.Register("bolt", Open) }

// ErrLocked is a store file that another process holds.
var ErrLocked = errors.New("locked by another process")

// lockWait is how long OpenFile waits for another process to release the
// file: one that is stopping does.
const lockWait = 3 * time.Second

// OpenFile opens (creating if needed) the store at path.
func OpenFile(path string, now func() time.Time) (*Bolt, error) {
	return OpenFileWaiting(path, now, lockWait)
}

// Open is the bolt: driver (bolt:PATH). Retries' answers and the replay
// window's query strings are kept in memory and written behind to files
// beside the store, so that a retry reaching the bot after a restart is
// answered with the first reply's bytes and runs nothing, and a signed
// query string seen before it is still known; the access_token lives in
// this process.
func Open(rawURL string, o store.Options) (*store.Backend, error) {
	path := strings.TrimPrefix(rawURL, "bolt:")
	if path == "" || path == rawURL {
		return nil, fmt.Errorf("store URL %q: want bolt:PATH, e.g. bolt:wxbot.db", rawURL)
	}
	s, err := OpenFile(path, o.Now)
	if err != nil {
		return nil, err
	}
	b := s.backend(o)
	b.Account = func(appID string, o store.Options) (*store.Backend, error) {
		v, err := s.Account(appID)
		if err != nil {
			return nil, err
		}
		return v.backend(o.WithDefaults()), nil
	}
	return b, nil
}

// backend is what a bot needs of s (the file's top level, or an account's
// view): s with its retry answers and replay window, both loaded with what
// was kept from before a restart.
func (s *Bolt) backend(o store.Options) *store.Backend {
	s.nonces.Budget = o.ReplayMemory
	s.queryLog.setKeep(keepFor(o.ReplayMemory))
	n, err := s.loadQueries(o.Now())
	if err != nil {
		o.Logger.Warn("reading the replay window kept from before the restart failed; query strings seen before it are not known", "err", err)
	}
	if n > 0 {
		o.Logger.Info("signed query strings of the replay window kept from before the restart", "queries", n)
	}
	b := &store.Backend{Store: s, Replays: s, Dedup: s.retryCache(o)}
	b.OnClose(s.Close)
	return b
}

// retryCache is the retry answers in memory, preloaded with the answers
// kept from before a restart and persisting each new one.
func (s *Bolt) retryCache(o store.Options) *dedup.Local {
	local := dedup.NewLocalSized(dedup.DefaultTTL, o.RetryMemory, o.Now)
	s.answerLog.setKeep(keepFor(o.RetryMemory))
	n := 0
	if err := s.SavedAnswers(o.Now(), func(key, ct string, body []byte) { local.Preload(key, ct, body); n++ }); err != nil {
		o.Logger.Warn("reading the answers kept for retries failed; retries of pushes from before the restart run their rules again", "err", err)
	}
	if n > 0 {
		o.Logger.Info("answers kept for WeChat's retries of pushes from before the restart", "answers", n)
	}
	local.Persist = s.SaveAnswer
	return local
}
