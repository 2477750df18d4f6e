package cmd

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
	"github.com/wxbot/wxbot/rules"
)

// importFile runs wxbot import KIND --out into a new directory and returns
// the file, the stdout and the directory.
func importFile(t *testing.T, fake *wechattest.Server, env map[string]string, kind string, extra ...string) (string, string, string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, kind+".yaml")
	o, e, code := runCmd(env, append([]string{"import", kind, "--out", out}, extra...)...)
	if code != 0 {
		t.Fatalf("import %s: exit %d\n%s%s", kind, code, o, e)
	}
	noSecret(t, o, e)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), o, dir
}

// checkAndTest runs wxbot check and wxbot test on a file, as an operator
// would after the import.
func checkAndTest(t *testing.T, path string, wantTests int) {
	t.Helper()
	out, errOut, code := runCmd(nil, "check", path)
	if code != 0 || !strings.Contains(out, " 0 errors, ") || strings.Count(out, "warning:") > 1 {
		t.Fatalf("wxbot check %s: exit %d\n%s%s", path, code, out, errOut)
	}
	out, errOut, code = runCmd(nil, "test", path)
	if code != 0 || strings.Count(out, "ok   ") != wantTests {
		t.Errorf("wxbot test %s: exit %d, want %d ok lines\n%s%s", path, code, wantTests, out, errOut)
	}
}

func TestImportAutoReplyDocSample(t *testing.T) {
	fake, env := newAPIFake(t) // the fake answers the documentation's sample
	data, out, dir := importFile(t, fake, env, "autoreply")
	for _, want := range []string{
		"imported 5 rules with 5 tests into " + filepath.Join(dir, "autoreply.yaml") + "; 1 left as comments\n",
		"autoreply-video: reply 1 not carried over: a video given as a download link",
		"1 image/voice/video media id from the console expire in 3 days",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"  - name: 'console: subscribe'\n    on: subscribe\n",
		// contain → text.contains
		"    text:\n      contains:\n        - news测试\n",
		// reply_all: news of 1 article passive, the 2-article news as two kefu news
		"# reply_all: the first reply answers the message, the others follow as kefu messages in order",
		"      - kefu:\n          news:\n            - title: MULTI_NEWS\n              description: text\n",
		"      - kefu:\n          news:\n            - title: MULTI_NEWS4\n",
		// news articles keep title, digest, cover and URL
		"            - title: it's news\n              description: it's digest\n              url: http://mp.weixin.qq.com/s?__biz=MjM5ODUwNTM3Ng==&mid=203929886&idx=1&sn=628f964cf0c6d84c026881b6959aea8b#rd\n              pic_url: http://mmbiz.qpic.cn/mmbiz/GE7et87vE9vicuCibqXsX9GPPLuEtBfXfKbE8sWdt2DDcL0dMfQWJWTVn1N8DxI0gcRmrtqBOuwQHeuPKmFLK0ZQ/0\n",
		"          voice:\n            media_id: NESsxgHEvAcg3egJTtYj4uG1PTL6iPhratdWKDLAXYErhN6oEEfMdVyblWtBY5vp\n",
		// the video (a download link) is a comment, the rule too
		"  # - name: autoreply-video\n  #   on: text\n  #   text:\n  #     exact:\n  #       - video测试\n",
		// the default reply: last, hourly, every message type
		"  - name: 'console: default reply'\n    on:\n      - text\n",
		"    priority: -1000\n    cooldown: 1h\n",
	} {
		if !strings.Contains(data, want) {
			t.Errorf("rules lack %q:\n%s", want, data)
		}
	}
	checkAndTest(t, filepath.Join(dir, "autoreply.yaml"), 5)
}

func TestImportAutoReplyConsoleSample(t *testing.T) {
	fake, env := newAPIFake(t)
	fake.Answer(wechattest.PathAutoReplyInfo, wechattest.AutoReplyConsole)
	data, out, dir := importFile(t, fake, env, "autoreply")
	path := filepath.Join(dir, "autoreply.yaml")
	for _, want := range []string{
		"imported 7 rules with 7 tests",
		`名片: reply 1 not carried over: type "card" (content "CARD_ID") has no counterpart in wxbot`,
		"the default reply to messages (消息自动回复): switched off in the console, imported with enabled: false",
		"3 image/voice/video media ids from the console expire in 3 days",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		// img → image
		"  - name: 'console: subscribe'\n    on: subscribe\n    actions:\n      - reply:\n          image:\n            media_id: SUBSCRIBE_IMG_MEDIA_ID_",
		// two keywords, equal and contain, stay one rule; random_one over texts is a list
		"  - name: 价格\n    on: text\n    text:\n      exact:\n        - 价格\n      contains:\n        - 多少钱\n    actions:\n      - reply:\n          text:\n            - 标准版 99 元\n            - 标准版 99 元, 专业版 199 元\n",
		// reply_all: text passive, then img and news as kefu, in order
		"      - reply:\n          text:\n            - 广州市天河区 1 号\n      - kefu:\n          image:\n            media_id: MAP_IMG_MEDIA_ID_",
		"      - kefu:\n          news:\n            - title: 交通指南\n              description: 地铁 3 号线\n",
		// random_one over mixed types: a rule per reply, by bucket
		"    when: bucket(event.msg_id, 2) == 0\n",
		"  - name: 惊喜 (2)\n",
		// the unknown type is a comment, the rest of the rule stays
		"  # reply 1 not carried over: type \"card\"",
		// the switched-off default reply
		"    enabled: false\n",
		// "${" in console text is literal
		"收到, 我们会尽快回复 ($${不是模板})",
	} {
		if !strings.Contains(data, want) {
			t.Errorf("rules lack %q:\n%s", want, data)
		}
	}
	checkAndTest(t, path, 7)
	// The test of each keyword proves the import: every keyword has one.
	loaded, err := rules.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tc := range loaded.Tests {
		seen[tc.Event.Content] = true
	}
	for _, kw := range []string{"价格", "多少钱", "地址", "惊喜", "名片"} {
		if !seen[kw] {
			t.Errorf("no test for keyword %q", kw)
		}
	}
}

func TestImportAutoReplyToStdoutAndRefusals(t *testing.T) {
	fake, env := newAPIFake(t)
	out, errOut, code := runCmd(env, "import", "autoreply")
	if code != 0 || !strings.HasPrefix(out, "# Imported by wxbot import autoreply") || !strings.Contains(errOut, "imported 5 rules") {
		t.Errorf("to stdout: exit %d\n%s\n---\n%s", code, out, errOut)
	}
	if _, err := rules.Parse("stdout.yaml", []byte(out)); err != nil {
		t.Errorf("stdout does not parse: %v", err)
	}
	// An existing file is not overwritten, and no call is made.
	dir := writeFiles(t, map[string]string{"rules.yaml": "keep me"})
	before := len(fake.Calls(""))
	_, errOut, code = runCmd(env, "import", "autoreply", "--out", filepath.Join(dir, "rules.yaml"))
	if code != 2 || !strings.Contains(errOut, "exists") || len(fake.Calls("")) != before {
		t.Errorf("existing file: exit %d, %q", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "rules.yaml")); string(b) != "keep me" {
		t.Errorf("overwritten: %q", b)
	}
	_, errOut, code = runCmd(env, "import", "menus")
	if code != 2 || !strings.Contains(errOut, `unknown import "menus"`) {
		t.Errorf("unknown kind: exit %d, %q", code, errOut)
	}
	fake.FailNext(wechattest.PathAutoReplyInfo, 48001)
	_, errOut, code = runCmd(env, "import", "autoreply")
	if code != 1 || !strings.Contains(errOut, "errcode 48001") {
		t.Errorf("API error: exit %d, %q", code, errOut)
	}
}

func TestImportMenuConsoleSample(t *testing.T) {
	fake, env := newAPIFake(t) // the documentation's console menu
	data, out, dir := importFile(t, fake, env, "menu")
	rulesPath := filepath.Join(dir, "menu-rules.yaml")
	if !strings.Contains(out, "imported the menu into "+filepath.Join(dir, "menu.yaml")+"; 4 rules for console-only buttons (with 4 tests) into "+rulesPath+", 1 left as comments") {
		t.Errorf("summary:\n%s", out)
	}
	// sub_button.list became sub_button; view keeps its url; console
	// buttons are click buttons with generated keys.
	for _, want := range []string{
		"button:\n  - name: button\n    sub_button:\n      - type: view\n        name: view_url\n        url: http://www.qq.com\n",
		"      - type: click\n        name: news\n        key: IMPORTED_1_2\n",
		"      - type: click\n        name: video\n        key: IMPORTED_1_3\n",
		"  - type: click\n    name: text\n    key: IMPORTED_2\n",
		"  - type: click\n    name: photo\n    key: IMPORTED_3\n",
		`# button[0].sub_button[1] "news": console news button → click IMPORTED_1_2, answered by the rule "menu: news"`,
	} {
		if !strings.Contains(data, want) {
			t.Errorf("menu lacks %q:\n%s", want, data)
		}
	}
	m, _, err := readMenuFile(filepath.Join(dir, "menu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if errs := m.Validate(); len(errs) > 0 {
		t.Errorf("the imported menu is invalid: %v", errs)
	}
	rb, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// news_info: a click is no user message, the articles stay one reply
		"    key: IMPORTED_1_2\n    actions:\n      - reply:\n          news:\n            - title: MULTI_NEWS\n",
		"            - title: MULTI_NEWS1\n",
		"    key: IMPORTED_2\n    actions:\n      - reply:\n          text:\n            - This is text!\n",
		"          image:\n            media_id: ax5Whs5dsoomJLEppAvftBUuH7CgXCZGFbFJifmbUjnQk_ierMHY99Y5d2Cv14RD\n",
		"  # - name: 'menu: video'\n",
	} {
		if !strings.Contains(string(rb), want) {
			t.Errorf("menu rules lack %q:\n%s", want, rb)
		}
	}
	checkAndTest(t, rulesPath, 4)
	// menu push (dry run) finds every key answered but the video's.
	o, e, code := runCmd(nil, "menu", "push", filepath.Join(dir, "menu.yaml"), "--rules", rulesPath, "--dry-run")
	if code != 0 || !strings.Contains(o, "4 of 5 button keys answered") || !strings.Contains(o, `with key "IMPORTED_1_3"`) {
		t.Errorf("menu push --dry-run: exit %d\n%s%s", code, o, e)
	}
}

func TestImportMenuAPISample(t *testing.T) {
	fake, env := newAPIFake(t)
	fake.Answer(wechattest.PathSelfMenuInfo, wechattest.SelfMenuAPI)
	data, out, dir := importFile(t, fake, env, "menu")
	want := "button:\n  - type: click\n    name: 今日歌曲\n    key: V1001_TODAY_MUSIC\n  - name: 菜单\n    sub_button:\n      - type: view\n        name: 搜索\n        url: http://www.soso.com/\n"
	if !strings.Contains(data, want) {
		t.Errorf("menu lacks %q:\n%s", want, data)
	}
	if strings.Contains(out, "rules for console-only") {
		t.Errorf("summary: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "menu-rules.yaml")); !os.IsNotExist(err) {
		t.Errorf("a rules file was written for an API menu: %v", err)
	}
}

// TestImportAutoReplyOverlap: when an earlier rule catches a later rule's
// keyword, the file is written but the import says which test fails.
func TestImportAutoReplyOverlap(t *testing.T) {
	fake, env := newAPIFake(t)
	fake.Answer(wechattest.PathAutoReplyInfo, `{"is_add_friend_reply_open":0,"is_autoreply_open":0,
	 "keyword_autoreply_info":{"list":[
	  {"rule_name":"any price","reply_mode":"reply_all","keyword_list_info":[{"type":"text","match_mode":"contain","content":"价"}],"reply_list_info":[{"type":"text","content":"a"}]},
	  {"rule_name":"price","reply_mode":"reply_all","keyword_list_info":[{"type":"text","match_mode":"equal","content":"价格"}],"reply_list_info":[{"type":"text","content":"b"}]}]}}`)
	out := filepath.Join(t.TempDir(), "rules.yaml")
	_, errOut, code := runCmd(env, "import", "autoreply", "--out", out)
	if code != 1 || !strings.Contains(errOut, `test "price: 价格" failed: rules: got [any price], want [price]`) {
		t.Errorf("exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the file was not written: %v", err)
	}
}

// TestImportAnswerTooLarge: an answer over what the client reads (8 MiB)
// is said to be too large, with its size when the server gives it, and
// what to check; never "not JSON".
func TestImportAnswerTooLarge(t *testing.T) {
	big := `{"is_autoreply_open":1,"keyword_autoreply_info":{"list":[{"rule_name":"` + strings.Repeat("x", 9<<20) + `"}]}}`
	tests := []struct {
		name          string
		contentLength bool
		want          string
	}{
		{"with its length", true, fmt.Sprintf("the answer is %d bytes (9.0 MiB), over the 8 MiB", len(big))},
		{"streamed", false, "the answer is over the 8 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env := newAPIFake(t)
			fake.Handle(wechattest.PathAutoReplyInfo, func(w http.ResponseWriter, r *http.Request) {
				if tt.contentLength {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				}
				io.WriteString(w, big)
			})
			_, errOut, code := runCmd(env, "import", "autoreply")
			if code != 1 || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "--api-base") || strings.Contains(errOut, "not JSON") {
				t.Errorf("exit %d, %q\nwant exit 1 with %q and what to check (--api-base)", code, errOut, tt.want)
			}
			noSecret(t, errOut)
		})
	}
}
