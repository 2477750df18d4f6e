// Package store keeps the state the engine, the outbox and the handlers
// need beyond a push ([Store]): in process memory ([Memory], for tests and
// offline runs), the embedded store on bbolt for one machine (bolt:PATH)
// and, for replicas, Redis (redis://HOST:PORT/DB).
//
// It imports nothing of wxbot but engine/outbox (the sends it queues) and
// engine/dedup (the retry cache it shares on Redis), so that engine can
// import it for its default.
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
