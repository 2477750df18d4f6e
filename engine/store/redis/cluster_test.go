package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/redis"
	"github.com/wxbot/wxbot/engine/store/redis/redistest"
	"github.com/wxbot/wxbot/engine/store/storetest"
)

// TestRedisClusterConformance: the Redis store on a three-node Redis
// Cluster passes the conformance suite, at its top level ({default}) and
// as an account's view ({APPID}): every script and transaction stays in
// one slot.
func TestRedisClusterConformance(t *testing.T) {
	addrs := redistest.StartCluster(t)
	for _, view := range []string{"", "wxcluster"} {
		t.Run("view="+view, func(t *testing.T) {
			var n int
			prefixOf := map[store.Store]string{}
			open := func(t *testing.T, clock *storetest.Clock, prefix string) store.Store {
				conn, err := redis.Connect(redistest.URL(addrs, "prefix="+prefix, "consumer=c1"), clock.Now)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				var s store.Store = conn
				if view != "" {
					if s, err = conn.Account(view); err != nil {
						t.Fatal(err)
					}
				}
				prefixOf[s] = prefix
				return s
			}
			storetest.Run(t, storetest.Opener{
				Open: func(t *testing.T, clock *storetest.Clock) store.Store {
					n++
					return open(t, clock, fmt.Sprintf("wxbot-cluster-%d-%d:", time.Now().UnixNano(), n))
				},
				Reopen: func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
					return open(t, clock, prefixOf[s])
				},
				Crash: func(t *testing.T, s store.Store, clock *storetest.Clock) store.Store {
					return open(t, clock, prefixOf[s])
				},
				OwnClock: true,
			})
		})
	}
}

// TestRedisClusterURL: a redis-cluster:// URL with an unknown parameter or
// no host is refused, and says what it takes.
func TestRedisClusterURL(t *testing.T) {
	for _, raw := range []string{"redis-cluster://127.0.0.1:1?db=2", "redis-cluster://?addr=127.0.0.1:2"} {
		if _, err := redis.Connect(raw, nil); err == nil {
			t.Errorf("Connect(%q) succeeded", raw)
		}
	}
}
