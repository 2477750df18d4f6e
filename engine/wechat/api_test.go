package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const (
	appID  = "wx1234567890abcdef"
	secret = "s3cr3t-app-secret-value"
)

func newClient(t *testing.T, fake *wechattest.Server, api string, logs *bytes.Buffer) *wechat.Client {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: appID, Secret: secret, TokenAPI: api,
		HTTP: &http.Client{Timeout: 5 * time.Second}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func text(to, s string) *wechat.KefuMessage {
	return &wechat.KefuMessage{ToUser: to, MsgType: "text", Text: &wechat.KefuText{Content: s}}
}

func TestTokenCachedAndShared(t *testing.T) {
	for _, api := range []string{wechat.TokenAPIStable, wechat.TokenAPIClassic} {
		t.Run(api, func(t *testing.T) {
			fake := wechattest.New(appID, secret)
			defer fake.Close()
			c := newClient(t, fake, api, nil)
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := c.SendKefu(context.Background(), text("oUser", "hi")); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if n := fake.TokenFetches(); n != 1 {
				t.Errorf("%d token fetches for 20 concurrent sends, want 1", n)
			}
			if n := len(fake.Calls("/cgi-bin/message/custom/send")); n != 20 {
				t.Errorf("%d sends arrived, want 20", n)
			}
		})
	}
}

func TestTokenRefreshedOnceOnTokenErrors(t *testing.T) {
	for _, code := range []int{40001, 40014, 42001} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			fake := wechattest.New(appID, secret)
			defer fake.Close()
			c := newClient(t, fake, wechat.TokenAPIStable, nil)
			fake.FailNext("/cgi-bin/message/custom/send", code)
			if err := c.SendKefu(context.Background(), text("oUser", "hi")); err != nil {
				t.Fatalf("send after one %d: %v", code, err)
			}
			if n := fake.TokenFetches(); n != 2 {
				t.Errorf("%d token fetches, want 2 (the first, one refresh)", n)
			}
			// Twice in a row: one refresh, one retry, then the error.
			fake.FailNext("/cgi-bin/message/custom/send", code, code)
			err := c.SendKefu(context.Background(), text("oUser", "hi"))
			if !wechat.IsTokenExpired(err) {
				t.Errorf("after two %d: %v, want the token error", code, err)
			}
			if n := fake.TokenFetches(); n != 3 {
				t.Errorf("%d token fetches, want 3 (no loop)", n)
			}
		})
	}
}

func TestExpiredTokensAreReplaced(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	c := newClient(t, fake, wechat.TokenAPIClassic, nil)
	if err := c.SendKefu(context.Background(), text("o", "1")); err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.SendKefu(context.Background(), text("o", "2")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Compare-and-invalidate: ten callers saw 42001, but the token is
	// replaced only while it is still the failing one. A few concurrent
	// refreshes may overlap; ten would be a stampede.
	if n := fake.TokenFetches(); n > 3 {
		t.Errorf("%d token fetches after one expiry, want 2 or 3", n)
	}
}

func TestTokenAheadOfExpiry(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	now := time.Unix(1700000000, 0)
	c, _ := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: appID, Secret: secret,
		Now: func() time.Time { return now }})
	ctx := context.Background()
	first, _ := c.Token(ctx)
	now = now.Add(7200*time.Second - 6*time.Minute)
	if tok, _ := c.Token(ctx); tok != first {
		t.Error("refreshed more than 5 minutes before expiry")
	}
	now = now.Add(2 * time.Minute)
	if tok, _ := c.Token(ctx); tok == first {
		t.Error("not refreshed within 5 minutes of expiry")
	}
}

func TestTokenEndpointErrorsAreNotLooped(t *testing.T) {
	for code, hint := range map[int]string{40164: "IP whitelist", 40125: "AppSecret is wrong", -1: "busy"} {
		fake := wechattest.New(appID, secret)
		c := newClient(t, fake, wechat.TokenAPIStable, nil)
		fake.FailTokenNext(code)
		err := c.SendKefu(context.Background(), text("o", "x"))
		if got, _ := wechat.APICode(err); got != code || !strings.Contains(err.Error(), hint) {
			t.Errorf("token error %d: %v, want the code and a hint with %q", code, err, hint)
		}
		if n := len(fake.Calls("")); n != 0 {
			t.Errorf("token error %d: %d calls made without a token", code, n)
		}
		fake.Close()
	}
	fake := wechattest.New(appID, "another-secret")
	defer fake.Close()
	_, err := newClient(t, fake, wechat.TokenAPIClassic, nil).Token(context.Background())
	if code, _ := wechat.APICode(err); code != 40125 {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	fake := wechattest.New(appID, secret)
	c := newClient(t, fake, wechat.TokenAPIClassic, &logs)
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fake.Close() // the next call fails with a network error whose URL holds the token
	err = c.SendKefu(context.Background(), text("o", "x"))
	if err == nil {
		t.Fatal("no error from a closed server")
	}
	slog.New(slog.NewTextHandler(&logs, nil)).Error("send failed", "err", err, "secret", wechat.Secret(secret))
	for _, s := range []string{err.Error(), logs.String(), fmt.Sprintf("%v %+v %#v", wechat.Secret(secret), wechat.Secret(secret), wechat.Secret(secret))} {
		if strings.Contains(s, secret) || strings.Contains(s, tok) {
			t.Errorf("a secret leaked: %s", s)
		}
	}
	if !strings.Contains(err.Error(), "access_token=REDACTED") {
		t.Errorf("error %q does not show the redacted URL", err)
	}
	if !wechat.IsRetryable(err) {
		t.Errorf("a network error is not retryable: %v", err)
	}
}

func TestJSONIsNotHTMLEscaped(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	c := newClient(t, fake, "", nil)
	content := `<a href="https://example.com/?a=1&b=2">链接</a>`
	if err := c.SendKefu(context.Background(), text("o", content)); err != nil {
		t.Fatalf("send: %v (the fake answers 40033 to \\u escapes)", err)
	}
	body := fake.Calls("/cgi-bin/message/custom/send")[0].Body
	var got wechat.KefuMessage
	json.Unmarshal(body, &got)
	if got.Text.Content != content || !bytes.Contains(body, []byte("&b=2")) {
		t.Errorf("body %s", body)
	}
}

func TestClassification(t *testing.T) {
	for _, tt := range []struct {
		err                 error
		retryable, tokenErr bool
	}{
		{&wechat.APIError{Code: -1}, true, false},
		{&wechat.APIError{Code: 45011}, true, false},
		{&wechat.APIError{Code: 45015}, false, false},
		{&wechat.APIError{Code: 45047}, false, false},
		{&wechat.APIError{Code: 43004}, false, false},
		{&wechat.APIError{Code: 40003}, false, false},
		{&wechat.APIError{Code: 48001}, false, false},
		{&wechat.APIError{Code: 42001}, false, true},
		{fmt.Errorf("wrapped: %w", &wechat.APIError{Code: 40014}), false, true},
		{&wechat.HTTPError{Status: 502}, true, false},
		{&wechat.HTTPError{Status: 404}, false, false},
		{context.DeadlineExceeded, true, false},
		{errors.New("something else"), false, false},
	} {
		if got := wechat.IsRetryable(tt.err); got != tt.retryable {
			t.Errorf("IsRetryable(%v) = %v", tt.err, got)
		}
		if got := wechat.IsTokenExpired(tt.err); got != tt.tokenErr {
			t.Errorf("IsTokenExpired(%v) = %v", tt.err, got)
		}
	}
	if h := wechat.ErrorHint(65400); !strings.Contains(h, "客服功能") {
		t.Errorf("65400 hint %q", h)
	}
}

func TestTyping(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	c := newClient(t, fake, "", nil)
	if err := c.Typing(context.Background(), "oUser", true); err != nil {
		t.Fatal(err)
	}
	c.Typing(context.Background(), "oUser", false)
	calls := fake.Calls("/cgi-bin/message/custom/typing")
	if len(calls) != 2 || !bytes.Contains(calls[0].Body, []byte(`"command":"Typing"`)) || !bytes.Contains(calls[1].Body, []byte(`"command":"CancelTyping"`)) {
		t.Errorf("typing calls %+v", calls)
	}
}

// TestRedactURL: passwords and secret-looking parameters are hidden,
// whatever service the URL is of.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://x/p?a=1":                          "https://x/p?a=1",
		"https://x/p?access_token=T&sign=S&page=2": "https://x/p?access_token=REDACTED&page=2&sign=REDACTED",
		"https://u:pw@x/p":                         "https://u:xxxxx@x/p",
		"://bad":                                   "(unparsable URL)",
	} {
		if got := wechat.RedactURL(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
