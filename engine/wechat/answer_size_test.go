package wechat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// TestAnswerSizeLimit: an answer of MaxAnswer bytes is read; one byte more
// is an *AnswerTooLargeError (not a JSON error of the cut answer), which
// says how large when the server said so.
func TestAnswerSizeLimit(t *testing.T) {
	answer := func(n int) string {
		head, tail := `{"errcode":0,"pad":"`, `"}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	tests := []struct {
		size   int
		length bool // send Content-Length
		want   string
	}{
		{wechat.MaxAnswer, true, ""},
		{wechat.MaxAnswer, false, ""},
		{wechat.MaxAnswer + 1, true, "the answer is 8388609 bytes (8.0 MiB), over the 8 MiB"},
		{wechat.MaxAnswer + 1, false, "the answer is over the 8 MiB"},
	}
	for _, tt := range tests {
		fake := wechattest.New(appID, secret)
		body := answer(tt.size)
		fake.Handle("/cgi-bin/get_current_autoreply_info", func(w http.ResponseWriter, r *http.Request) {
			if tt.length { // else net/http streams it chunked
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			io.WriteString(w, body)
		})
		_, err := newClient(t, fake, wechat.TokenAPIStable, nil).AutoReplyInfo(context.Background())
		fake.Close()
		var tooLarge *wechat.AnswerTooLargeError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%d bytes: %v", tt.size, err)
		case tt.want != "" && (!errors.As(err, &tooLarge) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--api-base")):
			t.Errorf("%d bytes (Content-Length %v): %v, want an *AnswerTooLargeError with %q", tt.size, tt.length, err, tt.want)
		}
	}
}
