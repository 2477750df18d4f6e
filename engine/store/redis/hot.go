package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"
)

// The scripts on every push's path (the replay window, the retry claim)
// ride go-redis's auto-pipeliner on a single Redis: the scripts of
// concurrent pushes share one write and one read, which took a third of
// the CPU a push costs on Redis in one bench sitting (BENCHMARKS.md). Its
// deferred face is used, because a caller's context is honoured only
// while it waits: a push gives up on a Redis that hangs at its deadline,
// and the guard then falls back, as with a plain call. On a cluster the
// scripts go straight to the client.

// startHot sets up the auto-pipeliner; without one (a cluster, or a
// refusal) the push path uses the client.
func (s *Redis) startHot() {
	if c, ok := s.rdb.(*goredis.Client); ok {
		if ap, err := c.AsyncAutoPipeline(); err == nil { // closed with the client
			s.ap = ap
		}
	}
}

// runHot runs sc as Script.Run does, through the auto-pipeliner.
func (s *Redis) runHot(ctx context.Context, sc *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	if s.ap == nil {
		return sc.Run(ctx, s.rdb, keys, args...)
	}
	argv := make([]any, 0, 3+len(keys)+len(args))
	argv = append(argv, "evalsha", sc.Hash(), len(keys))
	for _, k := range keys {
		argv = append(argv, k)
	}
	argv = append(argv, args...)
	cmd := goredis.NewCmd(ctx, argv...)
	err := s.ap.Submit(ctx, cmd).WaitContext(ctx)
	switch {
	case err == nil:
		return cmd
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// the batch may still fill cmd in: it is never read again
		gaveUp := goredis.NewCmd(ctx)
		gaveUp.SetErr(err)
		return gaveUp
	case goredis.HasErrorPrefix(err, "NOSCRIPT"):
		return sc.Run(ctx, s.rdb, keys, args...) // loads it, for the next ones too
	}
	return cmd
}
