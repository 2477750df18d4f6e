// Package actions holds wxbot's built-in actions, one file each. Every file
// registers its action with engine.Register in init, exactly as a custom
// action in a plugin does; importing this package makes them available to
// rules.
//
// # Writing an action
//
// Declare a params struct with yaml tags and doc comments (the comments are
// the user's reference), a Validate method for what decoding cannot check,
// and register an engine.Spec whose Params returns the struct with its
// defaults. See example_action_test.go.
package actions
