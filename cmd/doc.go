// Package cmd is the wxbot command line as a library: the subcommands, their
// flags and environment variables, and [Main]. A custom build of wxbot (one
// with its own actions) is a main package that imports its action packages
// and calls cmd.Main; see examples/custom-action.
//
// `wxbot serve` turns its flags into cmd/bot's Settings and mounts what
// bot.New builds (the callback, the payment handler, cmd/admin's API, the
// console, cmd/api's send API for other systems); the store drivers
// --store can name are the ones stores.go imports.
//
// # Settings
//
// Every flag has an environment variable, WXBOT_ and the flag's name in
// upper case with dashes as underscores (--reply-deadline is
// WXBOT_REPLY_DEADLINE). A flag given on the command line wins over its
// variable. Secrets (--token, --aes-key, --secret, …) are better passed as
// variables, which do not show in process listings.
package cmd
