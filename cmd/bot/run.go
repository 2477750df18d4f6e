package bot

import (
	"context"
	"net/http"

	"github.com/wxbot/wxbot/cmd/admin"
	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/metrics"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

// Start runs the bot's background work: the outbox (sends from before a
// restart go first) and the rules' watcher. It returns at once.
func (b *Bot) Start() {
	b.m.Publish() // a fleet's account: its series read this bot from now on
	var octx, rctx context.Context
	octx, b.stopOutbox = context.WithCancel(context.Background())
	b.outboxDone = make(chan struct{})
	go func() { b.outbox.Run(octx); close(b.outboxDone) }()
	if n, err := b.st.Pending(context.Background()); err == nil && n > 0 {
		b.log.Info("outbox has sends from before the restart", "pending", n)
	}
	rctx, b.stopReload = context.WithCancel(context.Background())
	go b.reloader.Run(rctx)
}

// Stop drains the bot: the engine's actions still running (cancelled when
// ctx ends), the outbox (deliveries in flight finish; the rest stay in the
// store for the next start), then the store. It is safe to call twice, and
// on a bot that never started.
func (b *Bot) Stop(ctx context.Context) error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.stopReload != nil {
		b.stopReload()
	}
	var err error
	if b.eng != nil {
		err = b.eng.Close(ctx)
	}
	if b.stopOutbox != nil {
		b.stopOutbox()
		<-b.outboxDone
		if n, perr := b.st.Pending(context.Background()); perr == nil && n > 0 {
			b.log.Info("outbox sends kept for the next start", "pending", n)
		}
	}
	if b.backend != nil {
		b.backend.Close()
	}
	return err
}

// Callback is the WeChat callback handler (GET verification, POST pushes).
func (b *Bot) Callback() http.Handler { return callback.NewHandler(b.eng, b.callback) }

// CallbackConfig is the callback's configuration as wired (tests and
// benchmarks build handlers of their own from it).
func (b *Bot) CallbackConfig() callback.Config { return b.callback }

// Pay is the WeChat Pay notify handler; nil without payments.
func (b *Bot) Pay() http.Handler {
	if b.pay == nil {
		return nil
	}
	return b.pay
}

// Admin is the admin API of this bot.
func (b *Bot) Admin() http.Handler {
	return admin.Handler(admin.Config{Engine: b.eng, Reloader: b.reloader, Store: b.st, Metrics: b.m, Health: b.backend.Health})
}

// Reload asks for a reload of the rules (SIGHUP).
func (b *Bot) Reload(reason string) { b.reloader.Trigger(reason) }

// Engine, Reloader, Store and Client are the bot's parts, for the
// console and tests; Client is nil without API credentials.
func (b *Bot) Engine() *engine.Engine    { return b.eng }
func (b *Bot) Reloader() *rules.Reloader { return b.reloader }
func (b *Bot) Store() store.Store        { return b.st }
func (b *Bot) Client() *wechat.Client    { return b.client }

// Outbox is the bot's outbox of asynchronous sends (the send API adds to
// it).
func (b *Bot) Outbox() *outbox.Outbox { return b.outbox }

// Metrics are the bot's metrics (its own registry).
func (b *Bot) Metrics() *metrics.Metrics { return b.m }
