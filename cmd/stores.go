package cmd

// The store drivers --store can name. A custom build that wants another
// store imports its driver the same way; one that needs only bolt: can drop
// the Redis line and link no Redis client.
import (
	_ "github.com/wxbot/wxbot/engine/store/bolt"  // bolt:PATH
	_ "github.com/wxbot/wxbot/engine/store/redis" // redis://HOST:PORT/DB
)
