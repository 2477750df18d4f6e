// Package accounts reads and checks the accounts file of `wxbot serve
// --accounts FILE`, which serves many Official Accounts from one process.
//
// # Why a file of its own
//
// One account fits in flags; twenty do not, and their secrets must not
// sit in a process list or a repository. So the file names each
// account's rules and where its secrets live (an environment variable,
// NAME_env, or a file, NAME_file, as container platforms provide them),
// and [Load] reads them. A secret written inline is refused rather than
// ignored: the file is the kind that gets committed and shared.
//
// # Every problem at once, with its line
//
// The file is edited by hand and reloaded while the bot runs, so a load
// that stops at the first mistake costs one round trip per mistake. [Load]
// collects every problem of the file in one [*Error], each positioned as
// FILE:LINE and naming the account and the field, and saying what to do.
// The YAML is walked as a node tree rather than decoded into a struct:
// strict decoding (KnownFields) would stop at type errors and word them in
// Go's terms, and could not tell an inline secret from a typo.
//
// # Secrets stay out of messages
//
// Secret values are [wechat.Secret], which prints and logs as REDACTED;
// [Account] and [File] log and marshal without them, and no error quotes a
// secret's value. A value written in a *_env or *_file field that looks
// like a pasted secret rather than a name or a path is not quoted either.
//
// # Reload
//
// [Diff] tells which accounts a new version of the file adds, removes or
// changes, secrets included (a rotated token changes an account even when
// the file's bytes do not), so a reload can restart only those.
package accounts
