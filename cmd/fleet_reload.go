package cmd

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/wxbot/wxbot/cmd/accounts"
)

// reloadFile reads the accounts file again and applies what changed, the
// way a rules reload does: a file that does not load, or an account whose
// bot cannot be built (its rules broken, say), changes nothing of what
// runs, and the error is kept for GET /accounts. A changed account's new
// bot is built (rules loaded, store view opened) before the old one stops,
// and starts once it has.
func (f *fleet) reloadFile(reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.applyFile(reason)
	f.lastErr, f.loadAt = err, time.Now()
	if err != nil {
		f.log.Error("accounts file not reloaded; the running accounts stay", "reason", reason, "err", err)
	}
	return err
}

func (f *fleet) applyFile(reason string) error {
	file, err := accounts.Load(f.s.accounts, f.env.getenv)
	if err != nil {
		return fmt.Errorf("--accounts: %w", err)
	}
	added, removed, changed := accounts.Diff(f.file, file)
	if len(added)+len(removed)+len(changed) == 0 {
		f.file = file
		return nil
	}
	old := *f.bots.Load()
	var todo []accounts.Account
	for _, name := range append(added, changed...) {
		a, _ := file.Find(name)
		todo = append(todo, a)
	}
	built, err := f.buildAll(todo, len(file.Accounts))
	if err != nil {
		for _, b := range built { // never started: this closes their store views
			b.bot.Stop(context.Background())
		}
		return err
	}
	next := maps.Clone(old)
	for _, name := range removed {
		delete(next, name)
	}
	maps.Copy(next, built)
	f.bots.Store(&next)
	// The old bot of a changed account stops before its successor starts:
	// an account's store view runs one outbox at a time.
	for _, name := range append(removed, changed...) {
		old[name].bot.Stop(context.Background())
	}
	for _, name := range removed {
		f.metrics.Remove(name)
	}
	for _, fb := range built {
		fb.bot.Start()
	}
	f.file = file
	f.log.Info("accounts reloaded", "reason", reason, "added", added, "removed", removed, "changed", changed)
	return nil
}
