// Package admin is the admin listener's HTTP API of one running bot:
// health and readiness, Prometheus metrics, profiles, the rules with
// their hit counts and reload status, POST /reload, users' state and the
// outbox. It holds no state of its own: every endpoint reads or acts on
// the engine, reloader and store it is given, so several bots in one
// process each get their own Handler.
//
// [Guard] goes in front of the whole listener (one bot's Handler, or the
// fleet's, with every account's under /accounts/NAME/): what probes and
// scrapers need stays open, the rest needs the --admin-token, and without
// one is refused on a listener reachable beyond loopback.
package admin
