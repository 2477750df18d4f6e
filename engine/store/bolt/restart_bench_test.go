package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/store"
	_ "github.com/wxbot/wxbot/engine/store/bolt"
)

// BenchmarkRestartAfterTraffic reproduces the start-up of a bbolt bot after
// a busy spell (issue 28) at a smaller scale: WXBOT_RESTART_PUSHES pushes
// (100,000 unless set) through the store at full speed, each with its
// answer kept for retries and its signed query string, then a restart in a
// process of its own, whose peak RSS is compared with a fresh start's.
// Run it with -benchtime=1x; it reports the files beside the bbolt file
// before and after the restart, the restart's peak RSS over a fresh
// start's, and the time until the store is open.
func BenchmarkRestartAfterTraffic(b *testing.B) {
	pushes := 100_000
	if n, err := strconv.Atoi(os.Getenv("WXBOT_RESTART_PUSHES")); err == nil && n > 0 {
		pushes = n
	}
	for _, c := range []struct {
		name string
		body int // about a reply's size: a text's XML, or the same encrypted
	}{{"plaintext", 150}, {"safe", 500}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				dir := b.TempDir()
				path := filepath.Join(dir, "wxbot.db")
				busySpell(b, path, pushes, c.body)
				before := filesBeside(b, path)
				fresh := reopenChild(b, filepath.Join(dir, "fresh.db"))
				used := reopenChild(b, path)
				b.ReportMetric(float64(before)/(1<<20), "files-MiB")
				b.ReportMetric(float64(used.Files)/(1<<20), "files-after-MiB")
				b.ReportMetric(float64(used.PeakRSS-fresh.PeakRSS)/(1<<20), "peak-over-fresh-MiB")
				b.ReportMetric(float64(used.PeakRSS)/(1<<20), "peak-RSS-MiB")
				b.ReportMetric(float64(used.OpenNanos)/1e6, "open-ms")
			}
		})
	}
}

// busySpell runs pushes through a bbolt store as the bot does: each
// push's answer through the retry cache, its query string through the
// replay window; then a clean shutdown.
func busySpell(b *testing.B, path string, pushes, bodySize int) {
	be, err := store.Open("bolt:"+path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), bodySize)
	for i := range pushes {
		key := fmt.Sprintf("gh_bench/oUser%d/%d", i%1000, 7_000_000_000_000+i)
		a, first, err := be.Dedup.Claim(ctx, key)
		if err != nil || !first {
			b.Fatalf("push %d: first %v, %v", i, first, err)
		}
		a.Finish("application/xml; charset=utf-8", body)
		sum := sha256.Sum256([]byte(key))
		if _, err := be.Replays.RememberQuery(ctx, fmt.Sprintf("%d:%d:%x", time.Now().Unix(), i, sum[:20]), hex.EncodeToString(sum[:16]), 10*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Close(); err != nil {
		b.Fatal(err)
	}
}

// filesBeside is the bytes of the files the store keeps beside path
// (PATH.*, its accounts' too), matched by name: path may hold a glob's
// characters.
func filesBeside(t testing.TB, path string) int64 {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), filepath.Base(path)+".") && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// reopened is what a restart measured of itself.
type reopened struct {
	PeakRSS   int64 // VmHWM, bytes
	OpenNanos int64
	Files     int64 // the files beside the bbolt file once open
}

// reopenChild opens the store at path in a new process (this test binary,
// running TestReopenChild), so that its peak RSS is the restart's alone.
func reopenChild(b *testing.B, path string) reopened {
	cmd := exec.Command(os.Args[0], "-test.run=^TestReopenChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WXBOT_REOPEN_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("the restart's process: %v\n%s", err, out)
	}
	var r reopened
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		if line, ok := strings.CutPrefix(sc.Text(), "reopened "); ok {
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				b.Fatal(err)
			}
			return r
		}
	}
	b.Fatalf("the restart's process said nothing:\n%s", out)
	return r
}

// TestReopenChild is the restart of BenchmarkRestartAfterTraffic: run on
// its own, it does nothing.
func TestReopenChild(t *testing.T) {
	path := os.Getenv("WXBOT_REOPEN_CHILD")
	if path == "" {
		t.Skip("the restart of BenchmarkRestartAfterTraffic, in a process of its own")
	}
	start := time.Now()
	be, err := store.Open("bolt:"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := reopened{OpenNanos: int64(time.Since(start)), Files: filesBeside(t, path)}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(kb), " kB"), 10, 64)
			r.PeakRSS = n << 10
		}
	}
	be.Close()
	out, _ := json.Marshal(r)
	fmt.Printf("reopened %s\n", out)
}
