package cmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/bolt"
)

// TestServeRefusesDamagedStore: `wxbot serve` on a damaged bbolt store
// (truncated, scribbled data or meta pages), whether it was last shut down
// cleanly or killed, exits 1 at once with an error naming the file and the
// way out, never a panic or a fault.
func TestServeRefusesDamagedStore(t *testing.T) {
	examples, _ := filepath.Abs("../examples/rules.yaml")
	env := []string{"WXBOT_TOKEN=" + e2eToken}

	// A store with pending sends, closed cleanly.
	dir := t.TempDir()
	cleanPath := filepath.Join(dir, "clean.db")
	s, err := bolt.OpenFile(cleanPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sends []*outbox.Send
	for i := 0; i < 300; i++ {
		sends = append(sends, &outbox.Send{ID: fmt.Sprint("e2e-send-", i), Kind: outbox.KindKefu, OrderKey: fmt.Sprint("user-", i%20),
			Payload:   json.RawMessage(fmt.Sprintf(`{"text":{"content":%q}}`, strings.Repeat("x", 200))),
			NotBefore: time.Now().Add(time.Hour)}) // not delivered by the serve below
	}
	if err := s.Enqueue(context.Background(), sends...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(cleanPath)
	if err != nil {
		t.Fatal(err)
	}
	// The same store after a `wxbot serve` killed with SIGKILL: not shut
	// down cleanly, so the next start checks it all.
	killedPath := filepath.Join(dir, "killed.db")
	if err := os.WriteFile(killedPath, clean, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBot(t, env, "--rules", examples, "--store", "bolt:"+killedPath)
	b.cmd.Process.Kill()
	<-b.exited
	killed, err := os.ReadFile(killedPath)
	if err != nil {
		t.Fatal(err)
	}

	const page = 4096
	scribble := func(data []byte, pages ...int) []byte {
		data = bytes.Clone(data)
		r := rand.New(rand.NewPCG(uint64(len(pages)), 11))
		for _, p := range pages {
			for i := p * page; i < (p+1)*page && i < len(data); i++ {
				data[i] = byte(r.Uint32())
			}
		}
		return data
	}
	// outboxPage is a leaf page of the outbox (it holds a pending send).
	outboxPage := func(data []byte) int {
		for p := 2; (p+1)*page <= len(data); p++ {
			pg := data[p*page : (p+1)*page]
			if binary.LittleEndian.Uint16(pg[8:]) == 0x02 && bytes.Contains(pg, []byte(`"id":"e2e-send-`)) {
				return p
			}
		}
		t.Fatal("no outbox page in the store file")
		return 0
	}
	for _, orig := range []struct {
		name string
		data []byte
	}{{"clean", clean}, {"killed", killed}} {
		n := len(orig.data) / page
		if len(orig.data)%page != 0 || n < 8 {
			t.Fatalf("%s: the store file is %d bytes: want at least 8 pages of %d", orig.name, len(orig.data), page)
		}
		// A page of the outbox, scribbled, is found by the full check after
		// the kill, and by the start's read of the outbox after a clean
		// shutdown. Truncated by half a page, the file's pages can still be
		// read: the error lists the pending sends it holds.
		full := ""
		if orig.name == "killed" {
			full = "the last shutdown was not clean"
		}
		for _, tc := range []struct {
			name string
			data []byte
			want string
		}{
			{"truncated to half", orig.data[:n/2*page], "truncated"},
			{"truncated mid-page", orig.data[:len(orig.data)-page/2],
				"(the sends still in its outbox are then lost: 300 can be read: e2e-send-0 (kefu, user-0), e2e-send-1 (kefu, user-1), e2e-send-2 (kefu, user-2) and 297 more)"},
			{"an outbox page scribbled", scribble(orig.data, outboxPage(orig.data)), full},
			{"meta pages scribbled", scribble(orig.data, 0, 1), ""},
		} {
			t.Run(orig.name+"/"+tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "wxbot.db")
				if err := os.WriteFile(path, tc.data, 0o600); err != nil {
					t.Fatal(err)
				}
				_, errOut, code := wxbot(t, env, "serve", "--store", "bolt:"+path, "--rules", examples,
					"--listen", "127.0.0.1:0", "--admin-listen", "")
				if strings.Contains(errOut, "listening") {
					t.Errorf("serve started listening on the damaged store before refusing it")
				}
				if code != 1 {
					t.Errorf("exit %d, want 1", code)
				}
				for _, want := range []string{"--store: store " + path + " is damaged (", "move it aside", "bbolt check " + path, tc.want} {
					if !strings.Contains(errOut, want) {
						t.Errorf("stderr does not say %q", want)
					}
				}
				for _, bad := range []string{"panic", "goroutine ", "SIGBUS", "fatal error"} {
					if strings.Contains(strings.ToLower(errOut), strings.ToLower(bad)) {
						t.Errorf("stderr holds %q", bad)
					}
				}
				if t.Failed() {
					t.Logf("stderr:\n%s", errOut)
				}
			})
		}
	}
}
