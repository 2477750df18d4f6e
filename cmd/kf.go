package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"
)

func init() {
	register(&command{name: "kf", args: "list | online | add ACCOUNT NICKNAME | update ACCOUNT NICKNAME | delete ACCOUNT | avatar ACCOUNT FILE",
		summary: "manage customer-service (kefu) accounts", run: runKf})
}

func runKf(ctx context.Context, env *cmdEnv, args []string) error {
	var a apiFlags
	fs := newFlagSet(env, commands["kf"])
	a.register(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("which kf command? list, online, add, update, delete, avatar")
	}
	want := map[string]int{"list": 1, "online": 1, "add": 3, "update": 3, "delete": 2, "avatar": 3}
	n, ok := want[pos[0]]
	if !ok {
		return usagef("unknown kf command %q (list, online, add, update, delete, avatar)", pos[0])
	}
	if len(pos) != n {
		return usagef("kf %s: want %d argument(s), got %d (%s)", pos[0], n-1, len(pos)-1, commands["kf"].args)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	w := env.stdout
	switch pos[0] {
	case "list":
		list, err := c.KfList(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tNICKNAME\tID\tWECHAT\tINVITE")
		for _, k := range list {
			invite := k.InviteStatus
			if invite != "" && k.InviteExpireTime > 0 {
				invite += " (" + k.InviteWeChatID + ", until " + time.Unix(k.InviteExpireTime, 0).Format(time.DateTime) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Account, k.Nick, k.ID, k.WeChatID, invite)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d account(s)\n", len(list))
	case "online":
		list, err := c.KfOnlineList(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tSTATUS\tID\tSESSIONS")
		status := map[int]string{1: "PC", 2: "mobile", 3: "PC+mobile"}
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", k.Account, status[k.Status], k.ID, k.AcceptedCase)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d online\n", len(list))
	case "add":
		if err := c.KfAdd(ctx, pos[1], pos[2]); err != nil {
			return err
		}
		fmt.Fprintf(w, "added %s; it works once a WeChat user accepts the binding invitation\n", pos[1])
	case "update":
		if err := c.KfUpdate(ctx, pos[1], pos[2]); err != nil {
			return err
		}
		fmt.Fprintf(w, "updated %s\n", pos[1])
	case "delete":
		if err := c.KfDelete(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(w, "deleted %s\n", pos[1])
	case "avatar":
		f, err := os.Open(pos[2])
		if err != nil {
			return fmt.Errorf("avatar: %w", err)
		}
		defer f.Close()
		if err := c.KfAvatar(ctx, pos[1], filepath.Base(pos[2]), f); err != nil {
			return err
		}
		fmt.Fprintf(w, "avatar of %s set\n", pos[1])
	}
	return nil
}
