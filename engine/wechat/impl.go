package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Signature is the lower-case hex SHA-1 of parts sorted and concatenated.
func Signature(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	h := sha1.New()
	for _, p := range s {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func verify(sig string, parts ...string) bool {
	want := Signature(parts...)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(sig))) == 1
}

// VerifySignature checks signature = sha1(sort(token, timestamp, nonce)).
func VerifySignature(token, timestamp, nonce, signature string) bool {
	return verify(signature, token, timestamp, nonce)
}

// VerifyMsgSignature checks msg_signature = sha1(sort(token, timestamp, nonce, encrypt)).
func VerifyMsgSignature(token, timestamp, nonce, encrypt, msgSignature string) bool {
	return verify(msgSignature, token, timestamp, nonce, encrypt)
}

// Cipher encrypts and decrypts safe-mode messages for one AppID.
type Cipher struct {
	key   []byte
	block cipher.Block
	appID string
}

// NewCipher checks and decodes an EncodingAESKey.
func NewCipher(encodingAESKey, appID string) (*Cipher, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("%w: %d characters", ErrBadAESKey, len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: not Base64", ErrBadAESKey)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAESKey, err)
	}
	return &Cipher{key: key, block: block, appID: appID}, nil
}

// AppID is the AppID the cipher checks.
func (c *Cipher) AppID() string { return c.appID }

const padBlock = 32

// Decrypt returns the message inside a Base64 Encrypt value.
func (c *Cipher) Decrypt(encrypt string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: not Base64", ErrBadCiphertext)
	}
	if len(raw) < aes.BlockSize || len(raw)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of blocks", ErrBadCiphertext, len(raw))
	}
	cipher.NewCBCDecrypter(c.block, c.key[:16]).CryptBlocks(raw, raw)
	pad := int(raw[len(raw)-1])
	if pad < 1 || pad > padBlock || pad > len(raw) {
		return nil, fmt.Errorf("%w: bad padding", ErrBadCiphertext)
	}
	for _, b := range raw[len(raw)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrBadCiphertext)
		}
	}
	raw = raw[:len(raw)-pad]
	if len(raw) < 20 {
		return nil, fmt.Errorf("%w: too short", ErrBadCiphertext)
	}
	n := binary.BigEndian.Uint32(raw[16:20])
	if uint64(n) > uint64(len(raw)-20) {
		return nil, fmt.Errorf("%w: length prefix %d does not fit", ErrBadCiphertext, n)
	}
	msg, appID := raw[20:20+n], raw[20+n:]
	if subtle.ConstantTimeCompare(appID, []byte(c.appID)) != 1 {
		return nil, ErrAppIDMismatch
	}
	return msg, nil
}

// Encrypt returns the Base64 Encrypt value of msg; random (16 bytes) is
// drawn from crypto/rand when nil.
func (c *Cipher) Encrypt(random, msg []byte) string {
	if len(random) != 16 {
		random = make([]byte, 16)
		rand.Read(random)
	}
	n := 20 + len(msg) + len(c.appID)
	pad := padBlock - n%padBlock
	buf := make([]byte, n+pad)
	copy(buf, random)
	binary.BigEndian.PutUint32(buf[16:20], uint32(len(msg)))
	copy(buf[20:], msg)
	copy(buf[20+len(msg):], c.appID)
	for i := n; i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, c.key[:16]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// AppendEncryptedReply appends the encrypted envelope of reply.
func (c *Cipher) AppendEncryptedReply(dst []byte, token string, reply []byte, timestamp, nonce string) []byte {
	enc := c.Encrypt(nil, reply)
	dst = append(dst, "<xml><Encrypt>"...)
	dst = appendCDATA(dst, enc)
	dst = append(dst, "</Encrypt><MsgSignature>"...)
	dst = appendCDATA(dst, Signature(token, timestamp, nonce, enc))
	dst = append(dst, "</MsgSignature><TimeStamp>"...)
	dst = append(dst, timestamp...)
	dst = append(dst, "</TimeStamp><Nonce>"...)
	dst = appendCDATA(dst, nonce)
	return append(dst, "</Nonce></xml>"...)
}

// Envelope is the outside of a safe- or compatible-mode push.
type Envelope struct{ ToUserName, Encrypt string }

// ParseEnvelope reads ToUserName and Encrypt.
func ParseEnvelope(body []byte) (Envelope, error) {
	fields, err := scan(body)
	if err != nil {
		return Envelope{}, err
	}
	var e Envelope
	for _, f := range fields {
		switch f.Name {
		case "ToUserName":
			e.ToUserName = f.Value
		case "Encrypt":
			e.Encrypt = f.Value
		}
	}
	if e.Encrypt == "" {
		return e, fmt.Errorf("%w: no Encrypt", ErrMalformed)
	}
	return e, nil
}

// AppendEncryptedPush appends a safe-mode push body.
func AppendEncryptedPush(dst []byte, toUserName, encrypt string) []byte {
	dst = append(dst, "<xml><ToUserName>"...)
	dst = appendCDATA(dst, toUserName)
	dst = append(dst, "</ToUserName><Encrypt>"...)
	dst = appendCDATA(dst, encrypt)
	return append(dst, "</Encrypt></xml>"...)
}

// ReplyEnvelope is the outside of an encrypted reply.
type ReplyEnvelope struct{ Encrypt, MsgSignature, TimeStamp, Nonce string }

// ParseReplyEnvelope reads an encrypted reply.
func ParseReplyEnvelope(body []byte) (ReplyEnvelope, error) {
	var x struct {
		XMLName      xml.Name `xml:"xml"`
		Encrypt      string
		MsgSignature string
		TimeStamp    string
		Nonce        string
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		return ReplyEnvelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if x.Encrypt == "" {
		return ReplyEnvelope{}, fmt.Errorf("%w: no Encrypt", ErrMalformed)
	}
	return ReplyEnvelope{x.Encrypt, x.MsgSignature, x.TimeStamp, x.Nonce}, nil
}

// Decode reads a push.
func Decode(body []byte) (*Message, error) {
	m := new(Message)
	if err := DecodeInto(m, body); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeInto reads a push into m.
func DecodeInto(m *Message, body []byte) error {
	fields := m.Fields[:0]
	*m = Message{}
	fields, err := scanInto(fields, body)
	if err != nil {
		return err
	}
	m.Fields = fields
	var haveTime bool
	num := func(name, v string, bits int) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), bits)
		if err != nil {
			return 0, fmt.Errorf("%w: %s %q is not a number", ErrMalformed, name, v)
		}
		return f, nil
	}
	integer := func(name, v string) (int64, error) {
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s %q is not a whole number", ErrMalformed, name, v)
		}
		return i, nil
	}
	for _, f := range fields {
		v := f.Value
		var err error
		switch f.Name {
		case "ToUserName":
			m.ToUserName = v
		case "FromUserName":
			m.FromUserName = v
		case "CreateTime":
			m.CreateTime, err = integer(f.Name, v)
			haveTime = true
		case "MsgType":
			m.MsgType = strings.TrimSpace(v)
		case "MsgId", "MsgID":
			m.MsgID = strings.TrimSpace(v)
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
			m.LocationX, err = num(f.Name, v, 64)
		case "Location_Y":
			m.LocationY, err = num(f.Name, v, 64)
		case "Scale":
			var i int64
			i, err = integer(f.Name, v)
			m.Scale = int(i)
		case "Label":
			m.Label = v
		case "Title":
			m.Title = v
		case "Description":
			m.Description = v
		case "Url":
			m.URL = v
		case "Event":
			m.Event = strings.TrimSpace(v)
		case "EventKey":
			m.EventKey = v
		case "Ticket":
			m.Ticket = v
		case "MenuId", "MenuID":
			m.MenuID = v
		case "Latitude":
			m.Latitude, err = num(f.Name, v, 64)
		case "Longitude":
			m.Longitude, err = num(f.Name, v, 64)
		case "Precision":
			m.Precision, err = num(f.Name, v, 64)
		case "KfAccount":
			m.KfAccount = v
		case "FromKfAccount":
			m.FromKfAccount = v
		case "ToKfAccount":
			m.ToKfAccount = v
		case "Status":
			m.Status = v
		case "ScanCodeInfo.ScanType":
			m.ScanType = v
		case "ScanCodeInfo.ScanResult":
			m.ScanResult = v
		case "SendPicsInfo.Count":
			var i int64
			i, err = integer(f.Name, v)
			m.PicCount = int(i)
		case "SendPicsInfo.PicList.item.PicMd5Sum":
			m.PicMD5Sums = append(m.PicMD5Sums, v)
		case "SendLocationInfo.Location_X", "SendLocationInfo.Location_Y", "SendLocationInfo.Scale",
			"SendLocationInfo.Label", "SendLocationInfo.Poiname":
			if m.SendLocation == nil {
				m.SendLocation = new(SendLocation)
			}
			s := m.SendLocation
			switch f.Name[len("SendLocationInfo."):] {
			case "Location_X":
				s.X, err = num(f.Name, v, 64)
			case "Location_Y":
				s.Y, err = num(f.Name, v, 64)
			case "Scale":
				var i int64
				i, err = integer(f.Name, v)
				s.Scale = int(i)
			case "Label":
				s.Label = v
			case "Poiname":
				s.Poiname = v
			}
		}
		if err != nil {
			return err
		}
	}
	switch {
	case m.FromUserName == "":
		return fmt.Errorf("%w: no FromUserName", ErrMalformed)
	case m.MsgType == "":
		return fmt.Errorf("%w: no MsgType", ErrMalformed)
	case !haveTime:
		return fmt.Errorf("%w: no CreateTime", ErrMalformed)
	}
	return nil
}

const (
	maxDepth  = 16
	maxFields = 1024
)

func scan(body []byte) ([]Field, error) { return scanInto(nil, body) }

// scanInto reads the XML subset WeChat sends: elements, CDATA, text with
// entities, comments and a declaration. Leaves become fields named by path.
func scanInto(fields []Field, body []byte) ([]Field, error) {
	s := string(body)
	i := 0
	bad := func(why string) error { return fmt.Errorf("%w: %s at byte %d", ErrMalformed, why, i) }
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	// skipMisc skips white space, comments and processing instructions.
	skipMisc := func() error {
		for {
			skipSpace()
			switch {
			case strings.HasPrefix(s[i:], "<?"):
				j := strings.Index(s[i:], "?>")
				if j < 0 {
					return bad("unterminated <?")
				}
				i += j + 2
			case strings.HasPrefix(s[i:], "<!--"):
				j := strings.Index(s[i+4:], "-->")
				if j < 0 {
					return bad("unterminated comment")
				}
				i += 4 + j + 3
			default:
				return nil
			}
		}
	}
	if err := skipMisc(); err != nil {
		return nil, err
	}
	if strings.HasPrefix(s[i:], "<!") {
		return nil, bad("DOCTYPE or other declaration")
	}
	type elem struct {
		name   string
		path   string
		text   strings.Builder
		simple string // the text when it is one piece, to avoid a copy
		pieces int
		kids   bool
	}
	var stack []*elem
	readName := func() (string, error) {
		start := i
		for i < len(s) && !strings.ContainsRune(" \t\r\n/>", rune(s[i])) {
			i++
		}
		if i == start {
			return "", bad("empty element name")
		}
		return s[start:i], nil
	}
	rootDone := false
	for i < len(s) {
		if len(stack) == 0 {
			if rootDone {
				if err := skipMisc(); err != nil {
					return nil, err
				}
				if i < len(s) {
					return nil, bad("content after the root element")
				}
				break
			}
			if err := skipMisc(); err != nil {
				return nil, err
			}
			if i >= len(s) {
				break
			}
			if s[i] != '<' {
				return nil, bad("text outside the root element")
			}
		}
		top := func() *elem { return stack[len(stack)-1] }
		addText := func(t string) {
			e := top()
			if e.pieces == 0 {
				e.simple = t
			} else {
				if e.pieces == 1 {
					e.text.WriteString(e.simple)
				}
				e.text.WriteString(t)
			}
			e.pieces++
		}
		switch {
		case strings.HasPrefix(s[i:], "<![CDATA["):
			if len(stack) == 0 {
				return nil, bad("CDATA outside the root")
			}
			j := strings.Index(s[i+9:], "]]>")
			if j < 0 {
				return nil, bad("unterminated CDATA")
			}
			addText(s[i+9 : i+9+j])
			i += 9 + j + 3
		case strings.HasPrefix(s[i:], "<!--"):
			j := strings.Index(s[i+4:], "-->")
			if j < 0 {
				return nil, bad("unterminated comment")
			}
			i += 4 + j + 3
		case strings.HasPrefix(s[i:], "<?"):
			j := strings.Index(s[i:], "?>")
			if j < 0 {
				return nil, bad("unterminated <?")
			}
			i += j + 2
		case strings.HasPrefix(s[i:], "<!"):
			return nil, bad("declaration inside the document")
		case strings.HasPrefix(s[i:], "</"):
			i += 2
			name, err := readName()
			if err != nil {
				return nil, err
			}
			skipSpace()
			if i >= len(s) || s[i] != '>' {
				return nil, bad("bad end tag")
			}
			i++
			if len(stack) == 0 || top().name != name {
				return nil, bad("mismatched end tag </" + name + ">")
			}
			e := top()
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				stack[len(stack)-1].kids = true
			} else {
				rootDone = true
			}
			if !e.kids && len(stack) > 0 {
				v := e.simple
				if e.pieces > 1 {
					v = e.text.String()
				}
				if len(fields) >= maxFields {
					return nil, bad("too many fields")
				}
				fields = append(fields, Field{Name: e.path, Value: v})
			}
		case s[i] == '<':
			i++
			name, err := readName()
			if err != nil {
				return nil, err
			}
			// Attributes are tolerated and ignored.
			for i < len(s) && s[i] != '>' && !(s[i] == '/' && i+1 < len(s) && s[i+1] == '>') {
				if s[i] == '"' || s[i] == '\'' {
					q := s[i]
					j := strings.IndexByte(s[i+1:], q)
					if j < 0 {
						return nil, bad("unterminated attribute")
					}
					i += j + 2
					continue
				}
				i++
			}
			if i >= len(s) {
				return nil, bad("unterminated start tag")
			}
			selfClosing := s[i] == '/'
			if selfClosing {
				i += 2
			} else {
				i++
			}
			if len(stack) == 0 {
				if name != "xml" {
					return nil, bad("root element is <" + name + ">, not <xml>")
				}
			}
			if len(stack) >= maxDepth {
				return nil, bad("nested too deep")
			}
			path := name
			if len(stack) > 1 {
				path = top().path + "." + name
			} else if len(stack) == 0 {
				path = ""
			}
			if selfClosing {
				if len(stack) == 0 {
					rootDone = true
					continue
				}
				top().kids = true
				if len(fields) >= maxFields {
					return nil, bad("too many fields")
				}
				fields = append(fields, Field{Name: path})
				continue
			}
			stack = append(stack, &elem{name: name, path: path})
		default:
			if len(stack) == 0 {
				return nil, bad("text outside the root element")
			}
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				return nil, bad("unterminated element")
			}
			raw := s[i : i+j]
			i += j
			if strings.IndexByte(raw, '&') >= 0 {
				t, err := unescape(raw)
				if err != nil {
					return nil, bad(err.Error())
				}
				raw = t
			}
			if strings.TrimSpace(raw) == "" && top().kids {
				continue // indentation between children
			}
			addText(raw)
		}
	}
	if len(stack) > 0 || !rootDone {
		return nil, bad("unexpected end of document")
	}
	// White space that preceded children belongs to no leaf.
	return fields, nil
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for {
		j := strings.IndexByte(s, '&')
		if j < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:j])
		s = s[j:]
		k := strings.IndexByte(s, ';')
		if k < 0 {
			return "", errors.New("unterminated entity")
		}
		ent := s[1:k]
		s = s[k+1:]
		switch ent {
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "amp":
			b.WriteByte('&')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			if !strings.HasPrefix(ent, "#") {
				return "", fmt.Errorf("unknown entity &%s;", ent)
			}
			var n uint64
			var err error
			if strings.HasPrefix(ent, "#x") {
				n, err = strconv.ParseUint(ent[2:], 16, 32)
			} else {
				n, err = strconv.ParseUint(ent[1:], 10, 32)
			}
			if err != nil || !utf8.ValidRune(rune(n)) {
				return "", fmt.Errorf("bad character reference &%s;", ent)
			}
			b.WriteRune(rune(n))
		}
	}
}

func appendCDATA(dst []byte, s string) []byte {
	dst = append(dst, "<![CDATA["...)
	for {
		j := strings.Index(s, "]]>")
		if j < 0 {
			break
		}
		dst = append(dst, s[:j+2]...)
		dst = append(dst, "]]><![CDATA["...)
		s = s[j+2:]
	}
	dst = append(dst, s...)
	return append(dst, "]]>"...)
}

func appendElem(dst []byte, name, v string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	dst = appendCDATA(dst, v)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

func appendNum(dst []byte, name, v string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	dst = append(dst, v...)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// AppendReply appends a passive reply.
func AppendReply(dst []byte, to, from string, createTime int64, r *Reply) []byte {
	dst = append(dst, "<xml>"...)
	dst = appendElem(dst, "ToUserName", to)
	dst = appendElem(dst, "FromUserName", from)
	dst = appendNum(dst, "CreateTime", strconv.FormatInt(createTime, 10))
	dst = appendElem(dst, "MsgType", r.Type)
	switch r.Type {
	case ReplyText:
		dst = appendElem(dst, "Content", r.Content)
	case ReplyImage, ReplyVoice:
		tag := "Image"
		if r.Type == ReplyVoice {
			tag = "Voice"
		}
		dst = append(dst, "<"+tag+">"...)
		dst = appendElem(dst, "MediaId", r.MediaID)
		dst = append(dst, "</"+tag+">"...)
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
		dst = appendNum(dst, "ArticleCount", strconv.Itoa(len(r.Articles)))
		dst = append(dst, "<Articles>"...)
		for _, a := range r.Articles {
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

// ParseReply reads a passive reply with encoding/xml, independently of the
// push decoder and the reply encoder.
func ParseReply(body []byte) (to, from string, createTime int64, r *Reply, err error) {
	var x struct {
		XMLName      xml.Name `xml:"xml"`
		ToUserName   string
		FromUserName string
		CreateTime   int64
		MsgType      string
		Content      string
		Image        struct{ MediaId string }
		Voice        struct{ MediaId string }
		Video        struct{ MediaId, Title, Description string }
		Music        struct{ Title, Description, MusicUrl, HQMusicUrl, ThumbMediaId string }
		ArticleCount int
		Articles     struct {
			Item []struct{ Title, Description, PicUrl, Url string } `xml:"item"`
		}
		TransInfo struct{ KfAccount string }
	}
	if err := xml.Unmarshal(body, &x); err != nil {
		return "", "", 0, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r = &Reply{Type: x.MsgType, Content: x.Content, KfAccount: x.TransInfo.KfAccount}
	switch x.MsgType {
	case ReplyImage:
		r.MediaID = x.Image.MediaId
	case ReplyVoice:
		r.MediaID = x.Voice.MediaId
	case ReplyVideo:
		r.MediaID, r.Title, r.Description = x.Video.MediaId, x.Video.Title, x.Video.Description
	case ReplyMusic:
		m := x.Music
		r.Title, r.Description, r.MusicURL, r.HQMusicURL, r.ThumbMediaID = m.Title, m.Description, m.MusicUrl, m.HQMusicUrl, m.ThumbMediaId
	case ReplyNews:
		if x.ArticleCount != len(x.Articles.Item) {
			return "", "", 0, nil, fmt.Errorf("%w: ArticleCount %d but %d items", ErrMalformed, x.ArticleCount, len(x.Articles.Item))
		}
		for _, a := range x.Articles.Item {
			r.Articles = append(r.Articles, Article{Title: a.Title, Description: a.Description, PicURL: a.PicUrl, URL: a.Url})
		}
	}
	return x.ToUserName, x.FromUserName, x.CreateTime, r, nil
}

// EncodeMessage writes a push as WeChat does.
func EncodeMessage(m *Message) []byte {
	var b []byte
	b = append(b, "<xml>"...)
	b = appendElem(b, "ToUserName", m.ToUserName)
	b = appendElem(b, "FromUserName", m.FromUserName)
	b = appendNum(b, "CreateTime", strconv.FormatInt(m.CreateTime, 10))
	b = appendElem(b, "MsgType", m.MsgType)
	str := func(name, v string) {
		if v != "" {
			b = appendElem(b, name, v)
		}
	}
	flt := func(name string, v float64) { b = appendNum(b, name, strconv.FormatFloat(v, 'f', -1, 64)) }
	if m.IsEvent() {
		str("Event", m.Event)
		str("EventKey", m.EventKey)
		str("Ticket", m.Ticket)
		str("MenuId", m.MenuID)
		if m.ScanType != "" || m.ScanResult != "" {
			b = append(b, "<ScanCodeInfo>"...)
			b = appendElem(b, "ScanType", m.ScanType)
			b = appendElem(b, "ScanResult", m.ScanResult)
			b = append(b, "</ScanCodeInfo>"...)
		}
		if strings.EqualFold(m.Event, "LOCATION") {
			flt("Latitude", m.Latitude)
			flt("Longitude", m.Longitude)
			flt("Precision", m.Precision)
		}
		if s := m.SendLocation; s != nil {
			b = append(b, "<SendLocationInfo>"...)
			flt("Location_X", s.X)
			flt("Location_Y", s.Y)
			b = appendNum(b, "Scale", strconv.Itoa(s.Scale))
			b = appendElem(b, "Label", s.Label)
			b = appendElem(b, "Poiname", s.Poiname)
			b = append(b, "</SendLocationInfo>"...)
		}
		str("KfAccount", m.KfAccount)
		str("FromKfAccount", m.FromKfAccount)
		str("ToKfAccount", m.ToKfAccount)
		str("Status", m.Status)
		if m.MsgID != "" {
			b = appendNum(b, "MsgID", m.MsgID)
		}
	} else {
		switch m.MsgType {
		case "location":
			flt("Location_X", m.LocationX)
			flt("Location_Y", m.LocationY)
			b = appendNum(b, "Scale", strconv.Itoa(m.Scale))
			b = appendElem(b, "Label", m.Label)
		}
		str("Content", m.Content)
		str("PicUrl", m.PicURL)
		str("MediaId", m.MediaID)
		str("Format", m.Format)
		str("Recognition", m.Recognition)
		str("ThumbMediaId", m.ThumbMediaID)
		str("Title", m.Title)
		str("Description", m.Description)
		str("Url", m.URL)
		if m.MsgID != "" {
			b = appendNum(b, "MsgId", m.MsgID)
		}
	}
	return append(b, "</xml>"...)
}

var _ = bytes.Equal
