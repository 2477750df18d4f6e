package cmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

func init() {
	register(&command{
		name: "simulate",
		args: "KIND [ARG...]",
		summary: "act as the WeChat server: send one signed push to a running bot and print its reply\n" +
			"KIND: text TEXT | image | voice [RECOGNITION] | video | shortvideo | location LAT LNG [LABEL] |\n" +
			"      link TITLE URL | click KEY | view URL | subscribe [SCENE] | unsubscribe | scan SCENE |\n" +
			"      location_report LAT LNG | scancode_push KEY RESULT | scancode_waitmsg KEY RESULT |\n" +
			"      pic_sysphoto KEY | pic_photo_or_album KEY | pic_weixin KEY | location_select KEY LAT LNG [LABEL] |\n" +
			"      templatesendjobfinish [STATUS] |\n" +
			"      pay AMOUNT_FEN [OUT_TRADE_NO] (a signed WeChat Pay notification, with --pay-private-key)\n" +
			"(put -- before a negative latitude or longitude; --xml FILE sends a push of your own instead of KIND)",
		run: runSimulate,
	})
}

type simulateFlags struct {
	proto   protoFlags
	url     string
	from    string
	to      string
	msgID   string
	timeout time.Duration
	compat  bool
	xml     string
	account accountFlags
	retries bool
	// retryInterval is WeChat's wait before it tries again: 5 s; hidden,
	// so that tests play the three attempts without waiting seconds.
	retryInterval time.Duration
}

func runSimulate(ctx context.Context, env *cmdEnv, args []string) error {
	var s simulateFlags
	fs := newFlagSet(env, commands["simulate"])
	s.proto.register(fs)
	fs.StringVar(&s.url, "url", "http://127.0.0.1:8080/wechat", "the bot's callback URL")
	fs.StringVar(&s.from, "from", "oSimulatedUser000000000000000", "the sender's OpenID")
	fs.StringVar(&s.to, "to", "gh_simulated0000", "the account's original id (ToUserName)")
	fs.StringVar(&s.msgID, "msg-id", "", "MsgId of a message push (random when empty); repeat it to simulate a retry")
	fs.DurationVar(&s.timeout, "timeout", 10*time.Second, "how long to wait for the reply")
	fs.BoolVar(&s.compat, "compat", false, "with --aes-key: compatible mode (the plaintext beside the ciphertext) instead of safe mode")
	fs.StringVar(&s.xml, "xml", "", "send this file's push XML (signed, and encrypted with --aes-key) instead of a KIND")
	fs.BoolVar(&s.retries, "retries", false, "play WeChat's three attempts: the same push (same MsgId) again while no answer came within 5s, printing each attempt's time")
	fs.DurationVar(&s.retryInterval, "retry-interval", wechatRetryInterval, "how long WeChat waits for an answer before it tries again")
	fs.hide("retry-interval")
	s.account.register(fs)
	var pay simulatePayFlags
	pay.register(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := s.forAccount(env, fs); err != nil {
		return err
	}
	if len(pos) > 0 && pos[0] == "pay" { // WeChat Pay, not the callback: no --token
		return runSimulatePay(ctx, env, fs, &s, &pay, pos[1:])
	}
	if err := s.proto.check(); err != nil {
		return err
	}
	body, err := s.pushBody(pos)
	if err != nil {
		return err
	}
	var cipher *wechat.Cipher
	if s.proto.aesKey != "" {
		if cipher, err = wechat.NewCipher(s.proto.aesKey, s.proto.appID); err != nil {
			return usagef("--aes-key: %v", err)
		}
	} else if s.compat {
		return usagef("--compat needs --aes-key (and --appid)")
	}
	answer, err := s.deliver(ctx, env, cipher, body)
	if err != nil {
		return err
	}
	return printReply(env, s.proto.token, cipher, answer)
}

// pushBody is the plaintext push: the --xml file, or a KIND built with the
// flags' sender and account.
func (s *simulateFlags) pushBody(pos []string) ([]byte, error) {
	if s.xml != "" {
		if len(pos) > 0 {
			return nil, usagef("--xml sends the file's push; drop the KIND %q", pos[0])
		}
		b, err := os.ReadFile(s.xml)
		if err != nil {
			return nil, fmt.Errorf("--xml: %w", err)
		}
		return b, nil
	}
	if len(pos) == 0 {
		return nil, usagef("which KIND of push? (%s, pay), or --xml FILE", strings.Join(simulateKinds, ", "))
	}
	m, err := simulatedMessage(pos[0], pos[1:])
	if err != nil {
		return nil, err
	}
	m.FromUserName, m.ToUserName, m.CreateTime = s.from, s.to, time.Now().Unix()
	if !m.IsEvent() {
		m.MsgID = s.msgID
		if m.MsgID == "" {
			m.MsgID = randomDigits(19)
		}
	}
	return wechat.EncodeMessage(m), nil
}

// refusalHints say what to check when the bot refuses a push, by its
// public answer: the bot says why in a word, never with a secret.
var refusalHints = []struct {
	status int
	body   string
	hint   string
}{
	{http.StatusUnauthorized, "bad signature", "check --token: it must be the bot's Token"},
	{http.StatusBadRequest, "cannot decrypt", "check --aes-key and --appid: they must be the bot's EncodingAESKey and AppID"},
	{http.StatusBadRequest, "accounts differ", "the envelope's ToUserName and the message's differ: check --xml"},
	{http.StatusBadRequest, "not a WeChat message", "the bot could not read the push as WeChat XML (check --xml, or --aes-key if the bot has none)"},
	{http.StatusBadRequest, "timestamp", "the timestamp is not a number"},
	{http.StatusForbidden, "stale timestamp", "this machine's clock and the bot's differ by more than the bot's --max-skew (check NTP)"},
	{http.StatusForbidden, "encryption required", "the bot runs with --require-encryption: pass --aes-key and --appid"},
	{http.StatusRequestEntityTooLarge, "", "the push is over 1 MiB"},
	{http.StatusNotFound, "", "nothing answers at that path: check --url against the bot's --path (/wechat by default)"},
	{http.StatusMethodNotAllowed, "", "check --url against the bot's --path (/wechat by default)"},
}

// refusedPush says why the bot refused the push and what to check.
func refusedPush(status int, statusText, body string) error {
	for _, h := range refusalHints {
		if h.status == status && strings.Contains(body, h.body) {
			return fmt.Errorf("the bot answered %s (%s): %s", statusText, body, h.hint)
		}
	}
	return fmt.Errorf("the bot answered %s: %s", statusText, body)
}

// simulateKinds are the KINDs simulate builds (pay aside).
var simulateKinds = []string{"text", "image", "voice", "video", "shortvideo", "location", "link", "click", "view",
	"subscribe", "unsubscribe", "scan", "location_report", "scancode_push", "scancode_waitmsg",
	"pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select", "templatesendjobfinish",
	"kf_create_session", "kf_switch_session", "kf_close_session"}

// simulatedKfEvent is an agent's session starting or ending: what WeChat
// pushes when a person takes or ends the conversation (客服).
func simulatedKfEvent(a *kindArgs) *wechat.Message {
	a.want(1, 1, "KF_ACCOUNT")
	m := simulatedEvent(a.kind, "")
	m.KfAccount = a.arg(0)
	return m
}

// simulatedMessage builds the push of one KIND.
func simulatedMessage(kind string, args []string) (*wechat.Message, error) {
	build, ok := simulateBuilders[kind]
	if !ok {
		return nil, usagef("unknown KIND %q (%s, pay)", kind, strings.Join(simulateKinds, ", "))
	}
	a := &kindArgs{kind: kind, args: args}
	m := build(a)
	return m, a.err
}

// kindArgs are the arguments of a KIND. err keeps the first thing wrong
// with them, so that a builder reads on and the user hears of one problem.
type kindArgs struct {
	kind string
	args []string
	err  error
}

// want checks the number of arguments against the KIND's usage; a builder
// that cannot go on without them tests the result.
func (a *kindArgs) want(min, max int, usage string) bool {
	if len(a.args) < min || len(a.args) > max {
		a.err = usagef("simulate %s %s", a.kind, usage)
	}
	return a.err == nil
}

// arg is the i-th argument, or "" for an optional one not given.
func (a *kindArgs) arg(i int) string {
	if i < len(a.args) {
		return a.args[i]
	}
	return ""
}

// float reads a coordinate; the first bad number is the error.
func (a *kindArgs) float(i int, what string) float64 {
	f, err := strconv.ParseFloat(a.arg(i), 64)
	if err != nil && a.err == nil {
		a.err = usagef("simulate %s: %s %q is not a number", a.kind, what, a.arg(i))
	}
	return f
}

// simulatedEvent is the start of every event push: the rest is the KIND's.
func simulatedEvent(name, key string) *wechat.Message {
	return &wechat.Message{MsgType: "event", Event: name, EventKey: key}
}

// simulateBuilders build each KIND's push from its arguments, a table so
// that a new KIND is one entry. A builder may return a message beside a
// usage error: the error wins.
var simulateBuilders = map[string]func(a *kindArgs) *wechat.Message{
	"text": func(a *kindArgs) *wechat.Message {
		if len(a.args) > 1 {
			a.err = usagef("simulate text takes the TEXT as one argument: quote it, as in simulate text '%s'", strings.Join(a.args, " "))
			return nil
		}
		a.want(1, 1, "TEXT")
		return &wechat.Message{MsgType: "text", Content: a.arg(0)}
	},
	"image": func(a *kindArgs) *wechat.Message {
		a.want(0, 0, "")
		return &wechat.Message{MsgType: "image", PicURL: "http://mmbiz.qpic.cn/simulated.jpg", MediaID: "simulated_media_id"}
	},
	"voice": func(a *kindArgs) *wechat.Message {
		a.want(0, 1, "[RECOGNITION]")
		return &wechat.Message{MsgType: "voice", MediaID: "simulated_media_id", Format: "amr", Recognition: a.arg(0)}
	},
	"video":      simulatedVideo,
	"shortvideo": simulatedVideo,
	"location": func(a *kindArgs) *wechat.Message {
		m := &wechat.Message{MsgType: "location", Label: a.arg(2), Scale: 15}
		if a.want(2, 3, "LAT LNG [LABEL]") {
			m.LocationX, m.LocationY = a.float(0, "latitude"), a.float(1, "longitude")
		}
		return m
	},
	"link": func(a *kindArgs) *wechat.Message {
		a.want(2, 2, "TITLE URL")
		return &wechat.Message{MsgType: "link", Title: a.arg(0), Description: a.arg(0), URL: a.arg(1)}
	},
	"click": func(a *kindArgs) *wechat.Message {
		a.want(1, 1, "KEY")
		return simulatedEvent("CLICK", a.arg(0))
	},
	"view": func(a *kindArgs) *wechat.Message {
		a.want(1, 1, "URL")
		return simulatedEvent("VIEW", a.arg(0))
	},
	"subscribe": func(a *kindArgs) *wechat.Message {
		a.want(0, 1, "[SCENE]")
		m := simulatedEvent("subscribe", "")
		if s := a.arg(0); s != "" {
			m.EventKey, m.Ticket = "qrscene_"+s, "gQSimulatedTicket"
		}
		return m
	},
	"unsubscribe": func(a *kindArgs) *wechat.Message {
		a.want(0, 0, "")
		return simulatedEvent("unsubscribe", "")
	},
	"scan": func(a *kindArgs) *wechat.Message {
		a.want(1, 1, "SCENE")
		m := simulatedEvent("SCAN", a.arg(0))
		m.Ticket = "gQSimulatedTicket"
		return m
	},
	"location_report": func(a *kindArgs) *wechat.Message {
		if !a.want(2, 2, "LAT LNG") {
			return nil
		}
		m := simulatedEvent("LOCATION", "")
		m.Latitude, m.Longitude, m.Precision = a.float(0, "latitude"), a.float(1, "longitude"), 30
		return m
	},
	"kf_create_session": simulatedKfEvent,
	"kf_close_session":  simulatedKfEvent,
	"kf_switch_session": func(a *kindArgs) *wechat.Message {
		a.want(2, 2, "FROM_KF_ACCOUNT TO_KF_ACCOUNT")
		m := simulatedEvent(a.kind, "")
		m.FromKfAccount, m.ToKfAccount = a.arg(0), a.arg(1)
		return m
	},
	"scancode_push":      simulatedScancode,
	"scancode_waitmsg":   simulatedScancode,
	"pic_sysphoto":       simulatedPicEvent,
	"pic_photo_or_album": simulatedPicEvent,
	"pic_weixin":         simulatedPicEvent,
	"location_select": func(a *kindArgs) *wechat.Message {
		if !a.want(3, 4, "KEY LAT LNG [LABEL]") {
			return nil
		}
		m := simulatedEvent(a.kind, a.arg(0))
		m.SendLocation = &wechat.SendLocation{X: a.float(1, "latitude"), Y: a.float(2, "longitude"), Scale: 15, Label: a.arg(3)}
		return m
	},
	"templatesendjobfinish": func(a *kindArgs) *wechat.Message {
		a.want(0, 1, "[STATUS]")
		m := simulatedEvent("TEMPLATESENDJOBFINISH", "")
		m.MsgID, m.Status = randomDigits(10), "success"
		if s := a.arg(0); s != "" {
			m.Status = s
		}
		return m
	},
}

// simulatedVideo builds video and shortvideo, which differ in MsgType only.
func simulatedVideo(a *kindArgs) *wechat.Message {
	a.want(0, 0, "")
	return &wechat.Message{MsgType: a.kind, MediaID: "simulated_media_id", ThumbMediaID: "simulated_thumb_id"}
}

// simulatedPicEvent builds the three photo-menu events, which differ in
// their name only.
func simulatedPicEvent(a *kindArgs) *wechat.Message {
	a.want(1, 1, "KEY")
	m := simulatedEvent(a.kind, a.arg(0))
	m.PicCount, m.PicMD5Sums = 1, []string{"1b5f7c23b5bf75682a53e7b6d163e185"}
	return m
}

// simulatedScancode builds the two scan-menu events, which differ in their
// name only.
func simulatedScancode(a *kindArgs) *wechat.Message {
	a.want(2, 2, "KEY RESULT")
	m := simulatedEvent(a.kind, a.arg(0))
	m.ScanType, m.ScanResult = "qrcode", a.arg(1)
	return m
}

// SignedPush builds the POST WeChat would send for m: signed with token, and
// encrypted in safe mode when cipher is not nil. The load generator uses it
// too.
func SignedPush(ctx context.Context, target, token string, cipher *wechat.Cipher, m *wechat.Message) (*http.Request, error) {
	return signedRequest(ctx, target, token, cipher, false, wechat.EncodeMessage(m))
}

// signedRequest signs body as WeChat would; with cipher, it encrypts it in
// safe mode, or with compat in compatible mode (the plaintext fields stay,
// beside the ciphertext).
func signedRequest(ctx context.Context, target, token string, cipher *wechat.Cipher, compat bool, body []byte) (*http.Request, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--url %q: want an http:// or https:// URL", target)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := randomDigits(16) // wide: a nonce seen twice in one second is a replay to the bot
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("signature", wechat.Signature(token, ts, nonce))
	if from := between(body, "<FromUserName><![CDATA[", "]]>"); from != "" {
		q.Set("openid", from)
	}
	if cipher != nil {
		enc := cipher.Encrypt(nil, body)
		if i := bytes.LastIndex(body, []byte("</xml>")); compat && i >= 0 {
			body = append(append(append([]byte(nil), body[:i]...), "<Encrypt><![CDATA["+enc+"]]></Encrypt>\n"...), body[i:]...)
		} else {
			body = wechat.AppendEncryptedPush(nil, between(body, "<ToUserName><![CDATA[", "]]>"), enc)
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wechat.Signature(token, ts, nonce, enc))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "Mozilla/4.0 (wxbot simulate)")
	return req, nil
}

// printReply shows the bot's answer the way an operator wants to read it.
func printReply(env *cmdEnv, token string, cipher *wechat.Cipher, body []byte) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || string(b) == "success" {
		fmt.Fprintln(env.stdout, "no reply (the bot answered \"success\")")
		return nil
	}
	if bytes.Contains(b, []byte("<Encrypt>")) {
		if cipher == nil {
			return fmt.Errorf("the reply is encrypted but no --aes-key was given")
		}
		e, err := wechat.ParseReplyEnvelope(b)
		if err != nil {
			return fmt.Errorf("reading the encrypted reply: %w", err)
		}
		if !wechat.VerifyMsgSignature(token, e.TimeStamp, e.Nonce, e.Encrypt, e.MsgSignature) {
			return fmt.Errorf("the reply's MsgSignature does not match: %w", wechat.ErrBadSignature)
		}
		if b, err = cipher.Decrypt(e.Encrypt); err != nil {
			return fmt.Errorf("decrypting the reply: %w", err)
		}
		fmt.Fprintln(env.stdout, "encrypted: yes (MsgSignature verified)")
	}
	to, from, created, r, err := wechat.ParseReply(b)
	if err != nil {
		return fmt.Errorf("the reply is not valid reply XML: %w\n%s", err, b)
	}
	w := env.stdout
	fmt.Fprintf(w, "type: %s\nto: %s\nfrom: %s\ncreated: %s\n", r.Type, to, from, time.Unix(created, 0).Format(time.RFC3339))
	writeReplyFields(w, "", r)
	return nil
}

// writeReplyFields writes a reply's content, one field a line, as simulate
// and explain show it.
func writeReplyFields(w io.Writer, indent string, r *wechat.Reply) {
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s%s: %s\n", indent, name, v)
		}
	}
	field("content", r.Content)
	field("media_id", r.MediaID)
	field("title", r.Title)
	field("description", r.Description)
	field("music_url", r.MusicURL)
	field("hq_music_url", r.HQMusicURL)
	field("thumb_media_id", r.ThumbMediaID)
	field("kf_account", r.KfAccount)
	for i, a := range r.Articles {
		fmt.Fprintf(w, "%sarticle %d: %s | %s | %s | %s\n", indent, i+1, a.Title, a.Description, a.URL, a.PicURL)
	}
}

// between returns the text of b between the first open and the close after
// it, or "".
func between(b []byte, open, close string) string {
	_, rest, ok := bytes.Cut(b, []byte(open))
	if !ok {
		return ""
	}
	v, _, _ := bytes.Cut(rest, []byte(close))
	return string(v)
}

func randomDigits(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		if i == 0 && d.Int64() == 0 {
			d = big.NewInt(1)
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

// forAccount takes the token, AES key, AppID and gh_id of --account from
// the accounts file, and sends to the account's path: --url's, with
// "/NAME" added unless it ends with it.
func (s *simulateFlags) forAccount(env *cmdEnv, fs *flagSet) error {
	a, ok, err := s.account.load(env)
	if err != nil || !ok {
		return err
	}
	if err := refuseWith(fs, a.Name, "token", "aes-key", "appid"); err != nil {
		return err
	}
	s.proto.token, s.proto.aesKey, s.proto.appID = string(a.Token), string(a.AESKey), a.AppID
	if a.AESKey == "" {
		s.proto.appID = "" // plaintext: the AppID only names the key
	}
	to := false
	fs.Visit(func(f *flag.Flag) { to = to || f.Name == "to" })
	if a.GhID != "" && !to {
		s.to = a.GhID
	}
	if !strings.HasSuffix(strings.TrimSuffix(s.url, "/"), "/"+a.Name) {
		s.url = strings.TrimSuffix(s.url, "/") + "/" + a.Name
	}
	return nil
}
