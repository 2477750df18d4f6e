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

// adminFlags reach serve's admin listener: its address, token and, with
// --accounts, the account's endpoints. outbox and state take them.
type adminFlags struct {
	admin, listen string
	timeout       time.Duration
	account       accountFlags
	token         adminTokenFlags
}

func (a *adminFlags) register(env *cmdEnv, fs *flagSet) {
	def := defaultAdmin
	if v := env.getenv("WXBOT_ADMIN_LISTEN"); v != "" {
		def = adminURL(v)
	}
	fs.StringVar(&a.admin, "admin", def, "the admin listener of wxbot serve (its --admin-listen; WXBOT_ADMIN_LISTEN is read too)")
	fs.StringVar(&a.listen, "admin-listen", "", "the same as --admin, named as serve names it")
	fs.DurationVar(&a.timeout, "timeout", 30*time.Second, "how long to wait for the bot")
	a.account.register(fs)
	a.token.register(fs, false)
}

// client is called after parsing.
func (a *adminFlags) client(env *cmdEnv, fs *flagSet) (*adminClient, error) {
	secret, err := a.token.value()
	if err != nil {
		return nil, err
	}
	acct, ok, err := a.account.load(env)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	addr := a.admin
	if set["admin-listen"] && !set["admin"] && a.listen != "" {
		addr = a.listen
	}
	c := &adminClient{base: adminURL(addr), http: &http.Client{Timeout: a.timeout}, token: secret}
	if ok { // a serve with --accounts: the account's own endpoints
		c.base += "/accounts/" + acct.Name
	}
	return c, nil
}

func runOutbox(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, commands["outbox"])
	var (
		af           adminFlags
		after, zone  string
		dead, asJSON bool
		limit        int
	)
	af.register(env, fs)
	fs.BoolVar(&dead, "dead", false, "retry: every dead letter")
	fs.StringVar(&after, "after", "", "list: the page after this cursor (printed at the end of a page)")
	fs.IntVar(&limit, "limit", 100, "list: pending sends per page (1 to 1000)")
	fs.BoolVar(&asJSON, "json", false, "list: the admin listener's JSON report (times in --timezone), not tables")
	fs.StringVar(&zone, "timezone", "Asia/Shanghai", "list: the time zone times are printed in (serve's --timezone)")
	yes := yesFlag(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	loc, err := loadLocation(zone)
	if err != nil {
		return err
	}
	c, err := af.client(env, fs)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "list":
		return c.list(ctx, env.stdout, listOptions{after: after, limit: limit, loc: loc, json: asJSON})
	case len(pos) == 2 && pos[0] == "retry" && !dead:
		return c.post(ctx, env.stdout, "/outbox/retry?id="+url.QueryEscape(pos[1]), "retried", pos[1])
	case len(pos) == 1 && pos[0] == "retry" && dead:
		return c.post(ctx, env.stdout, "/outbox/retry?dead=all", "retried", "")
	case len(pos) == 2 && pos[0] == "drop":
		if err := confirm(env, *yes, "drop the send "+pos[1]+" (its message is never sent)"); err != nil {
			return err
		}
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
		return fmt.Errorf("reaching the admin listener at %s: %w (%s)", c.base, err, unreachableHint(err, "--admin the address of its --admin-listen"))
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

// listOptions are outbox list's flags.
type listOptions struct {
	after string
	limit int
	loc   *time.Location
	json  bool
}

func (c *adminClient) list(ctx context.Context, out io.Writer, o listOptions) error {
	q := url.Values{"limit": {strconv.Itoa(o.limit)}}
	if o.after != "" {
		q.Set("after", o.after)
	}
	var rep admin.OutboxReport
	if err := c.do(ctx, http.MethodGet, "/outbox?"+q.Encode(), &rep); err != nil {
		return err
	}
	if o.json {
		return writeOutboxJSON(out, &rep, o.loc)
	}
	when := func(t time.Time) string { return zonedTime(t, o.loc) }
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PENDING: %d\n", rep.Pending)
	if len(rep.PendingSends) > 0 {
		fmt.Fprintln(tw, "ID\tUSER\tRULE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, s := range rep.PendingSends {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.User, dash(s.Rule), s.Attempts, when(s.NextAttempt), dash(flatText(s.LastError)))
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", dash(s.ID), dash(s.OrderKey), dash(s.Rule), s.Attempts, when(d.At), flatText(d.Reason))
		}
	}
	return tw.Flush()
}

// writeOutboxJSON prints the report as the admin listener answers it, its
// times moved to loc, so that scripts (jq) read what the table shows.
func writeOutboxJSON(out io.Writer, rep *admin.OutboxReport, loc *time.Location) error {
	for i := range rep.PendingSends {
		s := &rep.PendingSends[i]
		s.NextAttempt, s.Created = inZone(s.NextAttempt, loc), inZone(s.Created, loc)
	}
	for i := range rep.DeadLetters {
		d := &rep.DeadLetters[i]
		d.At = inZone(d.At, loc)
		if d.Send != nil {
			d.Send.NotBefore, d.Send.Created = inZone(d.Send.NotBefore, loc), inZone(d.Send.Created, loc)
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

func inZone(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(loc)
}

// zonedLayout is how the command line prints a time: in --timezone, with
// the zone, as kf records, explain and the console show it.
const zonedLayout = kfTimeLayout

// zonedTime is t in loc as zonedLayout, "-" for none.
func zonedTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(zonedLayout)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// flatText keeps a table row on one line; the text is whole, as a reason
// cut off is the part an operator needed.
func flatText(s string) string { return strings.Join(strings.Fields(s), " ") }
