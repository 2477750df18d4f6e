package cmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
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
			"KIND: text TEXT | click KEY | subscribe [SCENE] | unsubscribe | scan SCENE |\n" +
			"      scancode_push KEY RESULT | scancode_waitmsg KEY RESULT | location LAT LNG [LABEL] |\n" +
			"      image | voice [RECOGNITION] | view URL |\n" +
			"      pay AMOUNT_FEN [OUT_TRADE_NO] (a signed WeChat Pay notification, with --pay-private-key)\n" +
			"(put -- before a negative latitude or longitude)",
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
	var pay simulatePayFlags
	pay.register(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 && pos[0] == "pay" { // WeChat Pay, not the callback: no --token
		return runSimulatePay(ctx, env, fs, &s, &pay, pos[1:])
	}
	if err := s.proto.check(); err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("which KIND of push? (text, click, subscribe, unsubscribe, scan, scancode_push, scancode_waitmsg, location, image, voice, view, pay)")
	}
	m, err := simulatedMessage(pos[0], pos[1:])
	if err != nil {
		return err
	}
	m.FromUserName, m.ToUserName, m.CreateTime = s.from, s.to, time.Now().Unix()
	if !m.IsEvent() {
		m.MsgID = s.msgID
		if m.MsgID == "" {
			m.MsgID = randomDigits(19)
		}
	}
	var cipher *wechat.Cipher
	if s.proto.aesKey != "" {
		if cipher, err = wechat.NewCipher(s.proto.aesKey, s.proto.appID); err != nil {
			return usagef("--aes-key: %v", err)
		}
	}
	req, err := SignedPush(ctx, s.url, s.proto.token, cipher, m)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: s.timeout}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sending the push: %w (is `wxbot serve` running at %s?)", err, s.url)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the bot answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return printReply(env, s.proto.token, cipher, body)
}

// simulatedMessage builds the push of one KIND.
func simulatedMessage(kind string, args []string) (*wechat.Message, error) {
	want := func(min, max int, usage string) error {
		if len(args) < min || len(args) > max {
			return usagef("simulate %s %s", kind, usage)
		}
		return nil
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	event := func(name, key string) *wechat.Message {
		return &wechat.Message{MsgType: "event", Event: name, EventKey: key}
	}
	var m *wechat.Message
	var err error
	switch kind {
	case "text":
		err = want(1, 1, "TEXT")
		m = &wechat.Message{MsgType: "text", Content: arg(0)}
	case "click":
		err = want(1, 1, "KEY")
		m = event("CLICK", arg(0))
	case "view":
		err = want(1, 1, "URL")
		m = event("VIEW", arg(0))
	case "subscribe":
		err = want(0, 1, "[SCENE]")
		m = event("subscribe", "")
		if s := arg(0); s != "" {
			m.EventKey, m.Ticket = "qrscene_"+s, "gQSimulatedTicket"
		}
	case "unsubscribe":
		err = want(0, 0, "")
		m = event("unsubscribe", "")
	case "scan":
		err = want(1, 1, "SCENE")
		m = event("SCAN", arg(0))
		m.Ticket = "gQSimulatedTicket"
	case "scancode_push", "scancode_waitmsg":
		err = want(2, 2, "KEY RESULT")
		m = event(kind, arg(0))
		m.ScanType, m.ScanResult = "qrcode", arg(1)
	case "location":
		err = want(2, 3, "LAT LNG [LABEL]")
		m = &wechat.Message{MsgType: "location", Label: arg(2), Scale: 15}
		if err == nil {
			if m.LocationX, err = strconv.ParseFloat(arg(0), 64); err != nil {
				return nil, usagef("simulate location: latitude %q is not a number", arg(0))
			}
			if m.LocationY, err = strconv.ParseFloat(arg(1), 64); err != nil {
				return nil, usagef("simulate location: longitude %q is not a number", arg(1))
			}
		}
	case "image":
		err = want(0, 0, "")
		m = &wechat.Message{MsgType: "image", PicURL: "http://mmbiz.qpic.cn/simulated.jpg", MediaID: "simulated_media_id"}
	case "voice":
		err = want(0, 1, "[RECOGNITION]")
		m = &wechat.Message{MsgType: "voice", MediaID: "simulated_media_id", Format: "amr", Recognition: arg(0)}
	default:
		return nil, usagef("unknown KIND %q (text, click, subscribe, unsubscribe, scan, scancode_push, scancode_waitmsg, location, image, voice, view, pay)", kind)
	}
	return m, err
}

// SignedPush builds the POST WeChat would send for m: signed with token, and
// encrypted in safe mode when cipher is not nil. The load generator uses it
// too.
func SignedPush(ctx context.Context, target, token string, cipher *wechat.Cipher, m *wechat.Message) (*http.Request, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--url %q: want an http:// or https:// URL", target)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := randomDigits(10)
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("signature", wechat.Signature(token, ts, nonce))
	q.Set("openid", m.FromUserName)
	body := wechat.EncodeMessage(m)
	if cipher != nil {
		enc := cipher.Encrypt(nil, body)
		body = wechat.AppendEncryptedPush(nil, m.ToUserName, enc)
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
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s: %s\n", name, v)
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
		fmt.Fprintf(w, "article %d: %s | %s | %s | %s\n", i+1, a.Title, a.Description, a.URL, a.PicURL)
	}
	return nil
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
