package cmd

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

const (
	apiTestAppID  = "wx00000000000000aa"
	apiTestSecret = "app-secret-never-printed"
)

// newAPIFake starts a fake WeChat API and returns it with the environment
// that points wxbot at it.
func newAPIFake(t *testing.T) (*wechattest.Server, map[string]string) {
	t.Helper()
	fake := wechattest.New(apiTestAppID, apiTestSecret)
	t.Cleanup(fake.Close)
	return fake, map[string]string{"WXBOT_APPID": apiTestAppID, "WXBOT_SECRET": apiTestSecret, "WXBOT_API_BASE": fake.URL}
}

// noSecret fails the test when the AppSecret or a token shows in output.
func noSecret(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, apiTestSecret) || strings.Contains(o, "FAKE_TOKEN") {
			t.Errorf("a secret leaked into the output:\n%s", o)
		}
	}
}

func TestKfCommands(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		path      string
		wantQuery string
		wantBody  string
		wantOut   string
	}{
		{"add", []string{"kf", "add", "test1@kftest", "客服1"}, "/customservice/kfaccount/add", "",
			`{"kf_account":"test1@kftest","nickname":"客服1"}`, "added kefu account test1@kftest (客服1)\nit serves once a WeChat user accepts an invitation: wxbot kf invite test1@kftest WECHAT_ID\n"},
		{"update", []string{"kf", "update", "test1@kftest", "售后"}, "/customservice/kfaccount/update", "",
			`{"kf_account":"test1@kftest","nickname":"售后"}`, "updated kefu account test1@kftest: nickname 售后\n"},
		{"delete", []string{"kf", "delete", "test1@kftest", "--yes"}, "/customservice/kfaccount/del", "test1@kftest",
			`{"kf_account":"test1@kftest"}`, "deleted kefu account test1@kftest\n"},
		{"invite", []string{"kf", "invite", "test1@kftest", "wx_worker"}, "/customservice/kfaccount/inviteworker", "",
			`{"kf_account":"test1@kftest","invite_wx":"wx_worker"}`, "invited wx_worker to work as test1@kftest; the account serves once they accept in WeChat\n"},
		{"flags after the arguments", []string{"kf", "delete", "test1@kftest", "--token-api", "classic", "--yes"}, "/customservice/kfaccount/del", "test1@kftest",
			`{"kf_account":"test1@kftest"}`, "deleted kefu account test1@kftest\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env := newAPIFake(t)
			out, errOut, code := runCmd(env, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			if out != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tt.wantOut)
			}
			calls := fake.Calls("")
			if len(calls) != 1 || calls[0].Path != tt.path || calls[0].Method != http.MethodPost {
				t.Fatalf("calls: %+v", calls)
			}
			if q := calls[0].Query.Get("kf_account"); q != tt.wantQuery {
				t.Errorf("query kf_account = %q, want %q", q, tt.wantQuery)
			}
			if b := strings.TrimSpace(string(calls[0].Body)); b != tt.wantBody {
				t.Errorf("body %s, want %s", b, tt.wantBody)
			}
			noSecret(t, out, errOut)
		})
	}
}

func TestKfList(t *testing.T) {
	fake, env := newAPIFake(t)
	exp := int64(1700000000)
	fake.Answer("/cgi-bin/customservice/getkflist", `{"kf_list":[
		{"kf_account":"test1@kftest","kf_nick":"客服1","kf_id":1001,"kf_headimgurl":"","kf_wx":"kfwx1"},
		{"kf_account":"test2@kftest","kf_nick":"售后","kf_id":"1002","invite_wx":"wx_b","invite_expire_time":1700000000,"invite_status":"waiting"},
		{"kf_account":"test3@kftest","kf_nick":"c","kf_id":"1003","invite_wx":"wx_c","invite_status":"rejected"},
		{"kf_account":"vip@kftest","kf_nick":"VIP","kf_id":"1004"}]}`)
	out, errOut, code := runCmd(env, "kf", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	until := time.Unix(exp, 0).Format("2006-01-02 15:04")
	want := "" +
		"ACCOUNT       KF_ID  WORKER                                        NICKNAME\n" +
		"test1@kftest  1001   kfwx1                                         客服1\n" +
		"test2@kftest  1002   invited wx_b, waiting until " + until + "  售后\n" +
		"test3@kftest  1003   invite rejected by wx_c                       c\n" +
		"vip@kftest    1004   none (wxbot kf invite vip@kftest WECHAT_ID)   VIP\n" +
		"4 kefu accounts\n"
	if out != want {
		t.Errorf("kf list:\n%s\nwant:\n%s", out, want)
	}
	if c := fake.Calls("/cgi-bin/customservice/getkflist"); len(c) != 1 || c[0].Method != http.MethodGet {
		t.Errorf("calls: %+v", c)
	}

	fake.Answer("/cgi-bin/customservice/getkflist", `{"kf_list":[]}`)
	out, _, code = runCmd(env, "kf", "list")
	if code != 0 || out != "no kefu accounts (add one with: wxbot kf add ACCOUNT NICKNAME)\n" {
		t.Errorf("empty list: exit %d %q", code, out)
	}
}

func TestKfOnline(t *testing.T) {
	fake, env := newAPIFake(t)
	fake.Answer("/cgi-bin/customservice/getonlinekflist", `{"kf_online_list":[
		{"kf_account":"test1@kftest","status":1,"kf_id":"1001","accepted_case":2},
		{"kf_account":"vip@kftest","status":3,"kf_id":1004,"accepted_case":0}]}`)
	out, errOut, code := runCmd(env, "kf", "online")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "" +
		"ACCOUNT       KF_ID  STATUS     SESSIONS\n" +
		"test1@kftest  1001   pc         2\n" +
		"vip@kftest    1004   pc+mobile  0\n" +
		"2 online\n"
	if out != want {
		t.Errorf("kf online:\n%s\nwant:\n%s", out, want)
	}
	fake.Answer("/cgi-bin/customservice/getonlinekflist", `{"kf_online_list":[]}`)
	if out, _, _ := runCmd(env, "kf", "online"); out != "no kefu account is online\n" {
		t.Errorf("nobody online: %q", out)
	}
}

func TestKfAvatarCommand(t *testing.T) {
	fake, env := newAPIFake(t)
	var mu sync.Mutex
	var gotAccount, gotName, gotData string
	fake.Handle("/customservice/kfaccount/uploadheadimg", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotAccount = r.URL.Query().Get("kf_account")
		f, h, err := r.FormFile("media")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(f)
		gotName, gotData = h.Filename, string(b)
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	})
	dir := t.TempDir()
	jpeg := filepath.Join(dir, "face.jpg")
	jpegData := "\xff\xd8\xff\xe0\x00\x10JFIF\x00 rest of a jpeg"
	os.WriteFile(jpeg, []byte(jpegData), 0o600)
	out, errOut, code := runCmd(env, "kf", "avatar", "test1@kftest", jpeg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "set the avatar of test1@kftest from "+jpeg+"\n" {
		t.Errorf("stdout %q", out)
	}
	mu.Lock()
	if gotAccount != "test1@kftest" || gotName != "face.jpg" || gotData != jpegData {
		t.Errorf("upload: kf_account %q, file %q, data %q", gotAccount, gotName, gotData)
	}
	mu.Unlock()

	png := filepath.Join(dir, "face.png")
	os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n rest of a png"), 0o600)
	empty := filepath.Join(dir, "empty.jpg")
	os.WriteFile(empty, nil, 0o600)
	for _, tt := range []struct{ file, want string }{
		{png, "is image/png, not JPEG: WeChat takes JPEG avatars (640×640 recommended); convert it first"},
		{empty, "is empty"},
		{filepath.Join(dir, "missing.jpg"), "no such file"},
		{dir, "is not a regular file"},
	} {
		_, errOut, code := runCmd(env, "kf", "avatar", "test1@kftest", tt.file)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("avatar %s: exit %d, %q; want exit 1 and %q", tt.file, code, errOut, tt.want)
		}
	}
	if n := len(fake.Calls("")); n != 1 {
		t.Errorf("%d calls, want only the good upload", n)
	}
}

func TestKfUsageErrors(t *testing.T) {
	fake, env := newAPIFake(t)
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"kf"}, env, "kf needs a subcommand: list, online, add, update, delete, avatar, invite, sessions, waiting, records"},
		{[]string{"kf", "remove", "a@b"}, env, `unknown subcommand "remove" (known: list, online, add, update, delete, avatar, invite, sessions, waiting, records)`},
		{[]string{"kf", "add", "test1@kftest"}, env, "usage: wxbot kf add ACCOUNT NICKNAME"},
		{[]string{"kf", "list", "extra"}, env, `kf list takes no arguments, got ["extra"]`},
		{[]string{"kf", "add", "test1", "n"}, env, `invalid kefu account "test1": want PREFIX@WECHATID`},
		{[]string{"kf", "add", "toolongprefix@kftest", "n"}, env, `the part before "@" must be 1-10 letters, digits or underscores`},
		{[]string{"kf", "update", "test1@kftest", "一二三四五六七八九十一二三四五六七"}, env, "has 17 characters, at most 16"},
		{[]string{"kf", "delete", "test1@"}, env, `the part after "@" is empty`},
		{[]string{"kf", "invite", "test1@kftest", " "}, env, "the WECHAT_ID is empty"},
		{[]string{"kf", "list"}, nil, "--appid and --secret (or WXBOT_APPID and WXBOT_SECRET) are required"},
		{[]string{"kf", "list"}, map[string]string{"WXBOT_APPID": "wx1"}, "--secret (or WXBOT_SECRET) is required"},
		{[]string{"kf", "list", "--token-api", "fast"}, env, `--token-api "fast": want stable or classic`},
		{[]string{"kf", "list", "--api-base", "api.weixin.qq.com"}, env, `--api-base "api.weixin.qq.com": want an http(s) URL`},
	}
	for _, tt := range tests {
		out, errOut, code := runCmd(tt.env, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
		noSecret(t, out, errOut)
	}
	if n, f := len(fake.Calls("")), fake.TokenFetches(); n != 0 || f != 0 {
		t.Errorf("usage errors made %d calls and %d token fetches, want none", n, f)
	}
}

func TestKfAPIErrorsShowHints(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*wechattest.Server)
		args  []string
		want  string
	}{
		{"65400 kefu not enabled", func(f *wechattest.Server) { f.FailNext("/customservice/kfaccount/add", 65400) },
			[]string{"kf", "add", "test1@kftest", "客服1"},
			"wxbot kf: adding kefu account test1@kftest: wechat api /customservice/kfaccount/add: errcode 65400: fake error 65400 rid: 6912-fake (new kefu is not enabled: turn on 客服功能 in the console (test accounts cannot))\n"},
		{"40164 IP not whitelisted", func(f *wechattest.Server) { f.FailTokenNext(40164) },
			[]string{"kf", "list"},
			"wxbot kf: listing kefu accounts: fetching the access_token: wechat api /cgi-bin/stable_token: errcode 40164: fake error 40164 rid: 6912-fake (this server's egress IP is not in the API IP whitelist (微信开发者平台 → 我的业务 → 公众号/服务号 → 基础信息; behind a fixed-egress proxy, set HTTPS_PROXY and whitelist the proxy's IP))\n"},
		{"wrong secret", nil, []string{"kf", "online", "--secret", "wrong-secret-value"}, "(the AppSecret is wrong: check --secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env := newAPIFake(t)
			if tt.setup != nil {
				tt.setup(fake)
			}
			out, errOut, code := runCmd(env, tt.args...)
			if strings.Contains(out+errOut, "wrong-secret-value") {
				t.Errorf("the --secret value was printed")
			}
			if code != exitError || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, errOut, tt.want)
			}
			noSecret(t, out, errOut)
		})
	}
}

// TestAPICommandsForAnAccount: --accounts FILE --account NAME gives an API
// command that account's AppID and secret (read from its secret_env);
// --appid beside it is refused, and an account without a secret says so.
func TestAPICommandsForAnAccount(t *testing.T) {
	fake := wechattest.New(apiTestAppID, apiTestSecret)
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("version: 1\nrules: []\n"), 0o644)
	file := filepath.Join(dir, "accounts.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`accounts:
  - {name: shop, appid: %s, token_env: SHOP_TOKEN, secret_env: SHOP_SECRET, rules: rules.yaml}
  - {name: news, appid: wx00000000000000b2, token_env: SHOP_TOKEN, rules: rules.yaml}
`, apiTestAppID)), 0o644)
	env := map[string]string{"SHOP_TOKEN": "t", "SHOP_SECRET": apiTestSecret, "WXBOT_API_BASE": fake.URL, "WXBOT_ACCOUNTS": file}
	fake.Answer("/cgi-bin/customservice/getkflist", `{"kf_list":[]}`)
	out, errOut, code := runCmd(env, "kf", "list", "--account", "shop")
	if code != 0 || !strings.Contains(out, "no kefu accounts") {
		t.Errorf("kf list --account shop: %d %s %s", code, out, errOut)
	}
	noSecret(t, out, errOut)
	if _, errOut, code = runCmd(env, "kf", "list", "--account", "shop", "--appid", "wx1"); code != 2 || !strings.Contains(errOut, "--appid: not with --account shop") {
		t.Errorf("--appid beside --account: %d %s", code, errOut)
	}
	if _, errOut, code = runCmd(env, "kf", "list", "--account", "news"); code != 2 || !strings.Contains(errOut, "no secret_env or secret_file") {
		t.Errorf("an account without a secret: %d %s", code, errOut)
	}
}
