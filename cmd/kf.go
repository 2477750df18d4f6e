package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	register(&command{name: "kf",
		args: "list | online | add ACCOUNT NICKNAME | update ACCOUNT NICKNAME | delete ACCOUNT | avatar ACCOUNT FILE | invite ACCOUNT WECHAT_ID" +
			" | sessions ACCOUNT | waiting | records --from T [--to T] [--json]",
		summary: "manage customer-service (kefu) accounts (ACCOUNT is PREFIX@WECHATID): list, online, add, update, delete, avatar, invite; " +
			"see their conversations: sessions, waiting, records",
		run: runKf})
}

// kfSub is one `wxbot kf` subcommand.
type kfSub struct {
	args string // positional arguments, for messages
	// check validates the arguments before any network call, so that a typo
	// costs neither a token fetch nor quota.
	check func(args []string) error
	run   func(ctx context.Context, env *cmdEnv, c *wechat.Client, args []string) error
	// read, instead of run, is for the subcommands that read sessions and
	// records, with their flags.
	read func(ctx context.Context, env *cmdEnv, c *wechat.Client, f *kfReadFlags, args []string) error
}

var kfSubs = map[string]kfSub{
	"list":   {"", nil, runKfList, nil},
	"online": {"", nil, runKfOnline, nil},
	"add":    {"ACCOUNT NICKNAME", checkKfAccountNickname, runKfAdd, nil},
	"update": {"ACCOUNT NICKNAME", checkKfAccountNickname, runKfUpdate, nil},
	"delete": {"ACCOUNT", checkKfAccount, runKfDelete, nil},
	"avatar": {"ACCOUNT FILE", checkKfAccount, runKfAvatar, nil},
	"invite": {"ACCOUNT WECHAT_ID", checkKfInvite, runKfInvite, nil},
	// sessions, waiting and records: kf_records.go.
	"sessions": {"ACCOUNT", checkKfAccount, nil, runKfSessions},
	"waiting":  {"", nil, nil, runKfWaiting},
	"records":  {"", nil, nil, runKfRecords},
}

var kfSubNames = []string{"list", "online", "add", "update", "delete", "avatar", "invite", "sessions", "waiting", "records"}

func runKf(ctx context.Context, env *cmdEnv, args []string) error {
	var api apiFlags
	var read kfReadFlags
	fs := newFlagSet(env, commands["kf"])
	api.register(fs)
	read.register(fs)
	yes := yesFlag(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("kf needs a subcommand: %s", strings.Join(kfSubNames, ", "))
	}
	name, rest := pos[0], pos[1:]
	sub, ok := kfSubs[name]
	if !ok {
		return usagef("unknown subcommand %q (known: %s)", name, strings.Join(kfSubNames, ", "))
	}
	if want := len(strings.Fields(sub.args)); len(rest) != want {
		if want == 0 {
			return usagef("kf %s takes no arguments, got %q", name, rest)
		}
		return usagef("usage: wxbot kf %s %s", name, sub.args)
	}
	if sub.check != nil {
		if err := sub.check(rest); err != nil {
			return usagef("%v", err)
		}
	}
	if err := read.check(args, name); err != nil {
		return err
	}
	if name == "delete" {
		if err := confirm(env, *yes, "delete the customer-service account "+rest[0]); err != nil {
			return err
		}
	}
	c, err := api.client(nil)
	if err != nil {
		return err
	}
	if sub.read != nil {
		return sub.read(ctx, env, c, &read, rest)
	}
	return sub.run(ctx, env, c, rest)
}

func checkKfAccount(args []string) error { return wechat.ValidateKfAccount(args[0]) }

func checkKfInvite(args []string) error {
	if err := wechat.ValidateKfAccount(args[0]); err != nil {
		return err
	}
	if strings.TrimSpace(args[1]) == "" {
		return errors.New("the WECHAT_ID is empty: give the WeChat ID (微信号) of the person to invite")
	}
	return nil
}

func checkKfAccountNickname(args []string) error {
	if err := wechat.ValidateKfAccount(args[0]); err != nil {
		return err
	}
	return wechat.ValidateKfNickname(args[1])
}

func runKfList(ctx context.Context, env *cmdEnv, c *wechat.Client, _ []string) error {
	list, err := c.KfList(ctx)
	if err != nil {
		return fmt.Errorf("listing kefu accounts: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stdout, "no kefu accounts (add one with: wxbot kf add ACCOUNT NICKNAME)")
		return nil
	}
	// The nickname is the last column: tabwriter counts runes, not display
	// width, so a Chinese nickname anywhere else would skew the columns
	// after it.
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tKF_ID\tWORKER\tNICKNAME")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Account, orDash(string(k.ID)), kfWorker(k), k.Nickname)
	}
	tw.Flush()
	fmt.Fprintf(env.stdout, "%d kefu account%s\n", len(list), plural(len(list)))
	return nil
}

// kfWorker says who works as an account: the bound WeChat user, or where
// the invitation stands.
func kfWorker(k wechat.KfInfo) string {
	if k.WeChatID != "" {
		return k.WeChatID
	}
	expires := ""
	if k.InviteExpireTime > 0 {
		expires = time.Unix(k.InviteExpireTime, 0).Format("2006-01-02 15:04")
	}
	switch k.InviteStatus {
	case "waiting":
		s := "invited " + k.InviteWeChatID + ", waiting"
		if expires != "" {
			s += " until " + expires
		}
		return s
	case "rejected":
		return "invite rejected by " + k.InviteWeChatID
	case "expired":
		return "invite to " + k.InviteWeChatID + " expired"
	case "":
		return "none (wxbot kf invite " + k.Account + " WECHAT_ID)"
	}
	return "invite " + k.InviteStatus
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runKfOnline(ctx context.Context, env *cmdEnv, c *wechat.Client, _ []string) error {
	list, err := c.KfOnline(ctx)
	if err != nil {
		return fmt.Errorf("listing online kefu accounts: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stdout, "no kefu account is online")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tKF_ID\tSTATUS\tSESSIONS")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", k.Account, orDash(string(k.ID)), k.StatusText(), k.AcceptedCase)
	}
	tw.Flush()
	fmt.Fprintf(env.stdout, "%d online\n", len(list))
	return nil
}

func runKfAdd(ctx context.Context, env *cmdEnv, c *wechat.Client, args []string) error {
	if err := c.KfAdd(ctx, args[0], args[1]); err != nil {
		return fmt.Errorf("adding kefu account %s: %w", args[0], err)
	}
	fmt.Fprintf(env.stdout, "added kefu account %s (%s)\n", args[0], args[1])
	fmt.Fprintf(env.stdout, "it serves once a WeChat user accepts an invitation: wxbot kf invite %s WECHAT_ID\n", args[0])
	return nil
}

func runKfUpdate(ctx context.Context, env *cmdEnv, c *wechat.Client, args []string) error {
	if err := c.KfUpdate(ctx, args[0], args[1]); err != nil {
		return fmt.Errorf("updating kefu account %s: %w", args[0], err)
	}
	fmt.Fprintf(env.stdout, "updated kefu account %s: nickname %s\n", args[0], args[1])
	return nil
}

func runKfDelete(ctx context.Context, env *cmdEnv, c *wechat.Client, args []string) error {
	if err := c.KfDelete(ctx, args[0]); err != nil {
		return fmt.Errorf("deleting kefu account %s: %w", args[0], err)
	}
	fmt.Fprintf(env.stdout, "deleted kefu account %s\n", args[0])
	return nil
}

// maxAvatarBytes bounds what is read from FILE; an avatar is a small JPEG
// and anything this large is the wrong file.
const maxAvatarBytes = 10 << 20

func runKfAvatar(ctx context.Context, env *cmdEnv, c *wechat.Client, args []string) error {
	account, file := args[0], args[1]
	st, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("avatar: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("avatar: %s is not a regular file", file)
	}
	if st.Size() > maxAvatarBytes {
		return fmt.Errorf("avatar: %s is %d bytes: give a JPEG of 640×640, well under %d MiB", file, st.Size(), maxAvatarBytes>>20)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("avatar: %w", err)
	}
	if len(data) == 0 {
		return fmt.Errorf("avatar: %s is empty", file)
	}
	// WeChat takes JPEG only and says so with a bare 61457; catch it here,
	// with the reason.
	if ct := http.DetectContentType(data); ct != "image/jpeg" {
		return fmt.Errorf("avatar: %s is %s, not JPEG: WeChat takes JPEG avatars (640×640 recommended); convert it first", file, ct)
	}
	if err := c.KfAvatar(ctx, account, filepath.Base(file), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("setting the avatar of %s: %w", account, err)
	}
	fmt.Fprintf(env.stdout, "set the avatar of %s from %s\n", account, file)
	return nil
}

func runKfInvite(ctx context.Context, env *cmdEnv, c *wechat.Client, args []string) error {
	if err := c.KfInviteWorker(ctx, args[0], args[1]); err != nil {
		return fmt.Errorf("inviting %s to work as %s: %w", args[1], args[0], err)
	}
	fmt.Fprintf(env.stdout, "invited %s to work as %s; the account serves once they accept in WeChat\n", args[1], args[0])
	return nil
}
