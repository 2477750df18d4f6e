package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// `wxbot state get|delete OPENID`: a user's conversation state, through
// the admin listener's /state/OPENID, as `wxbot outbox` reaches /outbox.

func init() {
	register(&command{name: "state", args: "get OPENID | delete OPENID",
		summary: "a user's conversation state in a running bot, through its admin listener: get prints it as JSON, delete resets it",
		run:     runState})
}

func runState(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, commands["state"])
	var af adminFlags
	af.register(env, fs)
	yes := yesFlag(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "get" && pos[0] != "delete") {
		return usagef("want get OPENID or delete OPENID (got %q)", strings.Join(pos, " "))
	}
	id := pos[1]
	if strings.TrimSpace(id) == "" || strings.ContainsAny(id, "/?#") {
		return usagef("OPENID %q: want the user's OpenID, as in the bot's log", id)
	}
	if pos[0] == "delete" {
		if err := confirm(env, *yes, "delete the conversation state of "+id); err != nil {
			return err
		}
	}
	c, err := af.client(env, fs)
	if err != nil {
		return err
	}
	method := http.MethodGet
	if pos[0] == "delete" {
		method = http.MethodDelete
	}
	var got struct {
		State map[string]any `json:"state"`
	}
	err = c.do(ctx, method, "/state/"+url.PathEscape(id), &got)
	var nf *notFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%s: %s", id, nf.msg)
	}
	if err != nil {
		return err
	}
	if method == http.MethodDelete {
		fmt.Fprintf(env.stdout, "deleted the state of %s\n", id)
		return nil
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(got.State)
}
