package cmd

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// BenchmarkServe measures one push through the handler serve builds, with
// what serve wires around it (the bbolt store, the replay window, the
// retry memory, kefu windows, metrics), for the pushes of `wxbot bench`
// (every kind, a new MsgId or follower each). It leaves out net/http,
// which the bench's bare handler pays too: this is the part of the CPU per
// push that is wxbot's own (run it under callgrind for instruction counts,
// see BENCHMARKS.md).
func BenchmarkServe(b *testing.B) {
	for _, c := range []struct {
		name, fill string
		rules      int
		aesKey     string
	}{
		{"plaintext", "exact", 1, ""},
		{"safe", "exact", 1, "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"},
		{"mixed10k", "mixed", 10000, ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			rulesFile := filepath.Join(dir, "rules.yaml")
			if err := os.WriteFile(rulesFile, []byte(benchRules(c.rules, c.fill)), 0o644); err != nil {
				b.Fatal(err)
			}
			env := map[string]string{"WXBOT_TOKEN": "bench-token"}
			var cipher *wechat.Cipher
			if c.aesKey != "" {
				env["WXBOT_AES_KEY"], env["WXBOT_APPID"] = c.aesKey, "wxbench000000000"
				var err error
				if cipher, err = wechat.NewCipher(c.aesKey, "wxbench000000000"); err != nil {
					b.Fatal(err)
				}
			}
			cenv := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return env[k] }}
			s, err := parseServeFlags(cenv, []string{"--rules", rulesFile, "--store", "bolt:" + filepath.Join(dir, "wxbot.db"), "--log-level", "warn"})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := s.build(cenv)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.run.Stop(context.Background())
			h := srv.bot.Callback()
			kinds := []string{"text", "contains", "prefix", "regex", "click", "subscribe"}
			runBase := time.Now().UnixMicro()
			const batch = 4096
			reqs := make([]*http.Request, 0, batch)
			w := &discardWriter{header: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					b.StopTimer()
					reqs = reqs[:0]
					for j := 0; j < batch; j++ {
						id := int64(i + j)
						r, err := benchPush("http://127.0.0.1/wechat", "bench-token", cipher, kinds[id%int64(len(kinds))], id, runBase)
						if err != nil {
							b.Fatal(err)
						}
						reqs = append(reqs, r.WithContext(context.Background()))
					}
					runtime.GC() // the batch's garbage is not the pushes' to collect
					b.StartTimer()
				}
				w.reset()
				h.ServeHTTP(w, reqs[i%batch])
				if w.code != http.StatusOK || w.n == 0 {
					b.Fatalf("push %d: status %d, %d bytes", i, w.code, w.n)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status and the
// size: httptest's recorder would cost more than some of what is measured.
type discardWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}
func (w *discardWriter) reset() {
	clear(w.header)
	w.code, w.n = 0, 0
}
