package engine

import (
	"time"
)

// EventType is one kind of push, as event.type names it. The table below
// is the one list of them: rules check `on:` against it, `wxbot schema`
// enumerates it, metrics label pushes by it, lint reads what a reply to it
// does, and the engine opens kefu windows from it.
type EventType struct {
	// Name is event.type: lower case (LOCATION reports are location_report).
	Name string
	// Message is a message the user sent, as opposed to an event: WeChat
	// takes one news article in a reply to it.
	Message bool
	// KefuQuota and KefuValidity are the kefu window the push opens
	// (see KefuWindowFor); zero opens none.
	KefuQuota    int
	KefuValidity time.Duration
	// TakesReply is false where the push's answer cannot carry a passive
	// reply at all (payments are answered to WeChat Pay).
	TakesReply bool
	// Seen is false for events that happen while the user is not looking
	// at the chat (unsubscribe, a view click that leaves it, job reports):
	// a reply to them reaches nobody.
	Seen bool
}

const (
	messageWindow = 48 * time.Hour // a user's message: 5 sends
	actionWindow  = time.Minute    // a click, scan or subscribe: 3 sends
)

// eventTypes lists every push wxbot knows, messages first, in the order
// `wxbot schema` and error messages show them.
var eventTypes = []EventType{
	// messages
	msg("text"), msg("image"), msg("voice"), msg("video"), msg("shortvideo"),
	msg("location"), msg("link"), msg("file"),
	// events
	action("subscribe"), unseen("unsubscribe"), action("scan"), seen("location_report"),
	action("click"), unseen("view"), action("scancode_push"), action("scancode_waitmsg"),
	seen("pic_sysphoto"), seen("pic_photo_or_album"), seen("pic_weixin"), seen("location_select"),
	unseen("view_miniprogram"),
	unseen("kf_create_session"), unseen("kf_close_session"), unseen("kf_switch_session"),
	unseen("templatesendjobfinish"), unseen("masssendjobfinish"), unseen("publishjobfinish"),
	unseen("subscribe_msg_popup_event"), unseen("subscribe_msg_change_event"), unseen("subscribe_msg_sent_event"),
	// payment-related pushes to the message URL
	unseen("user_pay_from_pay_cell"), unseen("card_pay_order"), unseen("merchant_order"),
	// WeChat Pay v3 notifications, not a WeChat push
	{Name: "payment"},
}

func msg(name string) EventType {
	return EventType{Name: name, Message: true, KefuQuota: 5, KefuValidity: messageWindow, TakesReply: true, Seen: true}
}

func action(name string) EventType {
	return EventType{Name: name, KefuQuota: 3, KefuValidity: actionWindow, TakesReply: true, Seen: true}
}

func seen(name string) EventType   { return EventType{Name: name, TakesReply: true, Seen: true} }
func unseen(name string) EventType { return EventType{Name: name, TakesReply: true} }

var eventTypeByName = func() map[string]*EventType {
	m := make(map[string]*EventType, len(eventTypes))
	for i := range eventTypes {
		m[eventTypes[i].Name] = &eventTypes[i]
	}
	return m
}()

// LookupEventType returns the type called name (lower case).
func LookupEventType(name string) (EventType, bool) {
	t, ok := eventTypeByName[name]
	if !ok {
		return EventType{}, false
	}
	return *t, true
}

// EventTypeNames lists every known event.type, messages first.
func EventTypeNames() []string {
	names := make([]string, len(eventTypes))
	for i, t := range eventTypes {
		names[i] = t.Name
	}
	return names
}

// IsMessageType reports whether name is a message a user sends.
func IsMessageType(name string) bool {
	t, ok := eventTypeByName[name]
	return ok && t.Message
}

// MetricLabel is the event-type label of metrics: the type's own name, or
// "other" for a type WeChat may add later (a label per unknown name would
// grow without end).
func MetricLabel(name string) string {
	if t, ok := eventTypeByName[name]; ok {
		return t.Name // the table's string, not a slice of a push body
	}
	return "other"
}

// KefuWindowFor is the kefu window an event opens (WeChat's send API,
// developers.weixin.qq.com/doc/subscription/api/customer/message/api_sendcustommessage.html):
// a user's message, 5 sends within 48 hours; a click, scancode,
// subscribe or scan, 3 within a minute; anything else (view, payment, …)
// none. A message of a kind not in the table is still a user's message.
func KefuWindowFor(ev *Event) (quota int, validity time.Duration) {
	if ev.IsUserMessage() {
		return 5, messageWindow
	}
	if t, ok := eventTypeByName[ev.Type]; ok {
		return t.KefuQuota, t.KefuValidity
	}
	return 0, 0
}

// ReplySeen reports whether a passive reply to the event reaches the user:
// false for events that happen while nobody looks at the chat
// (unsubscribe, view, job reports, …). Types not in the table are taken to
// be seen.
func (e *Event) ReplySeen() bool {
	if t, ok := eventTypeByName[e.Type]; ok {
		return t.Seen
	}
	return true
}

// UnseenTypes lists, of types, those whose replies nobody sees (for lint).
func UnseenTypes(types []string) []string {
	var out []string
	for _, name := range types {
		if t, ok := eventTypeByName[name]; ok && !t.Seen && t.TakesReply {
			out = append(out, name)
		}
	}
	return out
}

// TakesReply reports whether the event can be answered with a passive
// reply. A payment cannot: WeChat Pay is answered by the bot itself, and the
// reply has no kefu fallback either, since payments open no kefu window
// (WeChat withdrew the payment quota in 2023). Types not in the table are
// WeChat pushes, which can.
func (e *Event) TakesReply() bool {
	if t, ok := eventTypeByName[e.Type]; ok {
		return t.TakesReply
	}
	return true
}
