package redis

import (
	"context"
	"fmt"
	"time"
)

// Account returns the store of one Official Account on this connection:
// its keys start with PREFIX{APPID}: so that no key of one account meets
// another's, and, on a Redis Cluster, every key of an account (and so
// every key one script or transaction touches) is in one hash slot. The
// view shares the connection: closing it leaves the connection open (the
// store it came from closes that).
func (s *Redis) Account(appID string) (*Redis, error) {
	if appID == "" {
		return nil, fmt.Errorf("redis store: an account view needs an AppID")
	}
	tagged := s.base + "{" + appID + "}:"
	v := &Redis{rdb: s.rdb, base: tagged, prefix: tagged, consumer: s.consumer, now: s.now,
		ClaimIdle: s.ClaimIdle, view: true, ap: s.ap}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := v.ensureGroup(ctx); err != nil {
		return nil, fmt.Errorf("account %s: %w", appID, err)
	}
	return v, nil
}
