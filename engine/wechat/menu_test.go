package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

func click(name, key string) wechat.Button { return wechat.Button{Type: "click", Name: name, Key: key} }

func parent(name string, subs ...wechat.Button) wechat.Button {
	return wechat.Button{Name: name, SubButtons: subs}
}

func menu(bs ...wechat.Button) *wechat.Menu { return &wechat.Menu{Buttons: bs} }

func TestMenuValidate(t *testing.T) {
	ok := click("今日歌曲", "V1001_TODAY_MUSIC")
	tests := []struct {
		name string
		menu *wechat.Menu
		want []string
	}{
		{"the documentation's example", &wechat.Menu{Buttons: []wechat.Button{
			ok,
			parent("菜单",
				wechat.Button{Type: "view", Name: "搜索", URL: "http://www.soso.com/"},
				wechat.Button{Type: "miniprogram", Name: "wxa", URL: "http://mp.weixin.qq.com", AppID: "wx286b93c14bbf93aa", PagePath: "pages/lunar/index"},
				click("赞一下我们", "V1001_GOOD")),
			parent("工具",
				wechat.Button{Type: "scancode_waitmsg", Name: "扫码带提示", Key: "rselfmenu_0_0"},
				wechat.Button{Type: "pic_photo_or_album", Name: "拍照或者相册发图", Key: "rselfmenu_1_1"},
				wechat.Button{Type: "location_select", Name: "发送位置", Key: "rselfmenu_2_0"},
				wechat.Button{Type: "article_id", Name: "图文", ArticleID: "ARTICLE_ID"}),
		}}, nil},
		{"every leaf type with its field", menu(
			parent("a",
				wechat.Button{Type: "scancode_push", Name: "s", Key: "k"},
				wechat.Button{Type: "pic_sysphoto", Name: "p", Key: "k"},
				wechat.Button{Type: "pic_weixin", Name: "w", Key: "k"},
				wechat.Button{Type: "media_id", Name: "m", MediaID: "MEDIA"},
				wechat.Button{Type: "view_limited", Name: "v", MediaID: "MEDIA"}),
			wechat.Button{Type: "article_view_limited", Name: "b", ArticleID: "ART"},
		), nil},
		{"nil menu", nil, []string{"menu: no buttons: a menu has 1-3 top-level buttons"}},
		{"no buttons", menu(), []string{"menu: no buttons: a menu has 1-3 top-level buttons"}},
		{"four top-level buttons", menu(ok, ok, ok, ok), []string{"menu: 4 top-level buttons: at most 3"}},
		{"six sub-buttons", menu(parent("p", ok, ok, ok, ok, ok, ok)), []string{`button[0] "p": 6 sub-buttons: at most 5`}},
		{"empty sub_button", menu(wechat.Button{Name: "p", SubButtons: []wechat.Button{}}),
			[]string{`button[0] "p": sub_button is empty: give it 1-5 buttons, or make this a leaf with a type`}},
		{"a parent has only name", menu(wechat.Button{Type: "click", Name: "p", Key: "K", SubButtons: []wechat.Button{ok}}),
			[]string{`button[0] "p": a button with sub_button has only name: remove type, key`}},
		{"three levels", menu(parent("p", parent("q", ok))),
			[]string{`button[0].sub_button[0] "q": a sub-button cannot have sub_button: menus are two levels deep`}},
		{"click needs key", menu(parent("菜单", ok, ok, click("赞一下", ""))),
			[]string{`button[0].sub_button[2] "赞一下": click needs key`}},
		{"view needs url", menu(wechat.Button{Type: "view", Name: "v"}), []string{`button[0] "v": view needs url`}},
		{"miniprogram needs url, appid, pagepath", menu(wechat.Button{Type: "miniprogram", Name: "m", URL: "https://example.com"}),
			[]string{`button[0] "m": miniprogram needs appid, pagepath`}},
		{"scancode needs key", menu(wechat.Button{Type: "scancode_push", Name: "s"}), []string{`button[0] "s": scancode_push needs key`}},
		{"pic needs key", menu(wechat.Button{Type: "pic_weixin", Name: "s"}), []string{`button[0] "s": pic_weixin needs key`}},
		{"location_select needs key", menu(wechat.Button{Type: "location_select", Name: "s"}), []string{`button[0] "s": location_select needs key`}},
		{"media_id needs media_id", menu(wechat.Button{Type: "media_id", Name: "s"}), []string{`button[0] "s": media_id needs media_id`}},
		{"view_limited needs media_id", menu(wechat.Button{Type: "view_limited", Name: "s"}), []string{`button[0] "s": view_limited needs media_id`}},
		{"article_id needs article_id", menu(wechat.Button{Type: "article_id", Name: "s"}), []string{`button[0] "s": article_id needs article_id`}},
		{"article_view_limited needs article_id", menu(wechat.Button{Type: "article_view_limited", Name: "s", Key: "x"}),
			[]string{`button[0] "s": article_view_limited needs article_id`}},
		{"blank key counts as missing", menu(click("c", "  ")), []string{`button[0] "c": click needs key`}},
		{"no type", menu(wechat.Button{Name: "t", Key: "K"}),
			[]string{`button[0] "t": needs a type (click, view, miniprogram, scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album, pic_weixin, location_select, media_id, view_limited, article_id, article_view_limited) or sub_button`}},
		{"unknown type", menu(wechat.Button{Type: "clik", Name: "t", Key: "K"}),
			[]string{`button[0] "t": unknown type "clik" (known: click, view, miniprogram, scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album, pic_weixin, location_select, media_id, view_limited, article_id, article_view_limited)`}},
		{"name required", menu(click("", "K")), []string{`button[0]: name is required`}},
		{"top-level name 16 bytes is fine", menu(click("一二三四五x", "K")), nil},
		{"top-level name 18 bytes", menu(click("一二三四五六", "K")),
			[]string{`button[0] "一二三四五六": name is 18 bytes, at most 16 for a top-level button (a 汉字 takes 3)`}},
		{"sub-button name 60 bytes is fine", menu(parent("p", click(strings.Repeat("字", 20), "K"))), nil},
		{"sub-button name 63 bytes", menu(parent("p", click(strings.Repeat("字", 21), "K"))),
			[]string{`button[0].sub_button[0] "` + strings.Repeat("字", 21) + `": name is 63 bytes, at most 60 for a sub-button (a 汉字 takes 3)`}},
		{"key 128 bytes is fine", menu(click("k", strings.Repeat("k", 128))), nil},
		{"key 129 bytes", menu(click("k", strings.Repeat("k", 129))), []string{`button[0] "k": key is 129 bytes, at most 128`}},
		{"url 1024 bytes is fine", menu(wechat.Button{Type: "view", Name: "u", URL: "https://e.com/" + strings.Repeat("u", 1010)}), nil},
		{"url 1025 bytes", menu(wechat.Button{Type: "view", Name: "u", URL: "https://e.com/" + strings.Repeat("u", 1011)}),
			[]string{`button[0] "u": url is 1025 bytes, at most 1024`}},
		{"every problem, in order", menu(ok, parent("菜单", click("赞一下", ""), wechat.Button{Type: "nope", Name: "x"}), ok, ok),
			[]string{
				"menu: 4 top-level buttons: at most 3",
				`button[1].sub_button[0] "赞一下": click needs key`,
				`button[1].sub_button[1] "x": unknown type "nope" (known: click, view, miniprogram, scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album, pic_weixin, location_select, media_id, view_limited, article_id, article_view_limited)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, err := range tt.menu.Validate() {
				var be *wechat.ButtonError
				if !errors.As(err, &be) {
					t.Errorf("%v is not a *ButtonError", err)
				}
				got = append(got, err.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMenuCreate(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	m := menu(click("客服", "ONLINE_KF"),
		parent("更多", wechat.Button{Type: "view", Name: "官网", URL: "https://example.com/?a=1&b=<2>"}))
	if err := c.MenuCreate(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls("/cgi-bin/menu/create")
	if len(calls) != 1 || calls[0].Method != http.MethodPost {
		t.Fatalf("calls: %+v", calls)
	}
	// & < > go as they are: WeChat rejects \u0026 with 40033.
	want := `{"button":[{"type":"click","name":"客服","key":"ONLINE_KF"},{"name":"更多","sub_button":[{"type":"view","name":"官网","url":"https://example.com/?a=1&b=<2>"}]}]}`
	if got := strings.TrimSpace(string(calls[0].Body)); got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}

	err := c.MenuCreate(context.Background(), menu(click("x", "")))
	if !errors.Is(err, wechat.ErrInvalidMenu) || !strings.Contains(err.Error(), `button[0] "x": click needs key`) {
		t.Errorf("invalid menu: err = %v", err)
	}
	if n := len(fake.Calls("")); n != 1 {
		t.Errorf("an invalid menu reached the API (%d calls)", n)
	}

	fake.FailNext("/cgi-bin/menu/create", 45064)
	err = c.MenuCreate(context.Background(), m)
	if code, _ := wechat.APICode(err); code != 45064 || !strings.Contains(err.Error(), "link it in the console") {
		t.Errorf("45064: err = %v", err)
	}
}

func TestMenuGet(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	fake.Answer("/cgi-bin/menu/get", `{"menu":{"button":[
		{"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC","sub_button":[]},
		{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"http://www.soso.com/","sub_button":[]}]}],
		"menuid":208396938},"conditionalmenu":[]}`)
	m, err := c.MenuGet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m)
	want := `{"button":[{"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"},{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"http://www.soso.com/"}]}]}`
	if string(got) != want {
		t.Errorf("MenuGet:\n got %s\nwant %s", got, want)
	}
	if errs := m.Validate(); len(errs) != 0 {
		t.Errorf("the menu WeChat returned does not validate: %v", errs)
	}
	if calls := fake.Calls("/cgi-bin/menu/get"); len(calls) != 1 || calls[0].Method != http.MethodGet {
		t.Errorf("calls: %+v", calls)
	}

	fake.FailNext("/cgi-bin/menu/get", 46003)
	if m, err := c.MenuGet(context.Background()); m != nil || err != nil {
		t.Errorf("46003: got %v, %v; want no menu and no error", m, err)
	}
	fake.FailNext("/cgi-bin/menu/get", 40164)
	if _, err := c.MenuGet(context.Background()); err == nil || !strings.Contains(err.Error(), "IP whitelist") {
		t.Errorf("40164: err = %v, want the IP whitelist hint", err)
	}
}

func TestMenuDelete(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	if err := c.MenuDelete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls := fake.Calls("/cgi-bin/menu/delete"); len(calls) != 1 || calls[0].Method != http.MethodGet || len(calls[0].Body) != 0 {
		t.Errorf("calls: %+v", calls)
	}
}

func TestButtonEvent(t *testing.T) {
	for typ, want := range map[string]string{
		"click": "click", "scancode_push": "scancode_push", "scancode_waitmsg": "scancode_waitmsg",
		"pic_sysphoto": "pic_sysphoto", "pic_photo_or_album": "pic_photo_or_album", "pic_weixin": "pic_weixin",
		"location_select": "location_select", "view": "", "miniprogram": "", "media_id": "", "article_id": "",
	} {
		if got := wechat.ButtonEvent(typ); got != want {
			t.Errorf("ButtonEvent(%q) = %q, want %q", typ, got, want)
		}
	}
}
