package store

import (
	"fmt"
	"strings"
	"time"
)

// Open opens the store a --store URL names: bolt:PATH or redis://….
func Open(url string, now func() time.Time) (Store, error) {
	switch {
	case strings.HasPrefix(url, "bolt:"):
		path := strings.TrimPrefix(url, "bolt:")
		if path == "" {
			return nil, fmt.Errorf("--store %q: want bolt:PATH, e.g. bolt:wxbot.db", url)
		}
		return OpenBolt(path, now)
	case strings.HasPrefix(url, "redis://"):
		return OpenRedis(url, now)
	}
	return nil, fmt.Errorf("--store %q: want bolt:PATH or redis://HOST:PORT/DB", url)
}
