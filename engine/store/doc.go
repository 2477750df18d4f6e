// Package store is the contract between the bot and the state it keeps
// beyond a push: cooldowns, kefu windows, payment claims, users' state,
// AI memory and held replies, and the outbox's queue. It imports no driver:
// the backends are packages of their own (engine/store/memory,
// engine/store/bolt, engine/store/redis), and the engine, built on this
// package alone, links none of go-redis or bbolt.
//
// # Shape
//
// As in database/sql/driver, each consumer takes the small interface it
// needs (engine.Cooldowns, engine.Users, outbox.Queue, AIStore, QueryLog)
// and [Store] composes them for wiring. A backend registers a [Driver]
// under its URL scheme; [Open] returns a [Backend]: the store with
// everything a bot needs beside it (the retry answers with their
// persistence, the replay window, the shared token cache, health), so
// the code that assembles a bot never asks which store it runs on.
//
// # Durability
//
// Outbox writes (Enqueue, Done, Retry, Dead) are committed and fsynced
// before they return; concurrent enqueues share a commit (bbolt's Batch), so
// durability costs one fsync per burst, not per send. Kefu windows and
// cooldowns are hot-path state written on every push: they live in memory
// and are written behind every half second, so a crash loses at most that
// much of them, never an accepted send.
package store
