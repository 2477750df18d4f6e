// Package redis is the store replicas share (redis://HOST:PORT/DB, and a
// Redis Cluster: redis-cluster://HOST:PORT?addr=…): state, the outbox as
// a stream with a consumer group, retries' answers (Dedup) and the
// access_token (Tokens).
//
// A [Guard] stands in front of it so that a Redis that hangs or refuses
// never holds a push past WeChat's 5 seconds and never loses a send: calls
// get short timeouts, a breaker skips a failing Redis, and meanwhile
// memory and a local bbolt spool stand in. Several Official Accounts share
// one connection through account views ([Redis.Account]), each account's
// keys under a hash tag of its own, so that on a cluster every script
// stays in one slot. [Open] is the redis: and redis-cluster: driver of
// engine/store.
package redis
