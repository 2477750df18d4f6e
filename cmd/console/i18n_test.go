package console

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
)

// Every key is in both languages, and takes as many arguments in both: a
// text missing in one would show the English one (or the key) there.
func TestCatalogLanguagesMatch(t *testing.T) {
	for l, msgs := range catalog {
		for other, otherMsgs := range catalog {
			for k := range msgs {
				if _, ok := otherMsgs[k]; !ok {
					t.Errorf("%q is in %s, not in %s", k, l, other)
				}
			}
		}
	}
	verbs := regexp.MustCompile(`%(\[\d+\])?[-+# 0]*[a-zA-Z]`)
	for k, en := range msgEN {
		n := len(verbs.FindAllString(strings.ReplaceAll(en, "%%", ""), -1))
		args := make([]any, n)
		for i := range args {
			args[i] = anyVerb{}
		}
		for l, msgs := range catalog {
			if msgs[k] == "" {
				t.Errorf("%s: %q is empty", l, k)
				continue
			}
			if n > 0 && strings.Contains(fmt.Sprintf(msgs[k], args...), "%!") {
				t.Errorf("%s: %q does not take the %d arguments the English text takes: %q", l, k, n, msgs[k])
			}
		}
	}
}

// anyVerb formats with every verb: the check is on the count of
// arguments, not their types.
type anyVerb struct{}

func (anyVerb) Format(f fmt.State, _ rune) { fmt.Fprint(f, "x") }

// Every key the templates and the code ask for is in the catalog (the
// keys built at run time, "nav."+page and "type."+type, are checked by
// the pages' tests).
func TestCatalogHasEveryKeyUsed(t *testing.T) {
	uses := regexp.MustCompile(`(?:\{\{-?\s*t|\(t|\bt\()\s*"([^"]+)"`)
	files, _ := filepath.Glob("templates/*.html")
	gofiles, _ := filepath.Glob("*.go")
	seen := 0
	for _, f := range append(files, gofiles...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range uses.FindAllStringSubmatch(string(data), -1) {
			if strings.HasSuffix(m[1], ".") {
				continue // a prefix: "nav."+page
			}
			seen++
			if _, ok := msgEN[m[1]]; !ok {
				t.Errorf("%s: %q is not in the catalog", f, m[1])
			}
		}
	}
	if seen < 100 {
		t.Errorf("found %d uses of the catalog: the pattern misses them", seen)
	}
}

// By default every page is in Chinese, and no English word of the UI is
// left on it.
func TestPagesSpeakChinese(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Lang = "" })
	b := h.browser()
	code, body, _ := b.do("GET", "/login", nil)
	if code != http.StatusOK {
		t.Fatalf("log-in page: %d", code)
	}
	checkChinese(t, "login", body, `lang="zh-CN"`, "登录", "用户名", "密码", "没有账号？")
	code, body, _ = b.tryLogin(url.Values{"name": {"alice"}, "password": {"wrong-password"}})
	if code != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", code)
	}
	checkChinese(t, "a wrong password", body, "用户名或密码错误", "未通过")
	b.login("alice")
	tests := []struct {
		path string
		want []string
	}{
		{"/menu", []string{"自定义菜单", "关键词回复", "模拟对话", "运行情况", "退出登录", "还没有菜单", "添加菜单", "测试", "发布", "放弃修改", "一个汉字占 3 字节"}},
		{"/keywords", []string{"<h1>关键词回复", "全匹配", "半匹配", "添加关键词回复", "还没有关键词回复"}},
		{"/try", []string{"<h1>模拟对话", "像粉丝一样", "发送", "关注公众号", "清空对话", "公众号"}},
		{"/activity", []string{"<h1>运行情况", "最近一次加载", "线上运行的规则就是磁盘上的文件", "命中次数", "客服消息发送队列", "人工客服", "最近发布", "暂无"}},
	}
	for _, tt := range tests {
		code, body, _ := b.do("GET", tt.path, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", tt.path, code, body)
		}
		checkChinese(t, tt.path, body, tt.want...)
	}
	// The console's own refusals and notices are in Chinese too.
	_, body = b.post("/menu", url.Values{"op": {"add"}})
	checkChinese(t, "a new button", body, "发送消息（click）", "回复内容", "添加子菜单")
	_, body = b.post("/menu", publishForm("优惠", "PROMO", " "))
	checkChinese(t, "an empty reply", body, "未通过，没有做任何修改。", "菜单「优惠」：回复文字为空")
	_, body = b.post("/menu", publishForm("优惠", "PROMO", "本周优惠"))
	checkChinese(t, "published", body, "已发布：机器人现在按新内容回复。", "菜单已推送到微信")
	_, body = b.post("/try", url.Values{"tap": {"click:PROMO"}})
	checkChinese(t, "a tap", body, "（点击菜单「优惠」）", "本周优惠", "命中：")
}

// checkChinese fails unless page has every one of want and none of the
// console's English words.
func checkChinese(t *testing.T, what, page string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("%s: no %q on the page", what, w)
		}
	}
	for _, en := range []string{"Publish", "Log in", "Log out", "Keywords", "Menu", "Activity", "Try it", "Discard", "Delete",
		"Refused", "Response", "Test results", "Send", "Name", "Password", "Wrong", " bytes", "Button", "Official Account",
		"Last reload", "Kefu outbox", "Requeue", "matched", "lang=\"en\""} {
		if strings.Contains(page, en) {
			t.Errorf("%s: the English %q is on the Chinese page", what, en)
		}
	}
}

// --console-lang en: the same pages in English.
func TestPagesSpeakEnglish(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser()
	b.login("alice")
	for path, want := range map[string]string{"/menu": "<h1>Menu", "/keywords": "<h1>Keywords", "/try": "<h1>Try it", "/activity": "<h1>Activity"} {
		if _, body, _ := b.do("GET", path, nil); !strings.Contains(body, want) || !strings.Contains(body, `lang="en"`) || strings.Contains(body, "自定义菜单") {
			t.Errorf("%s in English:\n%s", path, body)
		}
	}
}

func TestConfigLang(t *testing.T) {
	h := newHarness(t, nil)
	cfg := h.srv.cfg
	cfg.Lang = "fr"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "zh-CN, en") {
		t.Errorf("Lang fr: %v", err)
	}
}

// Every button type the menu editor offers has a name in the catalog.
func TestCatalogNamesEveryButtonType(t *testing.T) {
	for _, typ := range wechat.ButtonTypes {
		if _, ok := msgEN["type."+typ]; !ok {
			t.Errorf("no name for the button type %s", typ)
		}
	}
}
