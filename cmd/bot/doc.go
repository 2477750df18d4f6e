// Package bot assembles one account's running bot from its settings: the
// store with everything beside it (store.Open), the rules and their
// reloader, the engine, the outbox with the deliverers the registered
// actions bring, the AI model, the WeChat and WeChat Pay handlers and the
// admin API. `wxbot serve` parses its flags into [Settings], calls [New],
// mounts the handlers and calls [Bot.Start]; nothing here reads a flag, an
// environment variable or a global, so one process can run many bots side
// by side, each with its own lifecycle (caddy's apps are the model: New
// builds and opens, Start starts, Stop drains and closes, and a bot that
// fails to build leaves nothing open).
package bot
