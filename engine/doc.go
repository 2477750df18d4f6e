// Package engine is what runs between a push and its answer: the normalized
// [Event] that rules see and the table of event types, the expr environment
// ([Env]) and templates, compiled rules ([Rule], [RuleSet]) and their
// matching and [RuleSet.Explain], schedules (`windows:`), the [Action]
// interface with its registry and the [Call] an action gets, and the
// [Engine] that dispatches a push and runs its actions.
//
// # Layering
//
// engine imports engine/wechat (the wire protocol), engine/outbox (durable
// asynchronous sends), engine/store (the state contract) and
// engine/store/memory (the in-memory default state), and third-party
// libraries; never rules, actions or cmd, and no store driver: a custom
// action's build links neither go-redis nor bbolt unless its main does.
// Around it:
//
//   - engine/callback: the HTTP handlers WeChat and WeChat Pay call;
//   - engine/dedup: the retry cache that runs a push's rules once;
//   - engine/store: the state contract and the registry of store drivers;
//     engine/store/memory, engine/store/bolt and engine/store/redis are
//     the backends, each opened by store.Open from its URL;
//   - engine/metrics: Prometheus metrics from the [Observer].
//
// The rules package turns rules.yaml into a [RuleSet]; the actions package
// registers the built-in actions; cmd wires them together. Keeping the YAML
// schema out of here means a RuleSet can be built by any front end (tests
// build them by hand).
//
// # State
//
// Each user of the state outside a push takes the small interface it
// needs: the engine [State] (cooldowns and kefu windows), the payment
// handler [Claims], the kefu deliverer [KefuWindows], the outbox its
// outbox.Queue; store.Store composes them for wiring.
//
// # Concurrency
//
// An [Engine] is safe for concurrent use. Its rule set is swapped atomically
// ([Engine.SetRules]); a push that started on one set finishes on it. The
// engine owns the goroutines that run actions: actions never start their own.
//
// # Late replies
//
// A passive reply offered after the push was answered goes out by kefu
// through the outbox ([Options.LateReply]), or, for an account without the
// kefu API ([Options.HoldLate]), is held in the store ([AIMemory]) for the
// user's next push, which the callback answers with it. [Call.FollowUp]
// sends what follows a reply (the parts of a long answer) the same way.
//
// # Budgets
//
// Conditions and ${…} run within a budget ([MemoryBudget], [MaxRepeat]): an
// evaluation over it stops with an error wrapping [ErrOverBudget], and its
// rule does not match. The rules loader refuses what could cost more in
// time, which expr cannot interrupt.
//
// # Dry runs
//
// Offline runs (rule tests, explain) set [Options.DryRun]: sends are encoded
// but not queued, and actions that call other systems check [Call.DryRun];
// what they would fetch comes from [Options.Canned] (a test's ai_answer).
package engine
