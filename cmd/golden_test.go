package cmd

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/callback"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/rules"
)

var update = flag.Bool("update", false, "rewrite the golden want.xml files")

// TestGoldenCases runs every testdata/cases/<case>: rules.yaml loaded, the
// push in request.xml signed and posted, the answer compared with want.xml
// (regenerate with go test ./cmd -run Golden -update).
func TestGoldenCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/cases/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	now := time.Unix(1700000000, 0)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			loaded, err := rules.Load(filepath.Join(dir, "rules.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			e := engine.New(engine.Options{Now: func() time.Time { return now }})
			e.SetRules(loaded.Set)
			h := callback.NewHandler(e, callback.Config{Token: "golden"})
			body, err := os.ReadFile(filepath.Join(dir, "request.xml"))
			if err != nil {
				t.Fatal(err)
			}
			ts := strconv.FormatInt(now.Unix(), 10)
			target := "/wechat?timestamp=" + ts + "&nonce=42&signature=" + wechat.Signature("golden", ts, "42")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body)))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			wantFile := filepath.Join(dir, "want.xml")
			if *update {
				if err := os.WriteFile(wantFile, w.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(w.Body.Bytes(), want) {
				t.Errorf("answer:\n%s\nwant:\n%s", w.Body.String(), want)
			}
		})
	}
}
