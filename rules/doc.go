// Package rules reads rules.yaml (version 1) and compiles it into the
// [engine.RuleSet] the engine runs.
//
// # Errors
//
// Loading never stops at the first problem: every error and warning is
// collected as a [Diagnostic] positioned FILE:LINE:COL, so an operator fixes
// a file in one pass. Expression errors keep expr's caret snippet.
//
// # Action params
//
// Each action's params are decoded strictly into the struct its [engine.Spec]
// provides: unknown fields are errors, a scalar where a list is expected is a
// one-element list, [engine.Template] fields are compiled, durations parse
// Go-style ("2s", "30m"). Then Validate runs, then the action is built, all
// at load time, so a rules file that loads cannot fail for a bad param later.
//
// # Costly expressions
//
// Every expression (conditions and ${…} in params) is estimated at load for
// its worst case on a push of 100 KB of text, and refused, saying what to
// change, when it is over [Limits].MaxCost, builds more lists than
// [engine.MemoryBudget] allows, or grows with what the push holds outright
// (repeat without a constant text and count, a range whose ends are not
// constants, text built through reduce's accumulator). See cost.go.
package rules
