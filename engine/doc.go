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
package engine
