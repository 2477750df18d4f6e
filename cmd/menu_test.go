package cmd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/engine/wechat"
)

// menuRules answer the keys of testMenu.
const menuRules = `version: 1
rules:
  - name: kf
    on: click
    key: ONLINE_KF
    actions:
      - transfer: {}
  - name: scan
    on: [scancode_push]
    actions:
      - reply: {text: "scanned"}
  - name: photo
    on: "*"
    key: [PHOTO]
    actions:
      - reply: {text: "photo"}
`

const testMenu = `# a test menu
button:
  - type: click
    name: 客服
    key: ONLINE_KF
  - name: 工具
    sub_button:
      - type: scancode_push
        name: 扫一扫
        key: SCAN_ANY
      - type: pic_weixin
        name: 发图
        key: PHOTO
      - type: view
        name: 官网
        url: https://example.com/?a=1&b=2
`

// writeFiles writes name → content into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMenuPush(t *testing.T) {
	fake, env := newAPIFake(t)
	dir := writeFiles(t, map[string]string{"menu.yaml": testMenu, "rules.yaml": menuRules})
	file := filepath.Join(dir, "menu.yaml")
	out, errOut, code := runCmd(env, "menu", "push", file, "--rules", filepath.Join(dir, "rules.yaml"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "warning") || !strings.Contains(out, "pushed "+file+": 2 buttons, 3 sub-buttons\n") ||
		!strings.Contains(out, "3 of 3 button keys answered") {
		t.Errorf("stdout:\n%s", out)
	}
	calls := fake.Calls("/cgi-bin/menu/create")
	if len(calls) != 1 || calls[0].Method != http.MethodPost {
		t.Fatalf("calls: %+v", calls)
	}
	want := `{"button":[{"type":"click","name":"客服","key":"ONLINE_KF"},{"name":"工具","sub_button":[` +
		`{"type":"scancode_push","name":"扫一扫","key":"SCAN_ANY"},{"type":"pic_weixin","name":"发图","key":"PHOTO"},` +
		`{"type":"view","name":"官网","url":"https://example.com/?a=1&b=2"}]}]}`
	if got := strings.TrimSpace(string(calls[0].Body)); got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
	// The body is the YAML, field for field.
	var fromYAML, sent wechat.Menu
	yaml.Unmarshal([]byte(testMenu), &fromYAML)
	json.Unmarshal(calls[0].Body, &sent)
	if !reflect.DeepEqual(fromYAML, sent) {
		t.Errorf("sent %+v\nYAML %+v", sent, fromYAML)
	}
	noSecret(t, out, errOut)
}

func TestMenuPushRefusesInvalidMenus(t *testing.T) {
	tests := []struct {
		name string
		menu string
		want string // stdout or stderr, with FILE for the path
	}{
		{"validation errors, positioned", `button:
  - type: click
    name: 客服
  - name: 工具
    sub_button:
      - type: clik
        name: x
        key: K
  - name: a
    type: view
    url: https://example.com
  - name: b
    type: view
    url: https://example.com
`, "FILE:2:3: menu: 4 top-level buttons: at most 3\n" +
			"FILE:2:5: button[0] \"客服\": click needs key\n" +
			"FILE:6:9: button[1].sub_button[0] \"x\": unknown type \"clik\" (known: click, view, miniprogram, scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album, pic_weixin, location_select, media_id, view_limited, article_id, article_view_limited)\n" +
			"FILE: 3 errors; nothing pushed\n"},
		{"unknown field", "button:\n  - type: click\n    name: a\n    key: K\n    sub_buttons: []\n",
			`FILE:5: unknown field "sub_buttons" (known: type, name, key, url, media_id, article_id, appid, pagepath, sub_button)`},
		{"unknown top-level field", "buttons: []\n", `FILE:1: unknown field "buttons" (known: button)`},
		{"not YAML", "button: [\n", "FILE:1: did not find expected node content"},
		{"empty", "# nothing\n", "FILE is empty: write the menu as button: [...]"},
		{"two documents", "button: []\n---\nbutton: []\n", "FILE holds more than one YAML document"},
		{"no buttons", "button: []\n", "FILE:1:9: menu: no buttons: a menu has 1-3 top-level buttons\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, env := newAPIFake(t)
			dir := writeFiles(t, map[string]string{"menu.yaml": tt.menu, "rules.yaml": menuRules})
			file := filepath.Join(dir, "menu.yaml")
			out, errOut, code := runCmd(env, "menu", "push", file)
			want := strings.ReplaceAll(tt.want, "FILE", file)
			if code != exitError || !strings.Contains(out+errOut, want) {
				t.Errorf("exit %d, output:\n%s%s\nwant exit 1 and:\n%s", code, out, errOut, want)
			}
			if n, f := len(fake.Calls("")), fake.TokenFetches(); n != 0 || f != 0 {
				t.Errorf("%d API calls and %d token fetches for an invalid menu, want none", n, f)
			}
		})
	}
}

func TestMenuPushKeyCheck(t *testing.T) {
	const unknownKeys = `button:
  - type: click
    name: 客服
    key: ONLINE_KFX
  - name: 工具
    sub_button:
      - type: location_select
        name: 位置
        key: WHERE
      - type: click
        name: 照片
        key: PHOTO
`
	dir := writeFiles(t, map[string]string{"menu.yaml": unknownKeys, "rules.yaml": menuRules, "broken.yaml": "version: 1\nrules: [{name: x}]\n"})
	file := filepath.Join(dir, "menu.yaml")
	rulesFile := filepath.Join(dir, "rules.yaml")
	warnings := file + `:2:5: warning: button[0] "客服": no rule in ` + rulesFile + ` answers click with key "ONLINE_KFX" (add one with on: click, key: ONLINE_KFX)` + "\n" +
		file + `:7:9: warning: button[1].sub_button[0] "位置": no rule in ` + rulesFile + ` answers location_select with key "WHERE" (add one with on: location_select, key: WHERE)` + "\n" +
		file + ": 1 of 3 button keys answered by rules in " + rulesFile + "\n"

	t.Run("warnings, then push", func(t *testing.T) {
		fake, env := newAPIFake(t)
		out, errOut, code := runCmd(env, "menu", "push", file, "--rules", rulesFile)
		if code != 0 || !strings.HasPrefix(out, warnings) {
			t.Errorf("exit %d, stdout:\n%s%s\nwant exit 0 and:\n%s", code, out, errOut, warnings)
		}
		if n := len(fake.Calls("/cgi-bin/menu/create")); n != 1 {
			t.Errorf("%d pushes, want 1", n)
		}
	})
	t.Run("--strict refuses", func(t *testing.T) {
		fake, env := newAPIFake(t)
		env["WXBOT_RULES"] = rulesFile // the env var works too
		out, _, code := runCmd(env, "menu", "push", file, "--strict")
		want := strings.ReplaceAll(warnings, "warning: ", "")
		want = want[:strings.LastIndex(want[:len(want)-1], "\n")+1] + file + ": 2 keys without a rule; nothing pushed (--strict)\n"
		if code != exitError || out != want {
			t.Errorf("exit %d, stdout:\n%s\nwant exit 1 and:\n%s", code, out, want)
		}
		if n := len(fake.Calls("")); n != 0 {
			t.Errorf("%d calls under --strict, want 0", n)
		}
	})
	t.Run("rules that do not load: warn and push", func(t *testing.T) {
		fake, env := newAPIFake(t)
		out, _, code := runCmd(env, "menu", "push", file, "--rules", filepath.Join(dir, "nope.yaml"))
		if code != 0 || !strings.Contains(out, file+": warning: button keys not checked: rules: stat ") {
			t.Errorf("exit %d, stdout:\n%s", code, out)
		}
		if n := len(fake.Calls("/cgi-bin/menu/create")); n != 1 {
			t.Errorf("%d pushes, want 1", n)
		}
	})
	t.Run("rules with errors under --strict", func(t *testing.T) {
		fake, env := newAPIFake(t)
		broken := filepath.Join(dir, "broken.yaml")
		out, _, code := runCmd(env, "menu", "push", file, "--rules", broken, "--strict")
		want := file + ": cannot check the button keys: the rules in " + broken + " have "
		if code != exitError || !strings.Contains(out, want) || !strings.Contains(out, "(see: wxbot check "+broken+")") ||
			!strings.Contains(out, "nothing pushed (--strict needs the rules: set --rules)") {
			t.Errorf("exit %d, stdout:\n%s\nwant exit 1 and %q", code, out, want)
		}
		if n := len(fake.Calls("")); n != 0 {
			t.Errorf("%d calls, want 0", n)
		}
	})
	t.Run("--dry-run calls nothing and needs no credentials", func(t *testing.T) {
		out, errOut, code := runCmd(nil, "menu", "push", file, "--rules", rulesFile, "--dry-run")
		if code != 0 || !strings.Contains(out, "valid: 2 buttons, 2 sub-buttons; not pushed (--dry-run)") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
}

func TestMenuGet(t *testing.T) {
	fake, env := newAPIFake(t)
	fake.Answer("/cgi-bin/menu/get", `{"menu":{"button":[
		{"type":"click","name":"客服","key":"ONLINE_KF","sub_button":[]},
		{"name":"工具","sub_button":[
			{"type":"scancode_push","name":"扫一扫","key":"SCAN_ANY","sub_button":[]},
			{"type":"pic_weixin","name":"发图","key":"PHOTO","sub_button":[]},
			{"type":"view","name":"官网","url":"https://example.com/?a=1&b=2","sub_button":[]}]}],
		"menuid":100},"conditionalmenu":[]}`)
	out, errOut, code := runCmd(env, "menu", "get")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "# the custom menu of " + apiTestAppID + "; wxbot menu push reads this format\n" + strings.TrimPrefix(testMenu, "# a test menu\n")
	if out != want {
		t.Errorf("menu get:\n%s\nwant:\n%s", out, want)
	}
	if c := fake.Calls("/cgi-bin/menu/get"); len(c) != 1 || c[0].Method != http.MethodGet {
		t.Errorf("calls: %+v", c)
	}
	// What get prints, push takes back.
	dir := writeFiles(t, map[string]string{"menu.yaml": out, "rules.yaml": menuRules})
	out2, _, code := runCmd(env, "menu", "push", filepath.Join(dir, "menu.yaml"), "--rules", filepath.Join(dir, "rules.yaml"), "--strict")
	if code != 0 {
		t.Fatalf("pushing get's output: exit %d\n%s", code, out2)
	}
	var got, orig wechat.Menu
	json.Unmarshal(fake.Calls("/cgi-bin/menu/create")[0].Body, &got)
	yaml.Unmarshal([]byte(testMenu), &orig)
	if !reflect.DeepEqual(got, orig) {
		t.Errorf("round trip: %+v\nwant %+v", got, orig)
	}

	fake.FailNext("/cgi-bin/menu/get", 46003)
	out, _, code = runCmd(env, "menu", "get")
	if code != 0 || !strings.HasPrefix(out, "# no menu") {
		t.Errorf("46003: exit %d, %q; want exit 0 and no menu", code, out)
	}
	var empty wechat.Menu
	if err := yaml.Unmarshal([]byte(out), &empty); err != nil {
		t.Errorf("the no-menu output is not YAML: %v", err)
	}

	fake.FailNext("/cgi-bin/menu/get", 40164)
	_, errOut, code = runCmd(env, "menu", "get")
	if code != exitError || !strings.Contains(errOut, "wxbot menu: getting the menu: wechat api /cgi-bin/menu/get: errcode 40164") ||
		!strings.Contains(errOut, "IP whitelist") {
		t.Errorf("40164: exit %d, %q", code, errOut)
	}
}

func TestMenuDelete(t *testing.T) {
	fake, env := newAPIFake(t)
	out, errOut, code := runCmd(env, "menu", "delete", "--yes")
	if code != 0 || out != "deleted the custom menu (conditional menus too)\n" {
		t.Errorf("exit %d, %q %q", code, out, errOut)
	}
	if c := fake.Calls("/cgi-bin/menu/delete"); len(c) != 1 || c[0].Method != http.MethodGet {
		t.Errorf("calls: %+v", c)
	}
	fake.FailNext("/cgi-bin/menu/delete", 48001)
	_, errOut, code = runCmd(env, "menu", "delete", "--yes")
	if code != exitError || !strings.Contains(errOut, "check 接口权限 in the console") {
		t.Errorf("48001: exit %d, %q", code, errOut)
	}
}

func TestMenuUsageErrors(t *testing.T) {
	fake, env := newAPIFake(t)
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"menu"}, env, "menu needs a subcommand: push FILE, get or delete"},
		{[]string{"menu", "show"}, env, `unknown subcommand "show" (known: push, get, delete)`},
		{[]string{"menu", "push"}, env, "usage: wxbot menu push FILE"},
		{[]string{"menu", "get", "x"}, env, `menu get takes no arguments, got ["x"]`},
		{[]string{"menu", "delete", "--yes"}, nil, "--appid and --secret (or WXBOT_APPID and WXBOT_SECRET) are required"},
	}
	for _, tt := range tests {
		_, errOut, code := runCmd(tt.env, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
	if n := len(fake.Calls("")); n != 0 {
		t.Errorf("%d calls, want 0", n)
	}
}

// TestExampleMenu keeps examples/menu.yaml valid and its keys answered by
// examples/rules.yaml.
func TestExampleMenu(t *testing.T) {
	fake, env := newAPIFake(t)
	out, errOut, code := runCmd(env, "menu", "push", "../examples/menu.yaml", "--rules", "../examples/rules.yaml", "--strict")
	if code != 0 || strings.Contains(out, "warning") || !strings.Contains(out, "4 of 4 button keys answered") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	data, _ := os.ReadFile("../examples/menu.yaml")
	var want wechat.Menu
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	var sent wechat.Menu
	json.Unmarshal(fake.Calls("/cgi-bin/menu/create")[0].Body, &sent)
	if !reflect.DeepEqual(sent, want) {
		t.Errorf("sent %+v\nwant %+v", sent, want)
	}
	// Without --rules, the rules.yaml beside the menu is used.
	out, _, code = runCmd(nil, "menu", "push", "../examples/menu.yaml", "--dry-run", "--strict")
	if code != 0 || !strings.Contains(out, "answered by rules in ../examples/rules.yaml") {
		t.Errorf("rules beside the menu: exit %d\n%s", code, out)
	}
}
