package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// TestEveryPushKindBecomesAnEvent decodes every real sample in
// engine/wechat/testdata/push and checks the event rules see: the type and
// the fields the README documents for that kind, reached through expr as a
// rule would.
func TestEveryPushKindBecomesAnEvent(t *testing.T) {
	want := map[string]map[string]any{
		"text.xml":                         {"type": "text", "content": "你好，请问营业时间？", "msg_id": "24801004976846051"},
		"text_bizmsgmenuid.xml":            {"type": "text"},
		"image.xml":                        {"type": "image"},
		"voice.xml":                        {"type": "voice", "format": "amr", "recognition": "腾讯微信团队"},
		"video.xml":                        {"type": "video"},
		"shortvideo.xml":                   {"type": "shortvideo"},
		"location.xml":                     {"type": "location", "location.lat": 23.134521, "location.label": "位置信息"},
		"link.xml":                         {"type": "link", "link.url": "https://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&mid=2650765011&idx=1"},
		"cdata_numbers.xml":                {},
		"event_subscribe.xml":              {"type": "subscribe", "key": ""},
		"event_subscribe_qrscene.xml":      {"type": "subscribe", "key": "123123", "raw.EventKey": "qrscene_123123"},
		"event_unsubscribe.xml":            {"type": "unsubscribe"},
		"event_SCAN.xml":                   {"type": "scan", "key": "SCENE_VALUE", "ticket": "TICKET"},
		"event_LOCATION.xml":               {"type": "location_report", "location.lat": 23.137466},
		"event_CLICK.xml":                  {"type": "click"},
		"event_VIEW.xml":                   {"type": "view"},
		"event_scancode_push.xml":          {"type": "scancode_push", "key": "6", "scan.result": "1"},
		"event_scancode_waitmsg.xml":       {"type": "scancode_waitmsg"},
		"event_pic_sysphoto.xml":           {"type": "pic_sysphoto"},
		"event_pic_photo_or_album.xml":     {"type": "pic_photo_or_album"},
		"event_pic_weixin.xml":             {"type": "pic_weixin"},
		"event_location_select.xml":        {"type": "location_select", "location.lat": 23.0, "location.label": "广州市海珠区客村艺苑路 106号"},
		"event_view_miniprogram.xml":       {"type": "view_miniprogram"},
		"event_kf_create_session.xml":      {"type": "kf_create_session"},
		"event_kf_close_session.xml":       {"type": "kf_close_session"},
		"event_kf_switch_session.xml":      {"type": "kf_switch_session"},
		"event_TEMPLATESENDJOBFINISH.xml":  {"type": "templatesendjobfinish"},
		"event_MASSSENDJOBFINISH.xml":      {"type": "masssendjobfinish"},
		"event_user_pay_from_pay_cell.xml": {"type": "user_pay_from_pay_cell"},
	}
	files, _ := filepath.Glob("wechat/testdata/push/*.xml")
	if len(files) < len(want) {
		t.Fatalf("%d samples, want at least %d", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			fields, ok := want[name]
			if !ok {
				t.Fatalf("a sample without expectations: add it to this table")
			}
			body, _ := os.ReadFile(f)
			m, err := wechat.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			ev := EventFromMessage(m, time.UTC)
			ev.Raw = rawFields(m)
			if ev.ID == "" || ev.From == "" || ev.Time.IsZero() {
				t.Errorf("id %q from %q time %v", ev.ID, ev.From, ev.Time)
			}
			env := newEnv(ev, nil, time.Now, time.UTC)
			for path, v := range fields {
				src := "event." + path
				if strings.HasPrefix(path, "raw.") {
					src = `event.raw["` + strings.TrimPrefix(path, "raw.") + `"]`
				}
				var cond string
				switch x := v.(type) {
				case string:
					cond = src + ` == "` + strings.ReplaceAll(x, `"`, `\"`) + `"`
				case float64:
					cond = src + ` == ` + stringify(x)
				}
				p, err := CompileCondition(cond)
				if err != nil {
					t.Fatalf("%s: %v", cond, err)
				}
				if ok, err := EvalCondition(p, env); !ok || err != nil {
					t.Errorf("%s is false (%v)", cond, err)
				}
			}
		})
	}
}
