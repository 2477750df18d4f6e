package wechat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

func TestKfCalls(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		call      func(c *wechat.Client) error
		method    string
		path      string
		wantQuery string // kf_account in the query, "" for none
		wantBody  string // exact JSON, "" for no body
	}{
		{"add", func(c *wechat.Client) error { return c.KfAdd(ctx, "test1@kftest", "客服1") },
			http.MethodPost, "/customservice/kfaccount/add", "", `{"kf_account":"test1@kftest","nickname":"客服1"}`},
		{"update", func(c *wechat.Client) error { return c.KfUpdate(ctx, "test1@kftest", "客服 & 售后") },
			http.MethodPost, "/customservice/kfaccount/update", "", `{"kf_account":"test1@kftest","nickname":"客服 & 售后"}`},
		{"delete carries kf_account in body and query", func(c *wechat.Client) error { return c.KfDelete(ctx, "test1@kftest") },
			http.MethodPost, "/customservice/kfaccount/del", "test1@kftest", `{"kf_account":"test1@kftest"}`},
		{"invite", func(c *wechat.Client) error { return c.KfInviteWorker(ctx, "test1@kftest", "wx_worker") },
			http.MethodPost, "/customservice/kfaccount/inviteworker", "", `{"kf_account":"test1@kftest","invite_wx":"wx_worker"}`},
		{"list", func(c *wechat.Client) error { _, err := c.KfList(ctx); return err },
			http.MethodGet, "/cgi-bin/customservice/getkflist", "", ""},
		{"online", func(c *wechat.Client) error { _, err := c.KfOnline(ctx); return err },
			http.MethodGet, "/cgi-bin/customservice/getonlinekflist", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := wechattest.New(appID, secret)
			defer fake.Close()
			c := newClient(t, fake, wechat.TokenAPIStable, nil)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			calls := fake.Calls("")
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1: %+v", len(calls), calls)
			}
			got := calls[0]
			if got.Method != tt.method || got.Path != tt.path {
				t.Errorf("called %s %s, want %s %s", got.Method, got.Path, tt.method, tt.path)
			}
			if q := got.Query.Get("kf_account"); q != tt.wantQuery {
				t.Errorf("query kf_account = %q, want %q", q, tt.wantQuery)
			}
			if b := strings.TrimSpace(string(got.Body)); b != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", b, tt.wantBody)
			}
		})
	}
}

func TestKfAvatarMultipart(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	var mu sync.Mutex
	var gotAccount, gotName string
	var gotData []byte
	fake.Handle("/customservice/kfaccount/uploadheadimg", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotAccount = r.URL.Query().Get("kf_account")
		f, h, err := r.FormFile("media")
		if err != nil {
			t.Errorf("no multipart field media: %v", err)
			http.Error(w, err.Error(), 400)
			return
		}
		gotName = h.Filename
		gotData, _ = io.ReadAll(f)
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	})
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	jpeg := []byte("\xff\xd8\xff\xe0 fake jpeg bytes")
	if err := c.KfAvatar(context.Background(), "test1@kftest", "face.jpg", strings.NewReader(string(jpeg))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotAccount != "test1@kftest" || gotName != "face.jpg" || string(gotData) != string(jpeg) {
		t.Errorf("got kf_account %q, file %q, %q; want test1@kftest, face.jpg, the bytes", gotAccount, gotName, gotData)
	}
	if calls := fake.Calls("/customservice/kfaccount/uploadheadimg"); len(calls) != 1 || calls[0].Method != http.MethodPost {
		t.Errorf("calls: %+v", calls)
	}
}

func TestKfListParsing(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	// kf_id has been seen both as a number and as a string.
	fake.Answer("/cgi-bin/customservice/getkflist", `{"kf_list":[
		{"kf_account":"test1@kftest","kf_nick":"客服1","kf_id":1001,"kf_headimgurl":"http://mmbiz.qpic.cn/a/0","kf_wx":"kfwx1"},
		{"kf_account":"test2@kftest","kf_nick":"客服2","kf_id":"1002","kf_headimgurl":"","invite_wx":"wx_b","invite_expire_time":1700000000,"invite_status":"waiting"}]}`)
	fake.Answer("/cgi-bin/customservice/getonlinekflist", `{"kf_online_list":[
		{"kf_account":"test1@kftest","status":1,"kf_id":"1001","accepted_case":2},
		{"kf_account":"test3@kftest","status":3,"kf_id":1003,"accepted_case":0}]}`)
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	list, err := c.KfList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []wechat.KfInfo{
		{Account: "test1@kftest", Nickname: "客服1", ID: "1001", HeadImgURL: "http://mmbiz.qpic.cn/a/0", WeChatID: "kfwx1"},
		{Account: "test2@kftest", Nickname: "客服2", ID: "1002", InviteWeChatID: "wx_b", InviteExpireTime: 1700000000, InviteStatus: "waiting"},
	}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("KfList = %+v\nwant %+v", list, want)
	}
	online, err := c.KfOnline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantOnline := []wechat.KfOnline{
		{Account: "test1@kftest", Status: wechat.KfStatusPC, ID: "1001", AcceptedCase: 2},
		{Account: "test3@kftest", Status: wechat.KfStatusBoth, ID: "1003"},
	}
	if !reflect.DeepEqual(online, wantOnline) {
		t.Errorf("KfOnline = %+v\nwant %+v", online, wantOnline)
	}
	for _, tt := range []struct {
		status int
		want   string
	}{{1, "pc"}, {2, "mobile"}, {3, "pc+mobile"}, {9, "status 9"}} {
		if got := (wechat.KfOnline{Status: tt.status}).StatusText(); got != tt.want {
			t.Errorf("StatusText(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

func TestKfAccountValidation(t *testing.T) {
	tests := []struct {
		account, nickname string
		want              string // "" for valid
	}{
		{"test1@kftest", "客服1", ""},
		{"A_b9@gh_0123456789ab", "sixteen chars ok", ""},
		{"abcdefghij@x", "n", ""},
		{"test1", "n", `invalid kefu account "test1": want PREFIX@WECHATID, e.g. test1@yourwechatid (the suffix is the Official Account's WeChat ID)`},
		{"@kftest", "n", `invalid kefu account "@kftest": the part before "@" must be 1-10 letters, digits or underscores`},
		{"abcdefghijk@kftest", "n", `invalid kefu account "abcdefghijk@kftest": the part before "@" must be 1-10 letters, digits or underscores`},
		{"te-st@kftest", "n", `invalid kefu account "te-st@kftest": the part before "@" must be 1-10 letters, digits or underscores`},
		{"客服@kftest", "n", `invalid kefu account "客服@kftest": the part before "@" must be 1-10 letters, digits or underscores`},
		{"test1@", "n", `invalid kefu account "test1@": the part after "@" is empty: put the Official Account's WeChat ID there`},
		{"test1@" + strings.Repeat("x", 31), "n", `invalid kefu account "test1@xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": the part after "@" has 31 characters, at most 30`},
		{"test1@a@b", "n", `invalid kefu account "test1@a@b": the part after "@" must be a WeChat ID, without "@" or spaces`},
		{"test1@a b", "n", `invalid kefu account "test1@a b": the part after "@" must be a WeChat ID, without "@" or spaces`},
		{"test1@kftest", "", `invalid kefu account: the nickname is empty: give 1-16 characters`},
		{"test1@kftest", "一二三四五六七八九十一二三四五六七", `invalid kefu account: nickname "一二三四五六七八九十一二三四五六七" has 17 characters, at most 16`},
	}
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	for _, tt := range tests {
		err := c.KfAdd(context.Background(), tt.account, tt.nickname)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, wechat.ErrInvalidKfAccount) {
				t.Errorf("%q %q: %v is not ErrInvalidKfAccount", tt.account, tt.nickname, err)
			}
		}
		if got != tt.want {
			t.Errorf("KfAdd(%q, %q):\n got %s\nwant %s", tt.account, tt.nickname, got, tt.want)
		}
	}
	valid := 3
	if n := len(fake.Calls("")); n != valid {
		t.Errorf("%d calls reached the API, want %d (invalid input must not cost quota)", n, valid)
	}
	// The other calls check the account too, before any request.
	before := len(fake.Calls(""))
	ctx := context.Background()
	for _, err := range []error{
		c.KfDelete(ctx, "bad"), c.KfUpdate(ctx, "bad", "n"), c.KfInviteWorker(ctx, "bad", "wx"),
		c.KfInviteWorker(ctx, "ok@kftest", " "), c.KfAvatar(ctx, "bad", "a.jpg", strings.NewReader("x")),
	} {
		if !errors.Is(err, wechat.ErrInvalidKfAccount) {
			t.Errorf("err = %v, want ErrInvalidKfAccount", err)
		}
	}
	if n := len(fake.Calls("")); n != before {
		t.Errorf("%d more calls for invalid input, want 0", n-before)
	}
}

func TestKfErrorsCarryHints(t *testing.T) {
	tests := []struct {
		code int
		call func(c *wechat.Client) error
		path string
		want string
	}{
		{65400, func(c *wechat.Client) error { return c.KfAdd(context.Background(), "test1@kftest", "客服1") },
			"/customservice/kfaccount/add", "new kefu is not enabled: turn on 客服功能 in the console (test accounts cannot)"},
		{65406, func(c *wechat.Client) error { return c.KfAdd(context.Background(), "test1@kftest", "客服1") },
			"/customservice/kfaccount/add", "the kefu account exists"},
		{61457, func(c *wechat.Client) error {
			return c.KfAvatar(context.Background(), "test1@kftest", "a.png", strings.NewReader("png"))
		}, "/customservice/kfaccount/uploadheadimg", "the avatar must be a JPEG file"},
		{65412, func(c *wechat.Client) error { return c.KfInviteWorker(context.Background(), "test1@kftest", "wx") },
			"/customservice/kfaccount/inviteworker", "already bound to a WeChat user"},
		{65400, func(c *wechat.Client) error { _, err := c.KfList(context.Background()); return err },
			"/cgi-bin/customservice/getkflist", "turn on 客服功能"},
	}
	for _, tt := range tests {
		fake := wechattest.New(appID, secret)
		c := newClient(t, fake, wechat.TokenAPIStable, nil)
		fake.FailNext(tt.path, tt.code)
		err := tt.call(c)
		if code, ok := wechat.APICode(err); !ok || code != tt.code {
			t.Errorf("%s: err = %v, want errcode %d", tt.path, err, tt.code)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %d: err = %v, want the hint %q", tt.path, tt.code, err, tt.want)
		}
		fake.Close()
	}
}
