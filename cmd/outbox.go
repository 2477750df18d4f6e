package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxbot/wxbot/cmd/admin"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/wechat"
)

// `wxbot outbox`: the same, from the command line, through the admin
// listener.

func init() {
	register(&command{name: "outbox", args: "list | retry ID | retry --dead | drop ID",
		summary: "the outbox of a running bot, through its admin listener: list pending sends and dead letters, retry a dead letter (or all), drop a send",
		run:     runOutbox})
}

// defaultAdmin is serve's --admin-listen default as a URL.
const defaultAdmin = "http://127.0.0.1:9090"

// adminURL makes an --admin-listen address (host:port, :port) a URL; a
// wildcard host is reached on loopback.
func adminURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func runOutbox(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, commands["outbox"])
	def := defaultAdmin
	if v := env.getenv("WXBOT_ADMIN_LISTEN"); v != "" {
		def = adminURL(v)
	}
	var (
		admin, after string
		dead         bool
		limit        int
		timeout      time.Duration
	)
	fs.StringVar(&admin, "admin", def, "the admin listener of `wxbot serve` (its --admin-listen; WXBOT_ADMIN_LISTEN is read too)")
	var listen string
	fs.StringVar(&listen, "admin-listen", "", "the same as --admin, named as serve names it")
	fs.BoolVar(&dead, "dead", false, "retry: every dead letter")
	fs.StringVar(&after, "after", "", "list: the page after this cursor (printed at the end of a page)")
	fs.IntVar(&limit, "limit", 100, "list: pending sends per page (1 to 1000)")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the bot")
	var account accountFlags
	account.register(fs)
	var token adminTokenFlags
	token.register(fs, false)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	secret, err := token.value()
	if err != nil {
		return err
	}
	acct, ok, err := account.load(env)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["admin-listen"] && !set["admin"] && listen != "" {
		admin = listen
	}
	c := &adminClient{base: adminURL(admin), http: &http.Client{Timeout: timeout}, token: secret}
	if ok { // a serve with --accounts: the account's own endpoints
		c.base += "/accounts/" + acct.Name
	}
	switch {
	case len(pos) == 1 && pos[0] == "list":
		return c.list(ctx, env.stdout, after, limit)
	case len(pos) == 2 && pos[0] == "retry" && !dead:
		return c.post(ctx, env.stdout, "/outbox/retry?id="+url.QueryEscape(pos[1]), "retried", pos[1])
	case len(pos) == 1 && pos[0] == "retry" && dead:
		return c.post(ctx, env.stdout, "/outbox/retry?dead=all", "retried", "")
	case len(pos) == 2 && pos[0] == "drop":
		return c.post(ctx, env.stdout, "/outbox/drop?id="+url.QueryEscape(pos[1]), "dropped", pos[1])
	}
	return usagef("want list, retry ID, retry --dead or drop ID (got %q)", strings.Join(pos, " "))
}

type adminClient struct {
	base  string
	http  *http.Client
	token wechat.Secret // serve's --admin-token; "" sends none
}

// do calls the admin listener and decodes its JSON answer into v; a 404
// that names what is missing is a *notFoundError.
func (c *adminClient) do(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return usagef("--admin %s: %v", c.base, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+string(c.token))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the admin listener at %s: %w (is `wxbot serve` running, and is --admin the address of its --admin-listen?)", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", c.base+path, err)
	}
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &e)
	switch {
	case resp.StatusCode == http.StatusNotFound && e.Error != "":
		return &notFoundError{e.Error}
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: 404: is --admin %s the admin listener (--admin-listen) of a wxbot with outbox administration?", method, path, c.base)
	case resp.StatusCode != http.StatusOK:
		msg := e.Error
		if msg == "" {
			msg = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: not the answer of a wxbot admin listener (is --admin right?): %w", method, path, err)
	}
	return nil
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

func (c *adminClient) post(ctx context.Context, out io.Writer, path, verb, id string) error {
	var got map[string]any
	err := c.do(ctx, http.MethodPost, path, &got)
	var nf *notFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%s: %s", id, nf.msg)
	}
	if err != nil {
		return err
	}
	n, _ := got[verb].(float64)
	switch {
	case id == "":
		fmt.Fprintf(out, "%s %d dead letter(s)\n", verb, int(n))
	default:
		fmt.Fprintf(out, "%s %s\n", verb, id)
	}
	return nil
}

func (c *adminClient) list(ctx context.Context, out io.Writer, after string, limit int) error {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	var rep admin.OutboxReport
	if err := c.do(ctx, http.MethodGet, "/outbox?"+q.Encode(), &rep); err != nil {
		return err
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PENDING: %d\n", rep.Pending)
	if len(rep.PendingSends) > 0 {
		fmt.Fprintln(tw, "ID\tUSER\tRULE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, s := range rep.PendingSends {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.User, dash(s.Rule), s.Attempts, when(s.NextAttempt), dash(clipText(s.LastError)))
		}
	}
	if rep.Next != "" {
		fmt.Fprintf(tw, "more: wxbot outbox list --after %s\n", rep.Next)
	}
	fmt.Fprintf(tw, "\nDEAD LETTERS: %d (newest first, at most 100)\n", len(rep.DeadLetters))
	if len(rep.DeadLetters) > 0 {
		fmt.Fprintln(tw, "ID\tUSER\tRULE\tATTEMPTS\tDEAD SINCE\tREASON")
		for _, d := range rep.DeadLetters {
			s := d.Send
			if s == nil {
				s = &outbox.Send{}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", dash(s.ID), dash(s.OrderKey), dash(s.Rule), s.Attempts, when(d.At), clipText(d.Reason))
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clipText keeps a table row on one line.
func clipText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}
