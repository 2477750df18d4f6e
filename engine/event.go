package engine

import (
	"strconv"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// Event is a push as rules see it: expr reaches its fields as event.NAME by
// the expr tags below. Nested groups are values, not pointers, so a rule that
// reads event.location.lat on a text message gets 0 instead of an error.
type Event struct {
	// ID identifies the push across WeChat's retries (see PushKey); sends
	// derive their idempotency keys from it.
	ID          string    `expr:"id"`
	Type        string    `expr:"type"` // lower case: text, subscribe, scan, location_report, click, …
	From        string    `expr:"from"` // the user's OpenID
	To          string    `expr:"to"`   // the account's original id gh_…
	Time        time.Time `expr:"time"` // CreateTime in the bot's time zone
	MsgID       string    `expr:"msg_id"`
	Content     string    `expr:"content"`
	Key         string    `expr:"key"` // EventKey; the scene for subscribe (qrscene_ removed) and scan
	Ticket      string    `expr:"ticket"`
	MediaID     string    `expr:"media_id"`
	PicURL      string    `expr:"pic_url"`
	Format      string    `expr:"format"`
	Recognition string    `expr:"recognition"`
	Location    Geo       `expr:"location"`
	Link        Link      `expr:"link"`
	Scan        Scan      `expr:"scan"`
	Payment     Payment   `expr:"payment"`
	// KfAccount is the customer-service account of a kf_create_session,
	// kf_close_session, or the one taking over in a kf_switch_session
	// (KfFrom handing over).
	KfAccount string `expr:"kf_account"`
	KfFrom    string `expr:"kf_from"`
	// Raw holds every XML field by its WeChat name (nested ones by their
	// dotted path, e.g. ScanCodeInfo.ScanType). It is filled only when some
	// rule refers to raw (see RuleSet.NeedsRaw): building it costs a map per
	// push.
	Raw map[string]string `expr:"raw"`
	// Recent are the user's texts before this push, oldest first, filled
	// only when some rule reads event.recent (see RuleSet.NeedsRecent).
	Recent []Recent `expr:"recent"`

	// Message is the decoded push this event came from; nil for events
	// built by hand (tests) or from other sources (payments).
	Message *wechat.Message `expr:"-"`
	// Collects marks a push answered with a reply held for its user (an
	// account without the kefu API, see Options.HoldLate): the user wrote
	// to fetch it, so an action that would take the text as a new question
	// (ai) leaves it.
	Collects bool `expr:"-"`
	// WindowOpened marks a push whose kefu window the callback recorded
	// with its retry claim (one round trip for both on a shared store), so
	// that Dispatch does not record it again.
	WindowOpened bool `expr:"-"`
	// Kf is user.kf as the store encodes it ("" for none), read with the
	// retry claim when KfRead: the handoff check then makes no round trip
	// of its own (see RuleSet.beginHandoff).
	Kf     string `expr:"-"`
	KfRead bool   `expr:"-"`
}

// Geo is where a location message, LOCATION report or location_select
// event says the user is (event.location).
type Geo struct {
	Lat       float64 `expr:"lat"`
	Lng       float64 `expr:"lng"`
	Scale     int     `expr:"scale"`
	Label     string  `expr:"label"`
	Precision float64 `expr:"precision"`
}

// Link is a link message.
type Link struct {
	Title       string `expr:"title"`
	Description string `expr:"description"`
	URL         string `expr:"url"`
}

// Scan is the ScanCodeInfo of scancode_push and scancode_waitmsg.
type Scan struct {
	Type   string `expr:"type"`
	Result string `expr:"result"`
}

// Payment is a verified WeChat Pay v3 TRANSACTION.SUCCESS notification.
type Payment struct {
	OutTradeNo    string `expr:"out_trade_no"`
	TransactionID string `expr:"transaction_id"`
	Total         int64  `expr:"total"` // fen
	Currency      string `expr:"currency"`
	State         string `expr:"state"`
	Attach        string `expr:"attach"`
}

// IsUserMessage reports whether the event is something the user sent (text,
// image, …) rather than an event: WeChat allows one news article in a reply
// to those, and they open the 48-hour kefu window.
func (e *Event) IsUserMessage() bool {
	return e.Message != nil && !e.Message.IsEvent()
}

// EventFromMessage normalizes a decoded push. loc is the bot's time zone.
// Event.Raw is left nil; the engine fills it when rules need it.
func EventFromMessage(m *wechat.Message, loc *time.Location) *Event {
	ev := new(Event)
	FillEvent(ev, m, loc)
	return ev
}

// FillEvent is EventFromMessage into an Event the caller allocated (the
// handler keeps a push's message and event in one allocation).
func FillEvent(ev *Event, m *wechat.Message, loc *time.Location) {
	*ev = Event{
		ID:          PushKey(m),
		From:        m.FromUserName,
		To:          m.ToUserName,
		Time:        time.Unix(m.CreateTime, 0).In(loc),
		MsgID:       m.MsgID,
		Content:     m.Content,
		Key:         m.EventKey,
		Ticket:      m.Ticket,
		MediaID:     m.MediaID,
		PicURL:      m.PicURL,
		Format:      m.Format,
		Recognition: m.Recognition,
		Message:     m,
	}
	if m.IsEvent() {
		ev.Type = typeOfEvent(m.Event)
		switch ev.Type {
		case "subscribe":
			ev.Key = strings.TrimPrefix(m.EventKey, "qrscene_")
		case "location_report":
			ev.Location = Geo{Lat: m.Latitude, Lng: m.Longitude, Precision: m.Precision}
		case "location_select":
			if s := m.SendLocation; s != nil {
				ev.Location = Geo{Lat: s.X, Lng: s.Y, Scale: s.Scale, Label: s.Label}
			}
		case "scancode_push", "scancode_waitmsg":
			ev.Scan = Scan{Type: m.ScanType, Result: m.ScanResult}
		case "kf_create_session", "kf_close_session":
			ev.KfAccount = m.KfAccount
		case "kf_switch_session":
			ev.KfAccount, ev.KfFrom = m.ToKfAccount, m.FromKfAccount
		}
	} else {
		ev.Type = lower(m.MsgType)
		switch ev.Type {
		case "location":
			ev.Location = Geo{Lat: m.LocationX, Lng: m.LocationY, Scale: m.Scale, Label: m.Label}
		case "link":
			ev.Link = Link{Title: m.Title, Description: m.Description, URL: m.URL}
		}
	}
}

// rawFields is event.raw: every field by name, the first of repeated ones.
func rawFields(m *wechat.Message) map[string]string {
	raw := make(map[string]string, len(m.Fields))
	for _, f := range m.Fields {
		if _, dup := raw[f.Name]; !dup {
			raw[f.Name] = f.Value
		}
	}
	return raw
}

// WeChatEvent is the Event name WeChat sends for an event.type: the
// inverse of the normalization (location_report is LOCATION; case does not
// matter to it).
func WeChatEvent(typ string) string {
	if typ == "location_report" {
		return "LOCATION"
	}
	return typ
}

// typeOfEvent maps a WeChat Event name to the event.type rules use: lower case,
// with LOCATION (the periodic report) renamed location_report so that it is
// not confused with a location message.
func typeOfEvent(name string) string {
	t := lower(name)
	if t == "location" {
		return "location_report"
	}
	return t
}

// lower is strings.ToLower for the ASCII names WeChat uses; it returns s
// itself when s is already lower case, which is nearly always.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// PushKey identifies a push across WeChat's retries: the MsgId for
// messages, and for events (which have none) the sender, time, event and
// key, as WeChat recommends
// (developers.weixin.qq.com/doc/offiaccount/en/Message_Management/Passive_user_reply_message.html).
func PushKey(m *wechat.Message) string {
	if m.MsgID != "" && !m.IsEvent() {
		return m.ToUserName + "/m/" + m.MsgID
	}
	return m.ToUserName + "/e/" + m.FromUserName + "/" + strconv.FormatInt(m.CreateTime, 10) +
		"/" + m.MsgType + "/" + m.Event + "/" + m.EventKey
}
