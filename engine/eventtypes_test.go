package engine

import (
	"slices"
	"testing"
	"time"
)

// TestEventTableHasEveryDocumentedType: every message type and event
// WeChat documents for Official Accounts (接收普通消息, 接收事件推送, the
// menu, kefu-session, template, mass-send, publish, subscribe-message and
// card/store events), lower case with LOCATION as location_report, and
// payment from WeChat Pay.
func TestEventTableHasEveryDocumentedType(t *testing.T) {
	documented := []string{
		"text", "image", "voice", "video", "shortvideo", "location", "link", "file",
		"subscribe", "unsubscribe", "scan", "location_report", "click", "view",
		"scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
		"location_select", "view_miniprogram", "templatesendjobfinish", "masssendjobfinish",
		"kf_create_session", "kf_close_session", "kf_switch_session",
		"subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event",
		"publishjobfinish", "user_pay_from_pay_cell", "card_pay_order", "merchant_order", "payment",
	}
	names := EventTypeNames()
	for _, d := range documented {
		if !slices.Contains(names, d) {
			t.Errorf("%s is missing from the event table", d)
		}
		if MetricLabel(d) != d {
			t.Errorf("MetricLabel(%q) = %q", d, MetricLabel(d))
		}
	}
	if len(names) != len(documented) {
		t.Errorf("the table has %d types, the documentation %d: document the new ones", len(names), len(documented))
	}
	if MetricLabel("brand_new_event") != "other" {
		t.Error("an unknown type got its own label")
	}
}

// TestEventTableKefuWindowsAndReplies pins the facts other code reads from
// the table (the kefu send API's window rules; payments are answered to
// WeChat Pay).
func TestEventTableKefuWindowsAndReplies(t *testing.T) {
	for _, tt := range []struct {
		typ        string
		quota      int
		validity   time.Duration
		takesReply bool
		seen       bool
	}{
		{"text", 5, 48 * time.Hour, true, true},
		{"file", 5, 48 * time.Hour, true, true},
		{"click", 3, time.Minute, true, true},
		{"scancode_waitmsg", 3, time.Minute, true, true},
		{"subscribe", 3, time.Minute, true, true},
		{"scan", 3, time.Minute, true, true},
		{"view", 0, 0, true, false},
		{"unsubscribe", 0, 0, true, false},
		{"templatesendjobfinish", 0, 0, true, false},
		{"location_select", 0, 0, true, true},
		{"payment", 0, 0, false, false},
	} {
		ev := &Event{Type: tt.typ}
		q, v := KefuWindowFor(ev)
		et, _ := LookupEventType(tt.typ)
		if q != tt.quota || v != tt.validity || ev.TakesReply() != tt.takesReply || et.Seen != tt.seen {
			t.Errorf("%s: window %d/%v, takes reply %v, seen %v; want %d/%v, %v, %v",
				tt.typ, q, v, ev.TakesReply(), et.Seen, tt.quota, tt.validity, tt.takesReply, tt.seen)
		}
	}
}
