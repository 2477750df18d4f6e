package wechat

import (
	"bytes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// The vector of wechatpy tests/test_crypto.py (§4.4 of the protocol notes).
// It comes from WeCom, whose construction is the same with the CorpID where
// an Official Account has its AppID.
const (
	vectorToken        = "123456"
	vectorKey          = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
	vectorAppID        = "wx49f0ab532d5d035a"
	vectorTimestamp    = "1411525903"
	vectorNonce        = "461056294"
	vectorEncrypt      = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
	vectorMsgSignature = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
	vectorPlain        = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n" +
		"<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n" +
		"<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n" +
		"<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>"
	// The body of the push in wechatpy's test.
	vectorPush = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[" + vectorEncrypt +
		"]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>"

	// wechatpy's reply, encrypted with the random prefix "1234567890123456".
	vectorRandom = "1234567890123456"
	vectorReply  = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n" +
		"<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n" +
		"<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
	vectorReplyEncrypt      = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
	vectorReplyMsgSignature = "407518b7649e86ef23978113f92d27afa9296533"
)

func vectorCipher(t testing.TB) *Cipher {
	t.Helper()
	c, err := NewCipher(vectorKey, vectorAppID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawDecrypt undoes Base64 and AES-CBC only, to look at the padding.
func rawDecrypt(t testing.TB, c *Cipher, encrypt string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		t.Fatal(err)
	}
	cipher.NewCBCDecrypter(c.block, c.iv[:]).CryptBlocks(raw, raw)
	return raw
}

// rawEncrypt is the inverse of rawDecrypt, for building bad plaintexts.
func rawEncrypt(c *Cipher, plain []byte) string {
	buf := append([]byte(nil), plain...)
	cipher.NewCBCEncrypter(c.block, c.iv[:]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

func TestDecryptVector(t *testing.T) {
	c := vectorCipher(t)
	if !VerifyMsgSignature(vectorToken, vectorTimestamp, vectorNonce, vectorEncrypt, vectorMsgSignature) {
		t.Fatal("msg_signature of the vector rejected")
	}
	env, err := ParseEnvelope([]byte(vectorPush))
	if err != nil || env.Encrypt != vectorEncrypt || env.ToUserName != vectorAppID {
		t.Fatalf("ParseEnvelope = %+v, %v", env, err)
	}
	msg, err := c.Decrypt(env.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != vectorPlain || len(msg) != 281 {
		t.Fatalf("Decrypt = %d bytes %q", len(msg), msg)
	}
	if raw := rawDecrypt(t, c, vectorEncrypt); raw[len(raw)-1] != 1 {
		t.Errorf("pad value %d, want 1", raw[len(raw)-1])
	}
	m, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if m.MsgID != "4363689963896700987" || m.Content != "test" || m.FromUserName != "messense" || m.CreateTime != 1411525903 {
		t.Errorf("decoded %+v", m)
	}
}

func TestEncryptVector(t *testing.T) {
	c := vectorCipher(t)
	got := c.Encrypt([]byte(vectorRandom), []byte(vectorReply))
	if got != vectorReplyEncrypt {
		t.Fatalf("Encrypt = %s\nwant %s", got, vectorReplyEncrypt)
	}
	if sig := Signature(vectorToken, vectorTimestamp, vectorNonce, got); sig != vectorReplyMsgSignature {
		t.Errorf("MsgSignature = %s, want %s", sig, vectorReplyMsgSignature)
	}
}

func TestDecryptWrongAppID(t *testing.T) {
	c, err := NewCipher(vectorKey, "wx0000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decrypt(vectorEncrypt); !errors.Is(err, ErrAppIDMismatch) || !strings.Contains(err.Error(), vectorAppID) {
		t.Errorf("err = %v, want ErrAppIDMismatch naming %s", err, vectorAppID)
	}
	other := vectorCipher(t).Encrypt(nil, []byte("<xml/>"))
	if _, err := c.Decrypt(other); !errors.Is(err, ErrAppIDMismatch) {
		t.Errorf("err = %v, want ErrAppIDMismatch", err)
	}
}

func TestEveryPadValue(t *testing.T) {
	c := vectorCipher(t)
	for pad := 1; pad <= padBlock; pad++ {
		// random + length + msg + AppID must leave pad bytes to the next 32.
		n := ((padBlock-pad-randomLen-lenLen-len(vectorAppID))%padBlock + 2*padBlock) % padBlock
		msg := bytes.Repeat([]byte{'m'}, n+padBlock)
		enc := c.Encrypt(nil, msg)
		if raw := rawDecrypt(t, c, enc); int(raw[len(raw)-1]) != pad || len(raw)%padBlock != 0 {
			t.Fatalf("pad %d: got pad value %d in %d bytes", pad, raw[len(raw)-1], len(raw))
		}
		got, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("pad %d: Decrypt = %q, %v", pad, got, err)
		}
	}
}

func TestDecryptBadCiphertext(t *testing.T) {
	c := vectorCipher(t)
	plain := func(msgLen uint32, msg string, pad []byte) []byte {
		b := []byte(vectorRandom)
		b = append(b, byte(msgLen>>24), byte(msgLen>>16), byte(msgLen>>8), byte(msgLen))
		b = append(b, msg...)
		b = append(b, vectorAppID...)
		return append(b, pad...)
	}
	padTo32 := func(b []byte) []byte {
		p := padBlock - len(b)%padBlock
		return append(b, bytes.Repeat([]byte{byte(p)}, p)...)
	}
	body := plain(6, "<xml/>", nil) // 44 bytes: 20 of padding to 64
	tests := []struct{ name, encrypt string }{
		{"empty", ""},
		{"not Base64", "not base64!"},
		{"Base64 URL alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(vectorEncrypt)},
		{"unpadded Base64", strings.TrimRight(vectorEncrypt, "=")},
		{"15 bytes", base64.StdEncoding.EncodeToString(make([]byte, 15))},
		{"17 bytes", base64.StdEncoding.EncodeToString(make([]byte, 17))},
		{"truncated", vectorEncrypt[:len(vectorEncrypt)-24]},
		{"pad 0", rawEncrypt(c, append(body, make([]byte, 20)...))},
		{"pad 33", rawEncrypt(c, append(append(body, make([]byte, 51)...), bytes.Repeat([]byte{33}, 1)...))},
		{"pad bytes differ", rawEncrypt(c, append(body, append(bytes.Repeat([]byte{20}, 19), 21)...))},
		{"pad bytes differ early", rawEncrypt(c, append(body, append([]byte{19}, bytes.Repeat([]byte{20}, 19)...)...))},
		{"pad all", rawEncrypt(c, bytes.Repeat([]byte{16}, 16))},
		{"too short", rawEncrypt(c, padTo32(make([]byte, 19)))},
		{"length past end", rawEncrypt(c, padTo32(plain(1000, "<xml/>", nil)))},
		{"length 2^32-1", rawEncrypt(c, padTo32(plain(0xffffffff, "<xml/>", nil)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := c.Decrypt(tt.encrypt)
			if !errors.Is(err, ErrBadCiphertext) {
				t.Errorf("Decrypt = %q, %v; want ErrBadCiphertext", msg, err)
			}
		})
	}
	// The good version of the hand-built plaintext decrypts, so the cases
	// above fail for the reason they name.
	if msg, err := c.Decrypt(rawEncrypt(c, padTo32(body))); err != nil || string(msg) != "<xml/>" {
		t.Errorf("hand-built plaintext: %q, %v", msg, err)
	}
	// A length that leaves the AppID short is a mismatch, not a crash.
	if _, err := c.Decrypt(rawEncrypt(c, padTo32(plain(7, "<xml/>", nil)))); !errors.Is(err, ErrAppIDMismatch) {
		t.Errorf("err = %v, want ErrAppIDMismatch", err)
	}
}

func TestNewCipherBadKeys(t *testing.T) {
	tests := []struct{ name, key string }{
		{"empty", ""},
		{"42 characters", vectorKey[:42]},
		{"44 characters", vectorKey + "A"},
		{"with padding", vectorKey[:42] + "="},
		{"not Base64", vectorKey[:42] + "!"},
		{"newline", vectorKey[:21] + "\n" + vectorKey[22:]},
		{"Chinese", "密钥" + vectorKey[6:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCipher(tt.key, vectorAppID)
			if !errors.Is(err, ErrBadAESKey) {
				t.Fatalf("NewCipher = %v, %v; want ErrBadAESKey", c, err)
			}
			if len(tt.key) > 4 && strings.Contains(err.Error(), tt.key[:len(tt.key)-2]) {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
	c := vectorCipher(t)
	if c.AppID() != vectorAppID {
		t.Errorf("AppID = %q", c.AppID())
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	c := vectorCipher(t)
	for _, msg := range []string{"", "a", vectorPlain, strings.Repeat("长消息", 2000)} {
		a, b := c.Encrypt(nil, []byte(msg)), c.Encrypt(nil, []byte(msg))
		if a == b {
			t.Errorf("two encryptions of %q are equal: the random prefix is not random", msg)
		}
		for _, enc := range []string{a, b} {
			got, err := c.Decrypt(enc)
			if err != nil || string(got) != msg {
				t.Errorf("Decrypt(Encrypt(%.20q)) = %.20q, %v", msg, got, err)
			}
		}
	}
}

// TestCipherConcurrent: one Cipher serves many pushes at once (its modes
// and buffers are pooled), each round trip intact, the vector still right.
func TestCipherConcurrent(t *testing.T) {
	c := vectorCipher(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				msg := strings.Repeat(fmt.Sprint("消息", g, "-", i), 1+i%40)
				reply := c.AppendEncryptedReply(nil, "tok", []byte(msg), "1409304348", "xxxxxx")
				env, err := ParseEnvelope(reply)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := c.Decrypt(env.Encrypt); err != nil || string(got) != msg {
					t.Errorf("round trip of %.20q: %.20q, %v", msg, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := c.Encrypt([]byte(vectorRandom), []byte(vectorReply)); got != vectorReplyEncrypt {
		t.Errorf("after concurrent use, the vector encrypts to %s", got)
	}
}

func TestEncryptPanicsOnShortRandom(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a 15-byte random")
		}
	}()
	vectorCipher(t).Encrypt(make([]byte, 15), nil)
}

func TestEncryptedReplyRoundTrip(t *testing.T) {
	c := vectorCipher(t)
	tests := []struct{ name, timestamp, nonce string }{
		{"WeChat's values", vectorTimestamp, vectorNonce},
		{"empty", "", ""},
		// Values an attacker cannot sign (they lack the Token), but the
		// envelope must stay well-formed and self-consistent anyway.
		{"markup", "1<2&3>", "a]]>b<c"},
		{"control characters", "1\x00", "\x01\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Reply{Type: ReplyText, Content: "你好 ]]> <&>"}
			plain := AppendReply(nil, testOpenID, testGh, 1700000000, r)
			body := c.AppendEncryptedReply([]byte("prefix"), vectorToken, plain, tt.timestamp, tt.nonce)
			if !bytes.HasPrefix(body, []byte("prefix<xml><Encrypt><![CDATA[")) || !bytes.HasSuffix(body, []byte("]]></Nonce></xml>")) {
				t.Fatalf("layout: %s", body)
			}
			env, err := ParseReplyEnvelope(body[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if env.TimeStamp != xmlSafe(tt.timestamp) || env.Nonce != xmlSafe(tt.nonce) {
				t.Errorf("TimeStamp %q Nonce %q, want %q %q", env.TimeStamp, env.Nonce, tt.timestamp, tt.nonce)
			}
			if !VerifyMsgSignature(vectorToken, env.TimeStamp, env.Nonce, env.Encrypt, env.MsgSignature) {
				t.Fatalf("MsgSignature does not verify over the values written: %s", body)
			}
			got, err := c.Decrypt(env.Encrypt)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("Decrypt = %q, %v", got, err)
			}
			to, from, created, r2, err := ParseReply(got)
			if err != nil || to != testOpenID || from != testGh || created != 1700000000 || r2.Content != r.Content {
				t.Errorf("ParseReply = %q %q %d %+v %v", to, from, created, r2, err)
			}
		})
	}
	if got := string(c.AppendEncryptedReply(nil, "t", nil, "1411525903", "461056294")); !strings.Contains(got,
		"</Encrypt><MsgSignature><![CDATA[") || !strings.Contains(got, "<TimeStamp>1411525903</TimeStamp><Nonce><![CDATA[461056294]]></Nonce>") {
		t.Errorf("layout: %s", got)
	}
}

func TestParseEnvelope(t *testing.T) {
	c := vectorCipher(t)
	plain := EncodeMessage(&Message{ToUserName: testGh, FromUserName: testOpenID, CreateTime: 1, MsgType: "text", Content: "hi", MsgID: "1"})
	enc := c.Encrypt(nil, plain)
	// Compatible mode: plaintext fields and Encrypt side by side.
	compatible := bytes.Replace(plain, []byte("</xml>"), []byte("<Encrypt><![CDATA["+enc+"]]></Encrypt>\n</xml>"), 1)
	tests := []struct {
		name string
		body string
		want Envelope
	}{
		{"safe", string(AppendEncryptedPush(nil, testGh, enc)), Envelope{testGh, enc}},
		{"compatible", string(compatible), Envelope{testGh, enc}},
		{"wechatpy", vectorPush, Envelope{vectorAppID, vectorEncrypt}},
		{"no ToUserName", "<xml><Encrypt>abc</Encrypt></xml>", Envelope{"", "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := ParseEnvelope([]byte(tt.body))
			if err != nil || env != tt.want {
				t.Fatalf("ParseEnvelope = %+v, %v; want %+v", env, err, tt.want)
			}
		})
	}
	got, err := c.Decrypt(tests[0].want.Encrypt)
	if err != nil || !bytes.Equal(got, plain) {
		t.Errorf("Decrypt = %q, %v", got, err)
	}
	for _, bad := range []string{"", "success", "<xml></xml>", "<xml><Encrypt></Encrypt></xml>",
		"<xml><Encrypt>abc</Encrypt>", "<message><Encrypt>abc</Encrypt></message>", `{"Encrypt":"abc"}`,
		"<xml><Wrapper><Encrypt>abc</Encrypt></Wrapper></xml>"} {
		if env, err := ParseEnvelope([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseEnvelope(%q) = %+v, %v; want ErrMalformed", bad, env, err)
		}
	}
}

func TestParseReplyEnvelopeRejects(t *testing.T) {
	for _, bad := range []string{"", "success", "<xml></xml>", "<xml><Encrypt>abc</Encrypt>", "<other><Encrypt>abc</Encrypt></other>"} {
		if env, err := ParseReplyEnvelope([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseReplyEnvelope(%q) = %+v, %v; want ErrMalformed", bad, env, err)
		}
	}
}
