package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

func TestKfSessionList(t *testing.T) {
	ctx := context.Background()
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	fake.SetKfSessions("kf1@shop", wechattest.KfSession{OpenID: "oA", CreateTime: 1772330400}, wechattest.KfSession{OpenID: "oB", CreateTime: 1772334000})
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	got, err := c.KfSessionList(ctx, "kf1@shop")
	if err != nil {
		t.Fatal(err)
	}
	want := []wechat.KfSession{{OpenID: "oA", CreateTime: 1772330400}, {OpenID: "oB", CreateTime: 1772334000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sessions %+v, want %+v", got, want)
	}
	calls := fake.Calls(wechattest.PathKfSessionList)
	if len(calls) != 1 || calls[0].Method != http.MethodGet || calls[0].Query.Get("kf_account") != "kf1@shop" {
		t.Errorf("calls %+v", calls)
	}
	if _, err := c.KfSessionList(ctx, "kf1"); !errors.Is(err, wechat.ErrInvalidKfAccount) {
		t.Errorf("a malformed account: %v, want ErrInvalidKfAccount before any call", err)
	}
	if n := len(fake.Calls("")); n != 1 {
		t.Errorf("%d calls, want the malformed account to make none", n)
	}
}

func TestKfWaitCase(t *testing.T) {
	fake := wechattest.New(appID, secret)
	defer fake.Close()
	var waiting []wechattest.KfWaiting
	for i := range 150 {
		waiting = append(waiting, wechattest.KfWaiting{OpenID: fmt.Sprint("o", i), LatestTime: int64(1772330400 + 150 - i)})
	}
	fake.SetKfWaiting(waiting...)
	c := newClient(t, fake, wechat.TokenAPIStable, nil)
	count, list, err := c.KfWaitCase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if count != 150 || len(list) != wechat.KfWaitCaseMax || list[0].OpenID != "o149" || list[0].LatestTime != 1772330401 {
		t.Errorf("count %d, %d listed, first %+v; want 150, the 100 who waited longest, o149 first", count, len(list), list[0])
	}
}

// records makes n records a minute apart from start, alternating
// between what the user wrote and what the kefu sent.
func records(start int64, n int) []wechattest.KfRecord {
	var out []wechattest.KfRecord
	for i := range n {
		op := wechat.KfOperKefuReceived
		if i%2 == 1 {
			op = wechat.KfOperKefuSent
		}
		out = append(out, wechattest.KfRecord{OpenID: "oA", OperCode: op, Text: fmt.Sprint("消息", i), Time: start + int64(60*i), Worker: "kf1@shop"})
	}
	return out
}

type msgListBody struct {
	Start  int64 `json:"starttime"`
	End    int64 `json:"endtime"`
	MsgID  int64 `json:"msgid"`
	Number int   `json:"number"`
}

func TestKfRecords(t *testing.T) {
	const day0 = 1772294400 // 2026-03-01 00:00 +08:00
	tests := []struct {
		name        string
		records     []wechattest.KfRecord
		window      time.Duration // the fake's longest range; 0: a day
		from, to    int64
		pageSize    int
		wantTexts   int // records passed on
		wantCalls   int
		wantRefused int // calls answered 65417
	}{
		{"one page", records(day0, 5), 0, day0, day0 + 3600, 0, 5, 1, 0},
		{"several pages", records(day0, 8), 0, day0, day0 + 3600, 3, 8, 3, 0},
		{"a full last page asks once more", records(day0, 6), 0, day0, day0 + 3600, 3, 6, 3, 0},
		{"range bounds are included", records(day0, 10), 0, day0 + 120, day0 + 300, 0, 4, 1, 0},
		{"three days in day windows", append(records(day0, 3), append(records(day0+86400-60, 3), records(day0+2*86400, 2)...)...),
			0, day0, day0 + 3*86400 - 1, 0, 8, 3, 0},
		{"a record on the windows' shared second once", records(day0+86400, 1), 0, day0, day0 + 2*86400, 0, 1, 3, 0},
		{"pages in each window", append(records(day0, 4), records(day0+86400, 4)...), 0, day0, day0 + 2*86400 - 1, 3, 8, 4, 0},
		{"65417 for a day: halved", append(records(day0, 2), records(day0+13*3600, 2)...), 12 * time.Hour, day0, day0 + 86400 - 1, 0, 4, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := wechattest.New(appID, secret)
			defer fake.Close()
			fake.AddKfRecords(tt.records...)
			if tt.window > 0 {
				fake.SetKfRecordsWindow(tt.window)
			}
			c := newClient(t, fake, wechat.TokenAPIStable, nil)
			var got []wechat.KfRecord
			q := wechat.KfRecordsQuery{Start: time.Unix(tt.from, 0), End: time.Unix(tt.to, 0), PageSize: tt.pageSize}
			err := c.KfRecords(context.Background(), q, func(page []wechat.KfRecord) error {
				got = append(got, page...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[wechat.KfRecord]bool{}
			for i, r := range got {
				if seen[r] || r.Time < tt.from || r.Time > tt.to || i > 0 && r.Time < got[i-1].Time {
					t.Errorf("record %d %+v: repeated, out of the range or out of order", i, r)
				}
				seen[r] = true
			}
			calls := fake.Calls(wechattest.PathKfMsgList)
			refused := 0
			for _, call := range calls {
				var b msgListBody
				json.Unmarshal(call.Body, &b)
				size := tt.pageSize
				if size == 0 {
					size = wechat.KfRecordsPageMax
				}
				if call.Method != http.MethodPost || b.End-b.Start > 86400 || b.Number != size {
					t.Errorf("call %s %s: want POST, at most a day, %d a page", call.Method, call.Body, size)
				}
				if tt.window > 0 && b.End-b.Start > int64(tt.window/time.Second) {
					refused++ // the fake answered 65417
				}
			}
			if len(got) != tt.wantTexts || len(calls) != tt.wantCalls || refused != tt.wantRefused {
				t.Errorf("%d records in %d calls (%d refused), want %d in %d (%d refused)", len(got), len(calls), refused, tt.wantTexts, tt.wantCalls, tt.wantRefused)
			}
		})
	}
}

func TestKfRecordsErrors(t *testing.T) {
	const day0 = 1772294400
	stop := errors.New("stop")
	tests := []struct {
		name      string
		setup     func(*wechattest.Server)
		from, to  int64
		pageSize  int
		each      error
		want      string
		wantCalls int
	}{
		{"end before start", nil, day0, day0 - 1, 0, nil, "the range ends (", 0},
		{"page size too large", nil, day0, day0, 10001, nil, "page size 10001: want 1 to 10000", 0},
		{"kefu not enabled", func(f *wechattest.Server) { f.FailNext(wechattest.PathKfMsgList, 65400) }, day0, day0 + 60, 0, nil,
			"errcode 65400: fake error 65400 rid: 6912-fake (new kefu is not enabled", 1},
		{"65417 even for an hour", func(f *wechattest.Server) { f.SetKfRecordsWindow(time.Minute) }, day0, day0 + 86399, 0, nil,
			"errcode 65417: fake error 65417 rid: 6912-fake (the time range is too long", 6},
		{"each's error stops the walk", func(f *wechattest.Server) { f.AddKfRecords(records(day0, 3)...) }, day0, day0 + 3*86400, 1, stop,
			"stop", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := wechattest.New(appID, secret)
			defer fake.Close()
			if tt.setup != nil {
				tt.setup(fake)
			}
			c := newClient(t, fake, wechat.TokenAPIStable, nil)
			q := wechat.KfRecordsQuery{Start: time.Unix(tt.from, 0), End: time.Unix(tt.to, 0), PageSize: tt.pageSize}
			err := c.KfRecords(context.Background(), q, func([]wechat.KfRecord) error { return tt.each })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if tt.each != nil && !errors.Is(err, tt.each) {
				t.Errorf("error %v, want each's own", err)
			}
			if n := len(fake.Calls(wechattest.PathKfMsgList)); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
		})
	}
}
