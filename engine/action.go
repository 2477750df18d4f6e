package engine

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/wechat"
)

// Action is one step of a rule, built from its params when rules load and run
// for every push the rule matches. Run may be called concurrently. It must
// honour ctx: the engine cancels it at shutdown. The reply deadline is not in
// ctx: a passive reply that comes after it goes out by kefu (see
// Options.LateReply), so an action should finish its work rather than give up.
//
// An action never starts goroutines of its own: the engine runs actions on
// goroutines it owns and waits for them at shutdown.
type Action interface {
	Run(ctx context.Context, c *Call) error
}

// ActionFunc adapts a function to Action.
type ActionFunc func(ctx context.Context, c *Call) error

// Run calls f.
func (f ActionFunc) Run(ctx context.Context, c *Call) error { return f(ctx, c) }

// Validator is implemented by params that check themselves after decoding;
// the loader reports the error at the action's position.
type Validator interface {
	Validate() error
}

// Spec registers an action under a name usable in rules.yaml.
type Spec struct {
	// Name is the key in rules.yaml: `- NAME: {params}`.
	Name string
	// Doc is one line for `wxbot schema` and error messages.
	Doc string
	// Params returns a fresh params value (a pointer to a struct) with its
	// defaults set; the loader decodes rules.yaml into it strictly, then calls
	// Validate if it is a Validator. Nil means the action takes no params.
	Params func() any
	// New builds the action from decoded, validated params (nil when Params
	// is nil).
	New func(params any) (Action, error)
	// Passive marks an action that answers the push itself (a passive reply
	// or a transfer): only the first passive response of a push is sent.
	Passive bool
	// Deliverers builds the outbox deliverers of the sends this action
	// queues, by outbox kind, from what the bot offers; nil when it queues
	// none. A kind it leaves out (no API client, say) has no deliverer:
	// its sends wait in the outbox. This is how a plugin brings its own
	// asynchronous delivery without touching the code that builds the bot.
	Deliverers func(d Delivery) map[string]outbox.Deliverer
	// Inline marks an action that never blocks (no I/O, no waiting): when
	// every action of a push is Inline, the engine runs them on the
	// request's goroutine, which saves a goroutine, a timer and channel
	// traffic per push.
	Inline bool
}

var registry struct {
	sync.RWMutex
	specs map[string]*Spec
}

// Register makes an action available to rules. It is meant for init
// functions and panics, like database/sql.Register, on an empty name, a nil
// New, or a name registered twice.
func Register(s Spec) {
	if s.Name == "" {
		panic("engine.Register: empty action name")
	}
	if s.New == nil {
		panic(fmt.Sprintf("engine.Register(%q): nil New", s.Name))
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.specs == nil {
		registry.specs = make(map[string]*Spec)
	}
	if _, dup := registry.specs[s.Name]; dup {
		panic(fmt.Sprintf("engine.Register: action %q registered twice", s.Name))
	}
	registry.specs[s.Name] = &s
}

// Delivery is what a bot offers the deliverers of asynchronous sends.
type Delivery struct {
	// Client calls the WeChat API; nil when the account has no API
	// credentials (--appid and --secret).
	Client *wechat.Client
	// Store keeps the kefu windows and the rest of the bot's state.
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// WindowClosed hears about a send refused for a closed kefu window
	// (metrics); nil is fine.
	WindowClosed func(*outbox.Send)
	// Outbox takes the sends a delivery makes (a webhook retry's reply,
	// too late for its push, goes out by kefu); nil is fine.
	Outbox *outbox.Outbox
	// HoldLate: late replies wait for the user's next push instead (no
	// kefu API, see Options.HoldLate).
	HoldLate bool
}

// Deliverers collects the deliverers of every registered action, by kind;
// when two actions offer one kind, the first by name wins.
func Deliverers(d Delivery) map[string]outbox.Deliverer {
	out := map[string]outbox.Deliverer{}
	for _, name := range ActionNames() {
		s, _ := LookupAction(name)
		if s.Deliverers == nil {
			continue
		}
		for kind, dl := range s.Deliverers(d) {
			if _, taken := out[kind]; !taken && dl != nil {
				out[kind] = dl
			}
		}
	}
	return out
}

// LookupAction returns the registered action called name.
func LookupAction(name string) (*Spec, bool) {
	registry.RLock()
	defer registry.RUnlock()
	s, ok := registry.specs[name]
	return s, ok
}

// ActionNames lists the registered actions, sorted.
func ActionNames() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.specs))
	for n := range registry.specs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StatePatcher is implemented by actions that change the pushing user's
// state (the `state` action). The engine asks for the patch when the rule
// matches, in step order, so the rules checked after it and the actions
// after the step see the change, and it stores the merged patch of the
// push once, before the push is answered. Run is still called in turn.
type StatePatcher interface {
	StatePatch(env *Env) (*store.UserPatch, error)
}

// StateSetter is implemented by the params of actions that set user
// state, for check: each key they set, with its value when it is a
// constant string (nil when computed or not a string).
type StateSetter interface {
	StateSets() map[string]*string
}

// LintInfo is what a params value may look at to warn about its rule.
type LintInfo struct {
	// On is the rule's event types ("*" for any).
	On []string
	// Before counts the steps of the same action earlier in the rule (for
	// quotas such as the kefu window's).
	Before int
}

// Linter is implemented by params that can warn about their use, e.g. a
// news reply with more articles than WeChat shows. Warnings do not stop a
// rules file from loading; `wxbot check` prints them.
type Linter interface {
	Lint(LintInfo) []string
}

// ParamName is the name a field of an action's params has in rules.yaml
// (and in the send API's JSON): its yaml tag, else its Go name lower-cased;
// false for a field rules cannot set (unexported, embedded, `yaml:"-"`,
// inline). The rules decoder, `wxbot schema` and the send API all name
// params through it, so they agree.
func ParamName(f reflect.StructField) (string, bool) {
	if !f.IsExported() || f.Anonymous {
		return "", false
	}
	name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || strings.Contains(opts, "inline") {
		return "", false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, true
}
