package wechat

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendReply appends to dst the passive reply r from the account from
// (its gh_ id, the push's ToUserName) to the user to (the push's
// FromUserName), created at createTime (Unix seconds). Strings go in CDATA;
// an embedded "]]>" is split across two sections and characters XML cannot
// carry (invalid UTF-8, control characters) become U+FFFD, so the output is
// always well-formed. Which elements are written depends on r.Type, as
// documented on [Reply]; an unknown Type writes the header alone. r must not
// be nil. It allocates only to grow dst.
func AppendReply(dst []byte, to, from string, createTime int64, r *Reply) []byte {
	dst = append(dst, "<xml><ToUserName>"...)
	dst = appendCDATA(dst, to)
	dst = append(dst, "</ToUserName><FromUserName>"...)
	dst = appendCDATA(dst, from)
	dst = append(dst, "</FromUserName><CreateTime>"...)
	dst = strconv.AppendInt(dst, createTime, 10)
	dst = append(dst, "</CreateTime><MsgType>"...)
	dst = appendCDATA(dst, r.Type)
	dst = append(dst, "</MsgType>"...)
	switch r.Type {
	case ReplyText:
		dst = appendElem(dst, "Content", r.Content)
	case ReplyImage:
		dst = append(dst, "<Image>"...)
		dst = appendElem(dst, "MediaId", r.MediaID)
		dst = append(dst, "</Image>"...)
	case ReplyVoice:
		dst = append(dst, "<Voice>"...)
		dst = appendElem(dst, "MediaId", r.MediaID)
		dst = append(dst, "</Voice>"...)
	case ReplyVideo:
		dst = append(dst, "<Video>"...)
		dst = appendElem(dst, "MediaId", r.MediaID)
		if r.Title != "" {
			dst = appendElem(dst, "Title", r.Title)
		}
		if r.Description != "" {
			dst = appendElem(dst, "Description", r.Description)
		}
		dst = append(dst, "</Video>"...)
	case ReplyMusic:
		dst = append(dst, "<Music>"...)
		dst = appendElem(dst, "Title", r.Title)
		dst = appendElem(dst, "Description", r.Description)
		dst = appendElem(dst, "MusicUrl", r.MusicURL)
		dst = appendElem(dst, "HQMusicUrl", r.HQMusicURL)
		dst = appendElem(dst, "ThumbMediaId", r.ThumbMediaID)
		dst = append(dst, "</Music>"...)
	case ReplyNews:
		dst = append(dst, "<ArticleCount>"...)
		dst = strconv.AppendInt(dst, int64(len(r.Articles)), 10)
		dst = append(dst, "</ArticleCount><Articles>"...)
		for i := range r.Articles {
			a := &r.Articles[i]
			dst = append(dst, "<item>"...)
			dst = appendElem(dst, "Title", a.Title)
			dst = appendElem(dst, "Description", a.Description)
			dst = appendElem(dst, "PicUrl", a.PicURL)
			dst = appendElem(dst, "Url", a.URL)
			dst = append(dst, "</item>"...)
		}
		dst = append(dst, "</Articles>"...)
	case ReplyTransfer:
		if r.KfAccount != "" {
			dst = append(dst, "<TransInfo>"...)
			dst = appendElem(dst, "KfAccount", r.KfAccount)
			dst = append(dst, "</TransInfo>"...)
		}
	}
	return append(dst, "</xml>"...)
}

// EncodeMessage writes m as WeChat would push it: one element per line,
// strings in CDATA, numbers bare, the type's fields in the official order,
// MsgId for messages (MsgID for events, as template and mass-send reports
// spell it), ScanCodeInfo, SendPicsInfo and SendLocationInfo for the events
// that carry them, then every top-level entry of m.Fields (a name without a
// ".") that no struct field covers. It is the inverse of [Decode] for the
// simulator, the load generator and tests; nested Fields without a struct
// field are not written.
func EncodeMessage(m *Message) []byte {
	b := make([]byte, 0, 512)
	b = append(b, "<xml>\n"...)
	b = appendLine(b, "ToUserName", m.ToUserName)
	b = appendLine(b, "FromUserName", m.FromUserName)
	b = appendNumLine(b, "CreateTime", strconv.FormatInt(m.CreateTime, 10))
	b = appendLine(b, "MsgType", m.MsgType)
	b = appendMessageLines(b, m)
	b = appendEventLines(b, m)
	b = appendEventInfos(b, m)
	b = appendTrailerLines(b, m)
	for _, f := range m.Fields {
		if encodedByStruct(f.Name) || !isElementName(f.Name) {
			continue
		}
		if isDecimal(f.Value) {
			b = appendNumLine(b, f.Name, f.Value)
		} else {
			b = appendLine(b, f.Name, f.Value)
		}
	}
	return append(b, "</xml>"...)
}

// appendMessageLines appends the fields of ordinary messages, in the official
// order. The ones a type always carries are written even when empty or zero,
// as WeChat would.
func appendMessageLines(b []byte, m *Message) []byte {
	text, location := equalFold(m.MsgType, "text"), equalFold(m.MsgType, "location")
	b = appendOptLine(b, "Content", m.Content, text)
	b = appendOptLine(b, "PicUrl", m.PicURL, false)
	b = appendOptLine(b, "MediaId", m.MediaID, false)
	b = appendOptLine(b, "Format", m.Format, false)
	b = appendOptLine(b, "Recognition", m.Recognition, false)
	b = appendOptLine(b, "MediaId16K", m.MediaID16K, false)
	b = appendOptLine(b, "ThumbMediaId", m.ThumbMediaID, false)
	b = appendOptFloatLine(b, "Location_X", m.LocationX, location)
	b = appendOptFloatLine(b, "Location_Y", m.LocationY, location)
	b = appendOptIntLine(b, "Scale", m.Scale, location)
	b = appendOptLine(b, "Label", m.Label, location)
	b = appendOptLine(b, "Title", m.Title, false)
	b = appendOptLine(b, "Description", m.Description, false)
	return appendOptLine(b, "Url", m.URL, false)
}

// appendEventLines appends the flat fields of events: Event always, the
// coordinates always for a LOCATION report, the rest when set.
func appendEventLines(b []byte, m *Message) []byte {
	event := m.IsEvent()
	locationReport := event && equalFold(m.Event, "LOCATION")
	b = appendOptLine(b, "Event", m.Event, event)
	b = appendOptLine(b, "EventKey", m.EventKey, false)
	b = appendOptLine(b, "Ticket", m.Ticket, false)
	b = appendOptLine(b, "MenuId", m.MenuID, false)
	b = appendOptFloatLine(b, "Latitude", m.Latitude, locationReport)
	b = appendOptFloatLine(b, "Longitude", m.Longitude, locationReport)
	return appendOptFloatLine(b, "Precision", m.Precision, locationReport)
}

// appendEventInfos appends the nested elements of the menu events that
// carry them (scan codes, pictures, a location), each only when set.
func appendEventInfos(b []byte, m *Message) []byte {
	if m.ScanType != "" || m.ScanResult != "" {
		b = append(b, "<ScanCodeInfo>"...)
		b = appendLine(b, "ScanType", m.ScanType)
		b = appendLine(b, "ScanResult", m.ScanResult)
		b = append(b, "</ScanCodeInfo>\n"...)
	}
	if m.PicCount != 0 || len(m.PicMD5Sums) > 0 {
		b = append(b, "<SendPicsInfo>"...)
		b = appendNumLine(b, "Count", strconv.Itoa(m.PicCount))
		b = append(b, "<PicList>"...)
		for _, sum := range m.PicMD5Sums {
			b = append(b, "<item>"...)
			b = appendLine(b, "PicMd5Sum", sum)
			b = append(b, "</item>\n"...)
		}
		b = append(b, "</PicList>\n</SendPicsInfo>\n"...)
	}
	if l := m.SendLocation; l != nil {
		b = append(b, "<SendLocationInfo>"...)
		b = appendNumLine(b, "Location_X", formatFloat(l.X))
		b = appendNumLine(b, "Location_Y", formatFloat(l.Y))
		b = appendNumLine(b, "Scale", strconv.Itoa(l.Scale))
		b = appendLine(b, "Label", l.Label)
		b = appendLine(b, "Poiname", l.Poiname)
		b = append(b, "</SendLocationInfo>\n"...)
	}
	return b
}

// appendTrailerLines appends what WeChat puts last: the customer-service
// accounts, the message id (MsgID in events, as reports spell it), a
// report's Status and the menu reply's bizmsgmenuid.
func appendTrailerLines(b []byte, m *Message) []byte {
	b = appendOptLine(b, "KfAccount", m.KfAccount, false)
	b = appendOptLine(b, "FromKfAccount", m.FromKfAccount, false)
	b = appendOptLine(b, "ToKfAccount", m.ToKfAccount, false)
	if m.MsgID != "" {
		name := "MsgId"
		if m.IsEvent() {
			name = "MsgID"
		}
		b = appendNumLine(b, name, m.MsgID)
	}
	b = appendOptLine(b, "Status", m.Status, false)
	return appendOptLine(b, "bizmsgmenuid", m.BizMsgMenuID, false)
}

// appendOptLine appends a string field when it is set, or always when the
// message type requires the element even empty.
func appendOptLine(b []byte, name, v string, always bool) []byte {
	if v != "" || always {
		b = appendLine(b, name, v)
	}
	return b
}

// appendOptFloatLine is appendOptLine for a number, zero meaning unset.
func appendOptFloatLine(b []byte, name string, f float64, always bool) []byte {
	if f != 0 || always {
		b = appendNumLine(b, name, formatFloat(f))
	}
	return b
}

// appendOptIntLine is appendOptLine for an integer, zero meaning unset.
func appendOptIntLine(b []byte, name string, n int, always bool) []byte {
	if n != 0 || always {
		b = appendNumLine(b, name, strconv.Itoa(n))
	}
	return b
}

// encodedByStruct reports whether EncodeMessage writes the top-level element
// name from a struct field, or it is the parent of nested ones.
func encodedByStruct(name string) bool {
	switch name {
	case "ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "MsgID",
		"Content", "bizmsgmenuid", "PicUrl", "MediaId", "Format", "Recognition",
		"MediaId16K", "ThumbMediaId", "Location_X", "Location_Y", "Scale", "Label",
		"Title", "Description", "Url", "Event", "EventKey", "Ticket", "MenuId", "MenuID",
		"Latitude", "Longitude", "Precision", "KfAccount", "FromKfAccount", "ToKfAccount",
		"Status", "ScanCodeInfo", "SendPicsInfo", "SendLocationInfo":
		return true
	}
	return false
}

// isElementName reports whether name is one element name the scanner reads
// back (so not a dotted path).
func isElementName(name string) bool {
	n, end := readName(name, 0)
	return n != "" && end == len(name)
}

func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func appendLine(b []byte, name, v string) []byte {
	return append(appendElem(b, name, v), '\n')
}

func appendNumLine(b []byte, name, v string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, v)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, ">\n"...)
}

// appendElem appends <name><![CDATA[v]]></name>.
func appendElem(dst []byte, name, v string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	dst = appendCDATA(dst, v)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// appendCDATA appends s as a CDATA section, closing and reopening it inside
// each "]]>" (which a section cannot contain) so that a parser reads s back.
func appendCDATA(dst []byte, s string) []byte {
	dst = append(dst, "<![CDATA["...)
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			break
		}
		dst = appendXMLChars(dst, s[:i+2])
		dst = append(dst, "]]><![CDATA["...)
		s = s[i+2:]
	}
	dst = appendXMLChars(dst, s)
	return append(dst, "]]>"...)
}

// appendEscaped appends s as character data.
func appendEscaped(dst []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, "<>&")
		if i < 0 {
			return appendXMLChars(dst, s)
		}
		dst = appendXMLChars(dst, s[:i])
		switch s[i] {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		}
		s = s[i+1:]
	}
}

// appendXMLChars appends s with each character XML cannot carry replaced by
// U+FFFD.
func appendXMLChars(dst []byte, s string) []byte {
	for {
		i := badXMLChar(s)
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		dst = utf8.AppendRune(dst, utf8.RuneError)
		_, n := utf8.DecodeRuneInString(s[i:])
		s = s[i+n:]
	}
}

// xmlSafe returns s as a parser reads it back after appendCDATA or
// appendEscaped wrote it: characters XML cannot carry replaced, CR LF and CR
// turned into LF. It does not allocate when s needs no change.
func xmlSafe(s string) string {
	if badXMLChar(s) < 0 && strings.IndexByte(s, '\r') < 0 {
		return s
	}
	b, _ := decodeText(nil, string(appendXMLChars(nil, s)), false, true)
	return string(b)
}
