package store

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Open opens the store a URL names: bolt:PATH or redis://….
func Open(rawURL string, now func() time.Time) (Store, error) {
	switch {
	case strings.HasPrefix(rawURL, "bolt:"):
		path := strings.TrimPrefix(rawURL, "bolt:")
		if path == "" {
			return nil, fmt.Errorf("store URL %q: want bolt:PATH, e.g. bolt:wxbot.db", rawURL)
		}
		return OpenBolt(path, now)
	case strings.HasPrefix(rawURL, "redis://"):
		return OpenRedis(rawURL, now)
	}
	return nil, fmt.Errorf("store URL %s: want bolt:PATH or redis://HOST:PORT/DB", Redacted(rawURL))
}

// Redacted is a store URL fit for errors and logs: its password hidden.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.Index(rawURL, "@"); i >= 0 { // user:password@host
			return strings.SplitN(rawURL, "//", 2)[0] + "//xxxxx" + rawURL[i:]
		}
		return strconv.Quote(rawURL)
	}
	return strconv.Quote(u.Redacted())
}
