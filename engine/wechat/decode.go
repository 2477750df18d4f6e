package wechat

import (
	"fmt"
	"math"
	"strconv"
)

// Paths of the nested elements Decode maps onto Message.
const (
	pathScanType       = "ScanCodeInfo.ScanType"
	pathScanResult     = "ScanCodeInfo.ScanResult"
	pathPicCount       = "SendPicsInfo.Count"
	pathPicMD5Sum      = "SendPicsInfo.PicList.item.PicMd5Sum"
	pathSendLocX       = "SendLocationInfo.Location_X"
	pathSendLocY       = "SendLocationInfo.Location_Y"
	pathSendLocScale   = "SendLocationInfo.Scale"
	pathSendLocLabel   = "SendLocationInfo.Label"
	pathSendLocPoiname = "SendLocationInfo.Poiname"
)

// Decode parses the body of a plaintext push, or the plaintext of an
// encrypted one. See [DecodeInto].
func Decode(body []byte) (*Message, error) {
	// One allocation for the Message and room for the fields of a typical push.
	box := new(struct {
		m      Message
		fields [TypicalFields]Field
	})
	box.m.Fields = box.fields[:0]
	if err := DecodeInto(&box.m, body); err != nil {
		return nil, err
	}
	return &box.m, nil
}

// TypicalFields is room for the leaves of nearly every push, the largest
// (mass-send reports) aside: a caller that allocates the Message can give
// it this many fields in the same allocation.
const TypicalFields = 16

// DecodeInto parses a push into m, which it resets first, keeping the
// capacity of m.Fields. Every leaf element lands in m.Fields; the known ones
// (see [Message]) also in their struct fields. Unknown message types and
// events are not errors.
//
// The error wraps [ErrMalformed] when body is not well-formed XML with an
// <xml> root (a reason and byte offset follow), when FromUserName or MsgType
// is missing or empty, when CreateTime is missing, or when a numeric field
// does not parse. Numbers may be wrapped in CDATA and surrounded by white
// space; an empty number reads as zero.
//
// The strings in m share one copy of body, so m does not retain body itself.
func DecodeInto(m *Message, body []byte) error { return DecodeStringInto(m, string(body)) }

// DecodeStringInto is DecodeInto for a body already held as a string: the
// fields are substrings of it, and nothing is copied. (The server reads a
// body once and never changes it, so it can hand it over without a copy.)
func DecodeStringInto(m *Message, body string) error {
	fields := m.Fields[:0]
	if cap(fields) == 0 {
		fields = make([]Field, 0, TypicalFields) // not four appends' worth of growing
	}
	*m = Message{}
	fields, err := scanFields(fields, body)
	// Drop stale values past the new end, so they do not pin an old body.
	clear(fields[len(fields):cap(fields)])
	if err != nil {
		*m = Message{Fields: fields[:0]}
		return err
	}
	m.Fields = fields
	haveCreateTime := false
	for _, f := range fields {
		if f.Name == "CreateTime" {
			haveCreateTime = trimXMLSpace(f.Value) != ""
		}
		if err := m.set(f.Name, f.Value); err != nil {
			*m = Message{Fields: fields[:0]}
			return err
		}
	}
	var missing string
	switch {
	case m.FromUserName == "":
		missing = "FromUserName"
	case m.MsgType == "":
		missing = "MsgType"
	case !haveCreateTime:
		missing = "CreateTime"
	}
	if missing != "" {
		*m = Message{Fields: fields[:0]}
		return fmt.Errorf("%w: %s missing or empty", ErrMalformed, missing)
	}
	return nil
}

// set stores one leaf into its struct field, if it has one. Flat elements,
// nearly every leaf of a push, are matched by this one switch; the rare
// nested paths of menu events are left to setNested.
func (m *Message) set(name, v string) error {
	var err error
	switch name {
	case "ToUserName":
		m.ToUserName = v
	case "FromUserName":
		m.FromUserName = v
	case "CreateTime":
		m.CreateTime, err = parseInt(name, v)
	case "MsgType":
		m.MsgType = v
	case "MsgId", "MsgID":
		m.MsgID, err = parseID(name, v)
	case "Content":
		m.Content = v
	case "bizmsgmenuid":
		m.BizMsgMenuID = v
	case "PicUrl":
		m.PicURL = v
	case "MediaId":
		m.MediaID = v
	case "Format":
		m.Format = v
	case "Recognition":
		m.Recognition = v
	case "MediaId16K":
		m.MediaID16K = v
	case "ThumbMediaId":
		m.ThumbMediaID = v
	case "Location_X":
		m.LocationX, err = parseFloat(name, v)
	case "Location_Y":
		m.LocationY, err = parseFloat(name, v)
	case "Scale":
		m.Scale, err = parseSmallInt(name, v)
	case "Label":
		m.Label = v
	case "Title":
		m.Title = v
	case "Description":
		m.Description = v
	case "Url":
		m.URL = v
	case "Event":
		m.Event = v
	case "EventKey":
		m.EventKey = v
	case "Ticket":
		m.Ticket = v
	case "MenuId", "MenuID":
		m.MenuID = v
	case "Latitude":
		m.Latitude, err = parseFloat(name, v)
	case "Longitude":
		m.Longitude, err = parseFloat(name, v)
	case "Precision":
		m.Precision, err = parseFloat(name, v)
	case "KfAccount":
		m.KfAccount = v
	case "FromKfAccount":
		m.FromKfAccount = v
	case "ToKfAccount":
		m.ToKfAccount = v
	case "Status":
		m.Status = v
	default:
		return m.setNested(name, v)
	}
	return err
}

// setNested is set for the paths under ScanCodeInfo, SendPicsInfo and
// SendLocationInfo, which only menu events carry.
func (m *Message) setNested(name, v string) error {
	var err error
	switch name {
	case pathScanType:
		m.ScanType = v
	case pathScanResult:
		m.ScanResult = v
	case pathPicCount:
		m.PicCount, err = parseSmallInt(name, v)
	case pathPicMD5Sum:
		m.PicMD5Sums = append(m.PicMD5Sums, v)
	case pathSendLocX:
		m.sendLocation().X, err = parseFloat(name, v)
	case pathSendLocY:
		m.sendLocation().Y, err = parseFloat(name, v)
	case pathSendLocScale:
		m.sendLocation().Scale, err = parseSmallInt(name, v)
	case pathSendLocLabel:
		m.sendLocation().Label = v
	case pathSendLocPoiname:
		m.sendLocation().Poiname = v
	}
	return err
}

func (m *Message) sendLocation() *SendLocation {
	if m.SendLocation == nil {
		m.SendLocation = new(SendLocation)
	}
	return m.SendLocation
}

func trimXMLSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isXMLSpace(s[i]) {
		i++
	}
	for j > i && isXMLSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func parseInt(name, v string) (int64, error) {
	t := trimXMLSpace(v)
	if t == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, badNumber(name, v, "an integer")
	}
	return n, nil
}

func parseSmallInt(name, v string) (int, error) {
	n, err := parseInt(name, v)
	if err == nil && (n < math.MinInt32 || n > math.MaxInt32) {
		// int is 32 bits on some targets; keep decoding the same everywhere.
		return 0, badNumber(name, v, "a 32-bit integer")
	}
	return int(n), err
}

// parseID checks a MsgId, an unsigned 64-bit integer, and returns it trimmed:
// a string, because JSON and expression languages round integers above 2^53.
func parseID(name, v string) (string, error) {
	t := trimXMLSpace(v)
	if t == "" {
		return "", nil
	}
	if _, err := strconv.ParseUint(t, 10, 64); err != nil {
		return "", badNumber(name, v, "an unsigned 64-bit integer")
	}
	return t, nil
}

func parseFloat(name, v string) (float64, error) {
	t := trimXMLSpace(v)
	if t == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	// NaN and infinities parse but would break JSON encoding of the event.
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, badNumber(name, v, "a finite number")
	}
	return f, nil
}

func badNumber(name, v, want string) error {
	const maxShown = 32
	if len(v) > maxShown {
		v = v[:maxShown] + "…"
	}
	return fmt.Errorf("%w: %s %q is not %s", ErrMalformed, name, v, want)
}
