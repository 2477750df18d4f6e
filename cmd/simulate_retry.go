package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// wechatRetryInterval is how long WeChat waits for a passive reply before
// it drops the connection and sends the push again; it makes three
// attempts in all.
const (
	wechatRetryInterval = 5 * time.Second
	wechatAttempts      = 3
	// simulateAttemptHeader numbers the attempts of --retries.
	simulateAttemptHeader = "X-Wxbot-Simulate-Attempt"
)

// deliver posts the push and returns the bot's answer. With --retries it
// plays WeChat: an attempt with no answer within the retry interval is
// abandoned, and the same body (same MsgId) goes again, freshly signed, at
// the next interval mark; the last attempt waits up to --timeout, so that
// an answer WeChat would have missed is still shown. Each attempt's time
// goes to stderr: stdout is the reply, the same for the same push.
func (s *simulateFlags) deliver(ctx context.Context, env *cmdEnv, cipher *wechat.Cipher, body []byte) ([]byte, error) {
	attempts := 1
	if s.retries {
		attempts = wechatAttempts
	}
	start := time.Now()
	for i := 1; ; i++ {
		wait := s.timeout
		if i < attempts {
			wait = min(s.retryInterval, s.timeout)
		}
		var at time.Duration // the first attempt starts the clock
		if i > 1 {
			at = time.Since(start)
		}
		req, err := signedRequest(ctx, s.url, s.proto.token, cipher, s.compat, body)
		if err != nil {
			return nil, err
		}
		if s.retries { // for the bot's log and tests: WeChat sends no such header
			req.Header.Set(simulateAttemptHeader, strconv.Itoa(i))
		}
		sent := time.Now()
		answer, err := post(req, wait)
		took := time.Since(sent)
		if err != nil && isTimeout(err) && i < attempts {
			fmt.Fprintf(env.stderr, "attempt %d at %s: no answer within %s; WeChat sends the push again\n", i, roundDuration(at), wait)
			if rest := time.Duration(i)*s.retryInterval - time.Since(start); rest > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(rest):
				}
			}
			continue
		}
		var refused *refusal
		if errors.As(err, &refused) {
			return nil, refused.err
		}
		if err != nil {
			if isTimeout(err) {
				return nil, fmt.Errorf("no answer within --timeout %s: the bot at %s took the push but did not answer in time; look at its log (its --reply-deadline should answer within WeChat's 5s)", wait, s.url)
			}
			return nil, fmt.Errorf("sending the push: %w (%s)", err, unreachableHint(err, "--url the bot's callback URL (its --listen and --path)"))
		}
		if s.retries {
			fmt.Fprintf(env.stderr, "attempt %d at %s: answered in %s%s\n", i, roundDuration(at), roundDuration(took), lateNote(took, s.retryInterval))
		} else {
			fmt.Fprintf(env.stderr, "answered in %s%s\n", roundDuration(took), lateNote(took, s.retryInterval))
		}
		return answer, nil
	}
}

// lateNote warns when WeChat would not have waited for an answer.
func lateNote(took, interval time.Duration) string {
	if took <= interval {
		return ""
	}
	return fmt.Sprintf(" (past WeChat's %s: it would have sent the push again; see --retries)", interval)
}

// post sends req, waiting at most wait for the whole answer.
func post(req *http.Request, wait time.Duration) ([]byte, error) {
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &refusal{refusedPush(resp.StatusCode, resp.Status, strings.TrimSpace(string(answer)))}
	}
	return answer, nil
}

// refusal is the bot's answer other than 200: it is there, and said why.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }

// isTimeout tells a bot that is slow from one that is not there.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// unreachableHint says what to check when a request failed: a refused or
// unknown address means no bot is there; a timeout means one is there but
// slow.
func unreachableHint(err error, check string) string {
	if isTimeout(err) {
		return "the bot is there but did not answer in time: look at its log, or raise --timeout"
	}
	return "is `wxbot serve` running, and is " + check + "?"
}

// roundDuration prints a duration as an operator reads it.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
