package cmd

import (
	"encoding/json"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

func apiEnv(fake *wechattest.Server) map[string]string {
	return map[string]string{"WXBOT_APPID": "wxkf", "WXBOT_SECRET": "kf-secret", "WXBOT_API_BASE": fake.URL}
}

func TestKfCommands(t *testing.T) {
	fake := wechattest.New("wxkf", "kf-secret")
	defer fake.Close()
	fake.Answer("/cgi-bin/customservice/getkflist", `{"kf_list":[{"kf_account":"test1@kftest","kf_nick":"小王","kf_id":"1001","kf_wx":"wang","invite_status":""},{"kf_account":"test2@kftest","kf_nick":"小李","kf_id":"1002","invite_wx":"li","invite_expire_time":1700000000,"invite_status":"waiting"}]}`)
	fake.Answer("/cgi-bin/customservice/getonlinekflist", `{"kf_online_list":[{"kf_account":"test1@kftest","status":3,"kf_id":"1001","accepted_case":2}]}`)
	env := apiEnv(fake)

	out, errOut, code := runCmd(env, "kf", "list")
	if code != 0 || !strings.Contains(out, "test1@kftest  小王") || !strings.Contains(out, "waiting (li, until") || !strings.Contains(out, "2 account(s)") {
		t.Errorf("kf list: %d %q %q", code, out, errOut)
	}
	out, _, _ = runCmd(env, "kf", "online")
	if !strings.Contains(out, "test1@kftest  PC+mobile  1001  2") {
		t.Errorf("kf online: %q", out)
	}
	for _, args := range [][]string{{"kf", "add", "test3@kftest", "小张"}, {"kf", "update", "test3@kftest", "小张2"}, {"kf", "delete", "test3@kftest"}} {
		if _, errOut, code := runCmd(env, args...); code != 0 {
			t.Errorf("%v: %d %s", args, code, errOut)
		}
	}
	add := fake.Calls("/customservice/kfaccount/add")
	if len(add) != 1 || add[0].Method != "POST" || string(add[0].Body) != `{"kf_account":"test3@kftest","nickname":"小张"}`+"\n" {
		t.Errorf("add call %+v", add)
	}
	if up := fake.Calls("/customservice/kfaccount/update"); len(up) != 1 || !strings.Contains(string(up[0].Body), `"nickname":"小张2"`) {
		t.Errorf("update call %+v", up)
	}
	del := fake.Calls("/customservice/kfaccount/del")
	if len(del) != 1 || del[0].Query.Get("kf_account") != "test3@kftest" || !strings.Contains(string(del[0].Body), `"kf_account":"test3@kftest"`) {
		t.Errorf("delete must carry kf_account in the body and the query: %+v", del)
	}

	img := filepath.Join(t.TempDir(), "avatar.jpg")
	os.WriteFile(img, []byte("\xff\xd8\xff jpeg bytes"), 0o644)
	var field, fileName, content string
	fake.Handle("/customservice/kfaccount/uploadheadimg", func(w http.ResponseWriter, r *http.Request) {
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		p, err := mr.NextPart()
		if err == nil {
			field, fileName = p.FormName(), p.FileName()
			b := new(strings.Builder)
			buf := make([]byte, 100)
			n, _ := p.Read(buf)
			b.Write(buf[:n])
			content = b.String()
		}
		json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	if _, errOut, code := runCmd(env, "kf", "avatar", "test1@kftest", img); code != 0 {
		t.Fatalf("avatar: %s", errOut)
	}
	up := fake.Calls("/customservice/kfaccount/uploadheadimg")
	if len(up) != 1 || up[0].Query.Get("kf_account") != "test1@kftest" || field != "media" || fileName != "avatar.jpg" || content != "\xff\xd8\xff jpeg bytes" {
		t.Errorf("avatar upload: field %q file %q content %q calls %+v", field, fileName, content, up)
	}

	// Refused before any call, and errors with their hints.
	for args, want := range map[string]string{
		"add nobody 小张": `kf_account "nobody": want prefix@wechat-id`,
		"add test4@kftest 一二三四五六七八九十一二三四五六七": "nickname",
		"add":   "want 2 argument(s)",
		"dance": `unknown kf command "dance"`,
	} {
		_, errOut, code := runCmd(env, append([]string{"kf"}, strings.Fields(args)...)...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("kf %s: %d %q, want %q", args, code, errOut, want)
		}
	}
	fake.FailNext("/cgi-bin/customservice/getkflist", 65400)
	if _, errOut, _ := runCmd(env, "kf", "list"); !strings.Contains(errOut, "errcode 65400") || !strings.Contains(errOut, "客服功能") {
		t.Errorf("65400: %q", errOut)
	}
	fresh := wechattest.New("wxkf", "kf-secret")
	defer fresh.Close()
	fresh.FailTokenNext(40164)
	if _, errOut, _ := runCmd(apiEnv(fresh), "kf", "list"); !strings.Contains(errOut, "IP whitelist") {
		t.Errorf("40164: %q", errOut)
	}
	if _, errOut, code := runCmd(map[string]string{}, "kf", "list"); code != exitUsage || !strings.Contains(errOut, "--appid and --secret") {
		t.Errorf("no credentials: %d %q", code, errOut)
	}
}

func TestMenuValidate(t *testing.T) {
	leaf := func(name, typ, key string) wechat.Button { return wechat.Button{Name: name, Type: typ, Key: key} }
	tests := []struct {
		m    wechat.Menu
		want string
	}{
		{wechat.Menu{}, "button: 0 buttons, want 1 to 3"},
		{wechat.Menu{Buttons: []wechat.Button{leaf("a", "click", "A"), leaf("b", "click", "B"), leaf("c", "click", "C"), leaf("d", "click", "D")}}, "button: 4 buttons, want 1 to 3"},
		{wechat.Menu{Buttons: []wechat.Button{{Name: "g", SubButtons: []wechat.Button{leaf("1", "click", "1"), leaf("2", "click", "2"), leaf("3", "click", "3"), leaf("4", "click", "4"), leaf("5", "click", "5"), leaf("6", "click", "6")}}}}, `button[0] "g": 6 sub-buttons, want at most 5`},
		{wechat.Menu{Buttons: []wechat.Button{leaf("a", "click", "")}}, `button[0] "a": click needs key`},
		{wechat.Menu{Buttons: []wechat.Button{{Name: "v", Type: "view"}}}, `button[0] "v": view needs url`},
		{wechat.Menu{Buttons: []wechat.Button{{Name: "m", Type: "miniprogram", URL: "u", AppID: "wx1"}}}, `button[0] "m": miniprogram needs pagepath`},
		{wechat.Menu{Buttons: []wechat.Button{leaf("a", "clik", "A")}}, `button[0] "a": unknown type "clik" (known: article_id, article_view_limited, click, location_select, media_id, miniprogram, pic_photo_or_album, pic_sysphoto, pic_weixin, scancode_push, scancode_waitmsg, view, view_limited)`},
		{wechat.Menu{Buttons: []wechat.Button{leaf("今日歌曲好听吗", "click", "A")}}, `button[0] "今日歌曲好听吗": name is 21 bytes, want at most 16`},
		{wechat.Menu{Buttons: []wechat.Button{leaf("a", "click", strings.Repeat("k", 129))}}, `key is 129 bytes, want at most 128`},
		{wechat.Menu{Buttons: []wechat.Button{{Name: "v", Type: "view", URL: "https://x/" + strings.Repeat("u", 1020)}}}, `url is 1030 bytes, want at most 1024`},
		{wechat.Menu{Buttons: []wechat.Button{{Name: "g", Type: "click", Key: "K", SubButtons: []wechat.Button{leaf("1", "click", "1")}}}}, `button[0] "g": a button with sub_button has only a name`},
		{wechat.Menu{Buttons: []wechat.Button{{Name: "g", SubButtons: []wechat.Button{{Name: "s", Type: "click"}}}}}, `button[0].sub_button[0] "s": click needs key`},
	}
	for _, tt := range tests {
		errs := tt.m.Validate()
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e.Error(), tt.want)
		}
		if !found {
			t.Errorf("Validate = %v, want %q", errs, tt.want)
		}
	}
}

func TestMenuCommands(t *testing.T) {
	fake := wechattest.New("wxkf", "kf-secret")
	defer fake.Close()
	env := apiEnv(fake)
	env["WXBOT_RULES"] = "../examples/rules.yaml"

	out, errOut, code := runCmd(env, "menu", "push", "../examples/menu.yaml")
	if code != 0 || strings.Contains(out, "warning") {
		t.Fatalf("push examples/menu.yaml: %d %q %q", code, out, errOut)
	}
	calls := fake.Calls("/cgi-bin/menu/create")
	var sent wechat.Menu
	if len(calls) != 1 || json.Unmarshal(calls[0].Body, &sent) != nil || len(sent.Buttons) != 3 || sent.Buttons[1].SubButtons[0].Key != "ONLINE_KF" {
		t.Fatalf("menu/create got %+v", calls)
	}
	if strings.Contains(string(calls[0].Body), `\u`) {
		t.Error("the menu JSON has \\u escapes (40033)")
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "menu.yaml")
	os.WriteFile(bad, []byte("button:\n  - {name: a, type: click}\n  - {name: b, type: click, key: NO_RULE}\n"), 0o644)
	out, errOut, code = runCmd(env, "menu", "push", bad)
	if code != 1 || !strings.Contains(out, `button[0] "a": click needs key`) || !strings.Contains(errOut, "nothing was sent") {
		t.Errorf("invalid menu: %d %q %q", code, out, errOut)
	}
	os.WriteFile(bad, []byte("button:\n  - {name: b, type: click, key: NO_RULE}\n"), 0o644)
	out, _, code = runCmd(env, "menu", "push", bad)
	if code != 0 || !strings.Contains(out, `warning: click button "b" (key NO_RULE) has no rule`) {
		t.Errorf("key without a rule: %d %q", code, out)
	}
	out, errOut, code = runCmd(env, "menu", "push", "--strict", bad)
	if code != 1 || !strings.Contains(errOut, "1 key(s) without a rule (--strict); nothing was sent") {
		t.Errorf("--strict: %d %q %q", code, out, errOut)
	}
	os.WriteFile(bad, []byte("button:\n  - {name: b, typ: click}\n"), 0o644)
	if _, errOut, code := runCmd(env, "menu", "push", bad); code != 1 || !strings.Contains(errOut, "field typ not found") {
		t.Errorf("unknown field: %d %q", code, errOut)
	}
	if n := len(fake.Calls("/cgi-bin/menu/create")); n != 2 {
		t.Errorf("%d menu/create calls, want 2 (the example and the warned one)", n)
	}

	fake.Answer("/cgi-bin/menu/get", `{"menu":{"button":[{"type":"click","name":"价格","key":"PRICE"}],"menuid":1}}`)
	out, _, _ = runCmd(env, "menu", "get")
	if !strings.Contains(out, "button:") || !strings.Contains(out, "key: PRICE") {
		t.Errorf("menu get: %q", out)
	}
	fake.FailNext("/cgi-bin/menu/get", 46003)
	if out, _, _ = runCmd(env, "menu", "get"); !strings.Contains(out, "no menu") {
		t.Errorf("menu get with no menu: %q", out)
	}
	if _, _, code := runCmd(env, "menu", "delete"); code != 0 || len(fake.Calls("/cgi-bin/menu/delete")) != 1 {
		t.Error("menu delete")
	}
}
