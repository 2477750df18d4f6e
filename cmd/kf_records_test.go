package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// day0 is 2026-03-01 00:00 in Asia/Shanghai.
const day0 = 1772294400

func TestKfSessionsAndWaiting(t *testing.T) {
	fake, env := newAPIFake(t)
	fake.SetKfSessions("kf1@kftest",
		wechattest.KfSession{OpenID: "oUser_AAAAAAAAAAAAAAAAAAAAAAAA", CreateTime: day0 + 9*3600},
		wechattest.KfSession{OpenID: "oUser_BBBBBBBBBBBBBBBBBBBBBBBB", CreateTime: day0 + 9*3600 + 65})
	var many []wechattest.KfWaiting
	for i := range 120 {
		many = append(many, wechattest.KfWaiting{OpenID: fmt.Sprintf("oWait%03d", i), LatestTime: day0 + int64(i)})
	}
	tests := []struct {
		name  string
		setup func()
		args  []string
		want  string // the whole output, or its end with tail
		tail  bool
	}{
		{"sessions", nil, []string{"kf", "sessions", "kf1@kftest"}, "" +
			"USER                            SINCE\n" +
			"oUser_AAAAAAAAAAAAAAAAAAAAAAAA  2026-03-01 09:00:00 CST\n" +
			"oUser_BBBBBBBBBBBBBBBBBBBBBBBB  2026-03-01 09:01:05 CST\n" +
			"2 sessions of kf1@kftest\n", false},
		{"sessions in another zone", nil, []string{"kf", "sessions", "kf1@kftest", "--timezone", "UTC"}, "" +
			"USER                            SINCE\n" +
			"oUser_AAAAAAAAAAAAAAAAAAAAAAAA  2026-03-01 01:00:00 UTC\n" +
			"oUser_BBBBBBBBBBBBBBBBBBBBBBBB  2026-03-01 01:01:05 UTC\n" +
			"2 sessions of kf1@kftest\n", false},
		{"no sessions", nil, []string{"kf", "sessions", "kf2@kftest"}, "kf2@kftest is serving no session\n", false},
		{"nobody waiting", nil, []string{"kf", "waiting"}, "nobody is waiting for a kefu\n", false},
		{"waiting", func() {
			fake.SetKfWaiting(wechattest.KfWaiting{OpenID: "oW2", LatestTime: day0 + 61}, wechattest.KfWaiting{OpenID: "oW1", LatestTime: day0 + 1})
		}, []string{"kf", "waiting"}, "" +
			"USER  LAST MESSAGE\n" +
			"oW1   2026-03-01 00:00:01 CST\n" +
			"oW2   2026-03-01 00:01:01 CST\n" +
			"2 waiting\n", false},
		{"more waiting than WeChat lists", func() { fake.SetKfWaiting(many...) }, []string{"kf", "waiting"},
			"120 waiting; WeChat lists the 100 who have waited longest\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			out, errOut, code := runCmd(env, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if tt.tail && !strings.HasSuffix(out, tt.want) || !tt.tail && out != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tt.want)
			}
			noSecret(t, out, errOut)
		})
	}
	if c := fake.Calls(wechattest.PathKfSessionList); len(c) != 3 || c[0].Method != http.MethodGet || c[0].Query.Get("kf_account") != "kf1@kftest" {
		t.Errorf("session list calls: %+v", c)
	}
}

// chat makes n records a minute apart from start: the user asks, the kefu
// answers.
func chat(start int64, n int) []wechattest.KfRecord {
	var out []wechattest.KfRecord
	for i := range n {
		r := wechattest.KfRecord{OpenID: "oUser", OperCode: 2003, Text: fmt.Sprintf("问题%d", i), Time: start + int64(60*i), Worker: "kf1@kftest"}
		if i%2 == 1 {
			r.OperCode, r.Text = 2002, fmt.Sprintf("回答%d\n第二行", i)
		}
		out = append(out, r)
	}
	return out
}

func TestKfRecordsCommand(t *testing.T) {
	tests := []struct {
		name      string
		records   []wechattest.KfRecord
		window    time.Duration // the fake's longest range; 0: a day
		args      []string
		want      string // the whole output, or with wantLines its last line
		wantLines int
		wantCalls int
	}{
		{"a table over several pages", chat(day0+9*3600, 5), 0,
			[]string{"--from", "2026-03-01 09:00", "--to", "2026-03-01 10:00", "--page-size", "2"}, "" +
				"TIME                     USER   KEFU        FROM  TEXT\n" +
				"2026-03-01 09:00:00 CST  oUser  kf1@kftest  user  问题0\n" +
				"2026-03-01 09:01:00 CST  oUser  kf1@kftest  kefu  回答1 ⏎ 第二行\n" +
				"2026-03-01 09:02:00 CST  oUser  kf1@kftest  user  问题2\n" +
				"2026-03-01 09:03:00 CST  oUser  kf1@kftest  kefu  回答3 ⏎ 第二行\n" +
				"2026-03-01 09:04:00 CST  oUser  kf1@kftest  user  问题4\n" +
				"5 records from 2026-03-01 09:00:00 CST to 2026-03-01 10:00:00 CST\n", 0, 3},
		{"JSON Lines", chat(day0+9*3600, 2), 0,
			[]string{"--from", "2026-03-01", "--to", "2026-03-01", "--json"}, "" +
				`{"time":"2026-03-01T09:00:00+08:00","unix":1772326800,"openid":"oUser","worker":"kf1@kftest","opercode":2003,"text":"问题0"}` + "\n" +
				`{"time":"2026-03-01T09:01:00+08:00","unix":1772326860,"openid":"oUser","worker":"kf1@kftest","opercode":2002,"text":"回答1\n第二行"}` + "\n", 0, 1},
		{"a date alone is the whole day", chat(day0+86400-60, 3), 0,
			[]string{"--from", "2026-03-01", "--to", "2026-03-01"},
			"1 record from 2026-03-01 00:00:00 CST to 2026-03-01 23:59:59 CST\n", 3, 1},
		{"a week in day windows", append(chat(day0, 2), chat(day0+6*86400+3600, 2)...), 0,
			[]string{"--from", "2026-03-01", "--to", "2026-03-07"},
			"4 records from 2026-03-01 00:00:00 CST to 2026-03-07 23:59:59 CST\n", 6, 7},
		{"65417 for a day: shorter windows", append(chat(day0, 2), chat(day0+20*3600, 2)...), 12 * time.Hour,
			[]string{"--from", "2026-03-01", "--to", "2026-03-01"},
			"4 records from 2026-03-01 00:00:00 CST to 2026-03-01 23:59:59 CST\n", 6, 3},
		{"RFC 3339 and another zone", chat(day0, 1), 0,
			[]string{"--from", "2026-02-28T16:00:00Z", "--to", "2026-02-28T17:00:00Z", "--timezone", "UTC"}, "" +
				"TIME                     USER   KEFU        FROM  TEXT\n" +
				"2026-02-28 16:00:00 UTC  oUser  kf1@kftest  user  问题0\n" +
				"1 record from 2026-02-28 16:00:00 UTC to 2026-02-28 17:00:00 UTC\n", 0, 1},
		{"nothing said", nil, 0, []string{"--from", "2026-03-01 09:00", "--to", "2026-03-01 10:00"},
			"no chat records from 2026-03-01 09:00:00 CST to 2026-03-01 10:00:00 CST\n", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env := newAPIFake(t)
			fake.AddKfRecords(tt.records...)
			if tt.window > 0 {
				fake.SetKfRecordsWindow(tt.window)
			}
			out, errOut, code := runCmd(env, append([]string{"kf", "records"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if tt.wantLines == 0 && out != tt.want || tt.wantLines > 0 && (!strings.HasSuffix(out, tt.want) || strings.Count(out, "\n") != tt.wantLines) {
				t.Errorf("stdout:\n%s\nwant (%d lines):\n%s", out, tt.wantLines, tt.want)
			}
			calls := fake.Calls(wechattest.PathKfMsgList)
			if len(calls) != tt.wantCalls {
				t.Errorf("%d getmsglist calls, want %d", len(calls), tt.wantCalls)
			}
			for _, c := range calls {
				var b struct {
					Start int64 `json:"starttime"`
					End   int64 `json:"endtime"`
				}
				json.Unmarshal(c.Body, &b)
				if b.End-b.Start > 86400 {
					t.Errorf("a call asked for %d s: %s", b.End-b.Start, c.Body)
				}
			}
			noSecret(t, out, errOut)
		})
	}
}

func TestKfRecordsErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no --from", nil, []string{"kf", "records"}, exitUsage, `kf records needs --from: the first time, e.g. --from "2026-03-01"`},
		{"bad --from", nil, []string{"kf", "records", "--from", "yesterday"}, exitUsage, `--from "yesterday": want a date or a time`},
		{"--from from simulate's variable", map[string]string{"WXBOT_FROM": "oUser"}, []string{"kf", "records"}, exitUsage,
			`--from "oUser" (from WXBOT_FROM): want a date or a time`},
		{"--to before --from", nil, []string{"kf", "records", "--from", "2026-03-02", "--to", "2026-03-01"}, exitUsage,
			"--to 2026-03-01 23:59:59 CST is before --from 2026-03-02 00:00:00 CST"},
		{"page size", nil, []string{"kf", "records", "--from", "2026-03-01", "--page-size", "0"}, exitUsage, "--page-size 0: want 1 to 10000"},
		{"unknown zone", nil, []string{"kf", "waiting", "--timezone", "Mars/Base"}, exitUsage, `--timezone "Mars/Base"`},
		{"--json elsewhere", nil, []string{"kf", "list", "--json"}, exitUsage, "--json is not a flag of kf list (it is for kf records)"},
		{"--from elsewhere", nil, []string{"kf", "sessions", "kf1@kftest", "--from=2026-03-01"}, exitUsage, "--from is not a flag of kf sessions"},
		{"sessions without an account", nil, []string{"kf", "sessions"}, exitUsage, "usage: wxbot kf sessions ACCOUNT"},
		{"sessions of a malformed account", nil, []string{"kf", "sessions", "kf1"}, exitUsage, `invalid kefu account "kf1"`},
		{"waiting takes no argument", nil, []string{"kf", "waiting", "x"}, exitUsage, `kf waiting takes no arguments`},
		{"WeChat's error with its hint", nil, []string{"kf", "records", "--from", "2026-03-01", "--to", "2026-03-01"}, exitError,
			"wxbot kf: reading the chat records from 2026-03-01 00:00:00 CST to 2026-03-01 23:59:59 CST (0 read): " +
				"wechat api /customservice/msgrecord/getmsglist: errcode 65400: fake error 65400 rid: 6912-fake (new kefu is not enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env := newAPIFake(t)
			for k, v := range tt.env {
				env[k] = v
			}
			fake.FailNext(wechattest.PathKfMsgList, 65400)
			out, errOut, code := runCmd(env, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.code, tt.want)
			}
			if n := len(fake.Calls("")); tt.code == exitUsage && n != 0 {
				t.Errorf("a usage error made %d calls", n)
			}
			noSecret(t, out, errOut)
		})
	}
}

// TestKfReadCommandsForAnAccount: sessions, waiting and records take
// --accounts FILE --account NAME, as every API command does.
func TestKfReadCommandsForAnAccount(t *testing.T) {
	fake := wechattest.New(apiTestAppID, apiTestSecret)
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("version: 1\nrules: []\n"), 0o644)
	file := filepath.Join(dir, "accounts.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf("accounts:\n  - {name: shop, appid: %s, token_env: SHOP_TOKEN, secret_env: SHOP_SECRET, rules: rules.yaml}\n", apiTestAppID)), 0o644)
	env := map[string]string{"SHOP_TOKEN": "t", "SHOP_SECRET": apiTestSecret, "WXBOT_API_BASE": fake.URL}
	fake.AddKfRecords(chat(day0, 1)...)
	for _, args := range [][]string{
		{"kf", "sessions", "kf1@kftest"},
		{"kf", "waiting"},
		{"kf", "records", "--from", "2026-03-01", "--to", "2026-03-01"},
	} {
		out, errOut, code := runCmd(env, append(args, "--accounts", file, "--account", "shop")...)
		if code != 0 {
			t.Errorf("%v: exit %d %s", args, code, errOut)
		}
		noSecret(t, out, errOut)
	}
	if n := len(fake.Calls("")); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}
