// Package engine is what runs between a WeChat push and its answer: the
// normalized [Event] that rules see, the expr environment ([Env]), compiled
// rules ([Rule], [RuleSet]) and the dispatcher that matches them, the
// [Action] interface with its registry, and the HTTP [Handler].
//
// # Layering
//
// engine imports engine/wechat and third-party libraries only. The rules
// package turns rules.yaml into a [RuleSet]; the actions package registers the
// built-in actions; cmd wires them together. Keeping the YAML schema out of
// here means a RuleSet can be built by any front end (tests build them by
// hand).
//
// # Concurrency
//
// An [Engine] is safe for concurrent use. Its rule set is swapped atomically
// ([Engine.SetRules]); a push that started on one set finishes on it. The
// engine owns the goroutines that run actions: actions never start their own.
//
// # Retries
//
// WeChat retries a push it got no answer to within 5 s. The handler keys every
// push (MsgId for messages; FromUserName, CreateTime, Event and EventKey for
// events), runs rules for the first copy only, and serves later copies the
// first copy's reply bytes, waiting for it when it is still being computed.
//
// # Payments
//
// [PayHandler] takes WeChat Pay v3 notifications (verified and decrypted by
// engine/wechatpay) and dispatches a payment event per transaction_id, once:
// the id is claimed durably in the [Store] before the rules run, so WeChat
// Pay's redeliveries (for about 24 hours) and restarts run nothing again. A
// payment takes no passive reply ([Event.TakesReply]), and no kefu fallback.
//
// # Dry runs
//
// Offline runs (rule tests, explain) set [Options.DryRun]: sends are encoded
// but not queued, and actions that call other systems check [Call.DryRun].
package engine
