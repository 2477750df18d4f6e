package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
	"github.com/wxbot/wxbot/rules"
)

func templateDeliverer(t *testing.T) (*TemplateDeliverer, *wechattest.Server) {
	t.Helper()
	fake := wechattest.New("wxapp", "secret")
	t.Cleanup(fake.Close)
	c, err := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: "wxapp", Secret: "secret", HTTP: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return &TemplateDeliverer{Client: c}, fake
}

// TestTemplateEndToEnd: a payment rule's template message goes through the
// outbox to the API, rendered, without any kefu window.
func TestTemplateEndToEnd(t *testing.T) {
	d, fake := templateDeliverer(t)
	fake.Answer(wechat.TemplatePath, `{"errcode":0,"errmsg":"ok","msgid":200228332}`)
	loaded, err := rules.Parse("rules.yaml", []byte(`version: 1
vars: {shop: 示例小店}
rules:
  - name: paid
    on: payment
    actions:
      - template:
          template_id: TPL1
          url: "https://example.com/o/${event.payment.out_trade_no}?a=1&b=2"
          miniprogram: {appid: wxmini, pagepath: "pages/order?id=${event.payment.out_trade_no}"}
          data:
            thing1: "${vars.shop}"
            amount2: {value: "¥${event.payment.total / 100}", color: "#173177"}
`))
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New(nil)
	ob := outbox.New(store, outbox.Options{Poll: 5 * time.Millisecond})
	ob.Register(KindTemplate, d)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ob.Run(ctx)
	e := engine.New(engine.Options{Outbox: ob, State: store})
	defer e.Close(context.Background())
	e.SetRules(loaded.Set)
	ev := &engine.Event{ID: "pay/42", Type: "payment", From: "oPayer",
		Payment: engine.Payment{OutTradeNo: "T1", TransactionID: "42", Total: 12850, Currency: "CNY", State: "SUCCESS"}}
	res, _ := e.Dispatch(ev).Finish(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	waitFor(t, "the template send", func() bool { return len(fake.Delivered(wechat.TemplatePath)) == 1 })
	var got map[string]any
	body := fake.Delivered(wechat.TemplatePath)[0].Body
	json.Unmarshal(body, &got)
	id, _ := got["client_msg_id"].(string)
	delete(got, "client_msg_id")
	want := `map[data:map[amount2:map[color:#173177 value:¥128.5] thing1:map[value:示例小店]] ` +
		`miniprogram:map[appid:wxmini pagepath:pages/order?id=T1] template_id:TPL1 touser:oPayer url:https://example.com/o/T1?a=1&b=2]`
	if fmt.Sprint(got) != want || len(id) != 32 {
		t.Errorf("sent %s\nwant %s with a client_msg_id", body, want)
	}
	if strings.Contains(string(body), `\u0026`) {
		t.Errorf("HTML-escaped JSON (WeChat answers 40033): %s", body)
	}
}

func TestTemplateDeliverer(t *testing.T) {
	ctx := context.Background()
	d, fake := templateDeliverer(t)
	send := func() *outbox.Send {
		return &outbox.Send{ID: "pay/1/paid/0/1", Kind: KindTemplate, OrderKey: "oU",
			Payload: json.RawMessage(`{"touser":"ignored","template_id":"T","data":{"k":{"value":"v"}}}`)}
	}
	if err := d.Deliver(ctx, send()); err != nil {
		t.Fatal(err)
	}
	c := fake.Delivered(wechat.TemplatePath)[0]
	if !strings.Contains(string(c.Body), `"touser":"oU"`) {
		t.Errorf("sent %s, want touser from the send", c.Body)
	}
	// The same send gets the same client_msg_id: WeChat drops the repeat.
	d.Deliver(ctx, send())
	ids := map[string]bool{}
	for _, c := range fake.Delivered(wechat.TemplatePath) {
		var m wechat.TemplateMessage
		json.Unmarshal(c.Body, &m)
		ids[m.ClientMsgID] = true
	}
	if len(ids) != 1 {
		t.Errorf("client_msg_ids %v, want one for the same send", ids)
	}
	tests := []struct {
		name      string
		fail      func()
		permanent bool
		ok        bool
	}{
		{"busy (-1)", func() { fake.FailNext(wechat.TemplatePath, -1) }, false, false},
		{"too frequent (45011)", func() { fake.FailNext(wechat.TemplatePath, 45011) }, false, false},
		{"HTTP 503", func() { fake.Down(1) }, false, false},
		{"token expired once (42001)", func() { fake.FailNext(wechat.TemplatePath, 42001) }, false, true},
		{"not following (43004)", func() { fake.FailNext(wechat.TemplatePath, 43004) }, true, false},
		{"bad OpenID (40003)", func() { fake.FailNext(wechat.TemplatePath, 40003) }, true, false},
		{"bad template_id (40037)", func() { fake.FailNext(wechat.TemplatePath, 40037) }, true, false},
		{"data does not fit (47003)", func() { fake.FailNext(wechat.TemplatePath, 47003) }, true, false},
		{"no permission (48001)", func() { fake.FailNext(wechat.TemplatePath, 48001) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fail()
			err := d.Deliver(ctx, send())
			switch {
			case tt.ok && err != nil:
				t.Errorf("%v, want it delivered", err)
			case !tt.ok && err == nil:
				t.Error("delivered, want an error")
			case !tt.ok && outbox.IsPermanent(err) != tt.permanent:
				t.Errorf("%v: permanent %v, want %v", err, outbox.IsPermanent(err), tt.permanent)
			}
		})
	}
	if err := d.Deliver(ctx, &outbox.Send{OrderKey: "oU", Payload: json.RawMessage(`{`)}); !outbox.IsPermanent(err) {
		t.Errorf("broken payload: %v, want permanent", err)
	}
	fake.FailNext(wechat.TemplatePath, 40037)
	if err := d.Deliver(ctx, send()); err == nil || !strings.Contains(err.Error(), "template_id is not one of this account's templates") {
		t.Errorf("40037: %v, want the hint", err)
	}
}

func TestTemplateValidate(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{`{template_id: T}`, ""},
		{`{template_id: "${vars.tpl}", data: {a: x, b: {value: y, color: "#FF0000"}}, url: "https://x", miniprogram: {appid: wx1}}`, ""},
		{`{data: {a: x}}`, "template_id: required"},
		{`{template_id: T, data: {a: {color: "#000000"}}}`, "data.a.value: required"},
		{`{template_id: T, data: {a: {value: x, color: red}}}`, `data.a.color: "red", want #RRGGBB`},
		{`{template_id: T, url: "javascript:alert(1)"}`, `url: "javascript:alert(1)": want an http:// or https:// URL`},
		{`{template_id: T, miniprogram: {pagepath: p}}`, "miniprogram.appid: required"},
		{`{template_id: T, data: {a: "${event.nope}"}}`, "data.a"},
		{`{template_id: T, data: {a: [x]}}`, "data.a"},
	}
	for _, tt := range tests {
		_, err := rules.Parse("r.yaml", []byte("version: 1\nvars: {tpl: T}\nrules:\n  - {name: t, on: payment, actions: [{template: "+tt.yaml+"}]}\n"))
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: err %v, want %q", tt.yaml, err, tt.want)
		}
	}
	// Offline (rule tests), a template action runs without sending.
	loaded, err := rules.Parse("r.yaml", []byte(`version: 1
rules:
  - {name: t, on: payment, actions: [{template: {template_id: T, data: {a: "${event.payment.total}"}}}]}
tests:
  - {name: paid, event: {type: payment, from: oP, payment: {total: 1}}, expect: {actions: [template]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loaded.RunTests(context.Background(), time.UTC) {
		if !r.Passed() {
			t.Errorf("offline test failed: %v", r.Failures)
		}
	}
}
