package cmd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// The console in a real browser: Debian's chromium, headless, driven over
// the DevTools protocol. One browser and one bot for the whole walk-through.

const browserRules = `version: 1
rules:
  - name: welcome
    on: subscribe
    actions:
      - reply: {text: "欢迎关注!"}
  - name: human
    on: click
    key: ONLINE_KF
    actions:
      - transfer: {kf_account: "test1@kftest"}
tests:
  - name: the kefu button transfers
    event: {type: click, key: ONLINE_KF}
    expect:
      reply: {type: transfer}
`

// findChromium is Debian's chromium; without it the test skips, except in
// CI, where .ci/run installs it and the test must run.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI=true needs the console's browser tests: .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium not found: install Debian's chromium (apt-get install -y chromium) to run the console's browser tests")
	return ""
}

// screenshotDir keeps the pages' screenshots after the test: the test's
// artifacts (WXBOT_SCREENSHOTS names the directory; the README's come
// from a run with WXBOT_SCREENSHOTS=examples/console).
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("WXBOT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "wxbot-console-screenshots")
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir) // relative to the repository, not to cmd/
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tab drives one browser tab against the console.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	pages []string // every page's HTML, to look for secrets
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval runs a JavaScript expression in the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds (a form's post
// navigates: the old page's evaluations fail and are tried again).
func (b *tab) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf("!window.__wxOld && document.readyState === 'complete' && !!(%s)", cond)))
		if err == nil && ok {
			html, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
			b.pages = append(b.pages, html)
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			b.t.Fatalf("waiting for %s (%s): %v\npage:\n%s", what, cond, err, body)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// press clicks a submit button and waits for the page it posts to, which
// must satisfy cond.
func (b *tab) press(sel, what, cond string) {
	b.t.Helper()
	eval[bool](b, "window.__wxOld = true")
	b.do("press "+sel, chromedp.Click(chromedp.CSS(sel)))
	b.waitFor(what, cond)
}

func (b *tab) open(path, cond string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
	b.waitFor(path, cond)
}

func (b *tab) typeIn(sel, text string) {
	b.t.Helper()
	eval[bool](b, fmt.Sprintf(`(document.querySelector(%q).value = "", true)`, sel))
	b.do("type in "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// choose picks an option as a user would: the change event runs the
// page's script, which shows the option's fields.
func (b *tab) choose(sel, value string) {
	b.t.Helper()
	b.do("choose "+value, chromedp.SetValue(chromedp.CSS(sel), value))
	eval[bool](b, fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event("change", {bubbles: true}))`, sel))
}

func (b *tab) text() string { return eval[string](b, "document.body.innerText") }

func (b *tab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// openTab starts a headless chromium of the test's own with one tab on
// base; it stops with the test.
func openTab(t *testing.T, chromium, base string) *tab {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return &tab{t: t, ctx: ctx, base: base, shots: screenshotDir(t)}
}

// consoleFiles makes a directory with a rules directory holding
// rulesText as rules.yaml, and a console users file with mia.
func consoleFiles(t *testing.T, rulesText, password string) (dir, rulesDir, users string) {
	t.Helper()
	dir = t.TempDir()
	rulesDir = filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)
	os.WriteFile(filepath.Join(rulesDir, "rules.yaml"), []byte(rulesText), 0o644)
	users = filepath.Join(dir, "console-users")
	if _, errOut, code := adduser(t, password+"\n", "mia", "--console-users", users); code != 0 {
		t.Fatal(errOut)
	}
	return dir, rulesDir, users
}

func has(s string) string { return fmt.Sprintf("document.body.innerText.includes(%q)", s) }

func TestConsoleInBrowser(t *testing.T) {
	chromium := findChromium(t)
	fake := wechattest.New("wxconsole00000001", "console-secret")
	defer fake.Close()
	dir, rulesDir, users := consoleFiles(t, browserRules, "marketer-password")
	consoleAddr := freeAddr(t)
	env := []string{"WXBOT_TOKEN=" + e2eToken, "WXBOT_APPID=wxconsole00000001", "WXBOT_SECRET=console-secret", "WXBOT_API_BASE=" + fake.URL}
	bot := startBot(t, env, "--rules", rulesDir, "--console-listen", consoleAddr, "--console-users", users)
	bot.waitLog(t, "console listening")

	b := openTab(t, chromium, "http://"+consoleAddr)

	// Log in.
	b.open("/login", `document.querySelector("input[name=name]")`)
	b.shot("login")
	b.typeIn("input[name=name]", "mia")
	b.typeIn("input[name=password]", "marketer-password")
	b.press("button[type=submit]", "the menu page", `document.getElementById("menu-form")`)

	// A button, its key and its response.
	b.press(`button[value="add"]`, "a new button", `document.querySelector("input[name='b0.name']")`)
	b.typeIn("input[name='b0.name']", "优惠活动专区") // 18 bytes: over WeChat's 16, refused as it is typed
	if !eval[bool](b, `document.querySelector("input[name='b0.name']").validity.customError`) || !strings.Contains(b.text(), "18 / 16 字节") {
		t.Fatalf("an 18-byte name was not flagged as it was typed:\n%s", b.text())
	}
	b.typeIn("input[name='b0.name']", "优惠")
	if got := eval[string](b, `document.querySelector(".phone .menubar .pv").textContent`); got != "优惠" {
		t.Errorf("the phone shows %q as the name is typed, want 优惠", got)
	}
	b.typeIn("input[name='b0.key']", "PROMO")
	b.choose("select[name='b0.r.kind']", "text")
	b.typeIn("textarea[name='b0.r.text']", "本周优惠: 满100减20")
	b.press("#test", "Test", has("测试通过"))
	b.press("#publish", "Publish", has("已发布")+" && "+has("菜单已推送到微信"))
	b.shot("menu")
	if calls := fake.Calls("/cgi-bin/menu/create"); len(calls) != 1 || !strings.Contains(string(calls[0].Body), `"key":"PROMO"`) {
		t.Fatalf("menu pushes: %+v", calls)
	}

	// Broken changes are refused with their reasons, and change nothing.
	published, _ := os.ReadFile(filepath.Join(rulesDir, "console.yaml"))
	b.typeIn("textarea[name='b0.r.text']", " ")
	b.press("#publish", "an empty reply refused", has("菜单「优惠」：回复文字为空"))
	b.shot("menu-refused")
	for range 5 {
		b.press(`button[value="addsub:b0"]`, "a sub-button", `document.querySelector("input[name='b0.s0.name']")`)
	}
	if !eval[bool](b, `document.querySelector('button[value="addsub:b0"]').disabled`) {
		t.Fatal("the + Sub-button button is enabled with 5 sub-buttons")
	}
	eval[bool](b, `document.querySelector('button[value="addsub:b0"]').disabled = false`) // as a stale page would post it
	b.press(`button[value="addsub:b0"]`, "a 6th sub-button refused", has("菜单「优惠」已有 5 个子菜单：微信最多允许 5 个"))
	if now, _ := os.ReadFile(filepath.Join(rulesDir, "console.yaml")); string(now) != string(published) || len(fake.Calls("/cgi-bin/menu/create")) != 1 {
		t.Fatal("a refused change reached the file or WeChat")
	}
	b.press("#discard", "discarded", has("已放弃修改"))

	// A keyword reply.
	b.open("/keywords", `document.getElementById("keywords-form")`)
	b.press("#add-keyword", "a keyword row", `document.querySelector("textarea[name='k0.words']")`)
	b.typeIn("textarea[name='k0.words']", "营业时间")
	b.typeIn("textarea[name='k0.r.text']", "每天 9:00-21:00 营业")
	b.press("#publish", "keywords published", has("已发布"))
	b.shot("keywords")

	// Try it: the new answers, offline.
	b.open("/try", `document.getElementById("chat")`)
	b.press(`button[name=tap][value="click:PROMO"]`, "a tap", has("满100减20")+" && "+has("console: 菜单 PROMO"))
	b.typeIn("#say", "营业时间")
	b.press("#send", "a message", has("每天 9:00-21:00 营业"))
	b.shot("try")
	b.do("phone viewport", chromedp.EmulateViewport(390, 844))
	b.shot("try-phone")
	b.open("/menu", `document.getElementById("menu-form")`)
	b.shot("menu-phone")
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 900))

	// The same answer to a real push on the callback.
	out, errOut, code := wxbot(t, env, "simulate", "--url", bot.url, "click", "PROMO")
	if code != 0 || !strings.Contains(out, "本周优惠: 满100减20") {
		t.Fatalf("simulate click PROMO: %d\n%s%s", code, out, errOut)
	}

	// Activity: the push's hit, the reload, the publishes.
	b.open("/activity", has("最近发布"))
	row := eval[string](b, `[...document.querySelectorAll("tr")].map(r => r.innerText).find(t => t.includes("console: 菜单 PROMO")) || ""`)
	if !strings.Contains(row, "\t1\t") || !strings.Contains(b.text(), "线上运行的规则就是磁盘上的文件") || !strings.Contains(b.text(), "mia") {
		t.Errorf("activity: row %q\n%s", row, b.text())
	}
	b.shot("activity")

	// News of two articles: the second added by the page's own button (a
	// post, no script needed), both published as the rules' news list.
	b.open("/menu", `document.getElementById("menu-form")`)
	b.choose("select[name='b0.r.kind']", "news")
	b.typeIn("input[name='b0.r.a0.title']", "本周新品")
	b.typeIn("input[name='b0.r.a0.url']", "https://example.com/new")
	b.press(`button[value="art-add:b0"]`, "a second article", `document.querySelector("input[name='b0.r.a1.title']")`)
	b.typeIn("input[name='b0.r.a1.title']", "会员日")
	b.typeIn("input[name='b0.r.a1.url']", "https://example.com/vip")
	b.press("#publish", "two articles published", has("已发布"))
	b.shot("menu-news")
	if got, _ := os.ReadFile(filepath.Join(rulesDir, "console.yaml")); !strings.Contains(string(got), "title: 本周新品") || !strings.Contains(string(got), "title: 会员日") {
		t.Fatalf("console.yaml after two articles:\n%s", got)
	}

	// An image uploaded from the page becomes permanent material, and its
	// media_id the reply.
	poster := filepath.Join(dir, "海报.png")
	os.WriteFile(poster, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"), 0o644)
	b.choose("select[name='b0.r.kind']", "image")
	b.do("choose a file", chromedp.SetUploadFiles(chromedp.CSS("input[name='b0.r.file']"), []string{poster}))
	b.press("#publish", "the image published", has("已发布"))
	b.shot("menu-image")
	ups := fake.Uploads()
	if len(ups) != 1 || !ups[0].Permanent || ups[0].Type != "image" || ups[0].Filename != "海报.png" {
		t.Fatalf("uploads %+v", ups)
	}
	if got := eval[string](b, `document.querySelector("input[name='b0.r.media']").value`); got != ups[0].MediaID {
		t.Errorf("the page shows media_id %q, want %s", got, ups[0].MediaID)
	}
	if got, _ := os.ReadFile(filepath.Join(rulesDir, "console.yaml")); !strings.Contains(string(got), "media_id: "+ups[0].MediaID) {
		t.Fatalf("console.yaml after the upload:\n%s", got)
	}

	// Unanswered: what no rule answered, and a keyword reply started
	// from it, published, answering it.
	for _, text := range []string{"发票", "发票", "营业时间"} {
		if out, errOut, code := wxbot(t, env, "simulate", "--url", bot.url, "text", text); code != 0 {
			t.Fatalf("simulate text %s: %d\n%s%s", text, code, out, errOut)
		}
	}
	b.open("/unanswered", has("发票"))
	if row := eval[string](b, `document.querySelector("#unanswered tbody tr").innerText`); !strings.HasPrefix(row, "发票\t2\t") || strings.Contains(b.text(), "营业时间") {
		t.Fatalf("unanswered: first row %q\n%s", row, b.text())
	}
	b.shot("unanswered")
	b.press(`#unanswered button[value="kw-new"]`, "a keyword reply for 发票", `document.querySelector("textarea[name='k1.words']")`)
	if got := eval[string](b, `document.querySelector("textarea[name='k0.words']").value`); got != "发票" {
		t.Fatalf("the new row's keyword is %q, want 发票 at the top", got)
	}
	b.typeIn("textarea[name='k0.r.text']", "请在小程序「开票」里申请")
	b.press("#publish", "the keyword for 发票 published", has("已发布"))
	if out, _, _ := wxbot(t, env, "simulate", "--url", bot.url, "text", "发票"); !strings.Contains(out, "请在小程序「开票」里申请") {
		t.Fatalf("发票 after the publish: %s", out)
	}
	b.open("/unanswered", has("现已由 console: 关键词 发票 (console.yaml:"))

	// Analytics: the charts, drawn on the server.
	b.open("/analytics", `document.querySelector("svg.chart")`)
	for _, w := range []string{"每日消息与事件", "热门文字", "热门菜单点击", "回复最多的规则", "AI 回答", "转人工客服"} {
		if !strings.Contains(b.text(), w) {
			t.Errorf("analytics: no %q", w)
		}
	}
	if n := eval[int](b, `document.querySelectorAll("svg.chart rect").length`); n < 30 {
		t.Errorf("analytics: %d bars, want a day's at least for 30 days", n)
	}
	if !eval[bool](b, `[...document.querySelectorAll("svg.rank title")].some(t => t.textContent === "发票: 3")`) {
		t.Errorf("analytics: 发票 is not among the top texts with 3")
	}
	b.shot("analytics")

	for _, html := range b.pages {
		// The console speaks Chinese by default: no page is in English.
		if !strings.Contains(html, `lang="zh-CN"`) || strings.Contains(html, ">Publish<") || strings.Contains(html, ">Log in<") {
			t.Fatalf("a page is not in Chinese:\n%s", html)
		}
		for _, secret := range []string{"console-secret", e2eToken, "marketer-password"} {
			if strings.Contains(html, secret) {
				t.Fatalf("a page shows the secret %q", secret)
			}
		}
	}
	t.Logf("screenshots in %s", b.shots)
}

// TestConsoleInBrowserEnglish: --console-lang en, every page in a real
// browser: English headings and buttons, no Chinese of the console's own
// (the operators' and followers' words stay as written).
func TestConsoleInBrowserEnglish(t *testing.T) {
	chromium := findChromium(t)
	_, rulesDir, users := consoleFiles(t, browserRules, "marketer-password")
	consoleAddr := freeAddr(t)
	env := []string{"WXBOT_TOKEN=" + e2eToken}
	bot := startBot(t, env, "--rules", rulesDir, "--console-listen", consoleAddr, "--console-users", users, "--console-lang", "en")
	bot.waitLog(t, "console listening")
	if out, errOut, code := wxbot(t, env, "simulate", "--url", bot.url, "text", "invoice"); code != 0 {
		t.Fatalf("simulate: %d\n%s%s", code, out, errOut)
	}
	b := openTab(t, chromium, "http://"+consoleAddr)
	b.open("/login", `document.querySelector("input[name=name]")`)
	b.typeIn("input[name=name]", "mia")
	b.typeIn("input[name=password]", "marketer-password")
	b.press("button[type=submit]", "the menu page", `document.getElementById("menu-form")`)
	pages := []struct{ path, want string }{
		{"/menu", "+ Button"}, {"/keywords", "+ Keyword reply"}, {"/try", "Send"},
		{"/unanswered", "Add a keyword reply"}, {"/analytics", "Messages and events a day"}, {"/activity", "Last reload"},
	}
	for _, p := range pages {
		b.open(p.path, has(p.want))
		text := b.text()
		for _, zh := range []string{"自定义菜单", "关键词回复", "发布", "未回复", "数据", "运行情况", "退出登录", "字节"} {
			if strings.Contains(text, zh) {
				t.Errorf("%s in English shows %q:\n%s", p.path, zh, text)
			}
		}
		if !eval[bool](b, `document.documentElement.lang === "en"`) {
			t.Errorf("%s: html lang is not en", p.path)
		}
	}
	b.open("/unanswered", has("invoice")) // a follower's word, listed as written
}
