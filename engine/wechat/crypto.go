package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"sync"
	"unsafe"
)

const (
	// aesKeyLen is the length of an EncodingAESKey: Base64 of 32 bytes
	// without its one "=" of padding.
	aesKeyLen = 43
	// padBlock is WeChat's PKCS#7 block size, twice the AES block size, so a
	// decrypter that stops at 16 rejects about half of all pushes.
	padBlock = 32
	// randomLen and lenLen are the random prefix and the big-endian message
	// length that precede the message in the plaintext.
	randomLen = 16
	lenLen    = 4
)

// Cipher encrypts and decrypts the Encrypt values of safe and compatible
// mode for one account. A Cipher is safe for concurrent use.
type Cipher struct {
	block    cipher.Block
	iv       [aes.BlockSize]byte
	appID    string
	enc, dec sync.Pool // of cipher.BlockMode, see crypt
}

// NewCipher returns a Cipher for the EncodingAESKey and AppID shown in the
// console (服务器配置). The key must be the 43 characters of Base64 that decode
// to 32 bytes once "=" is appended; otherwise the error wraps [ErrBadAESKey].
// The error never contains the key.
func NewCipher(encodingAESKey, appID string) (*Cipher, error) {
	if len(encodingAESKey) != aesKeyLen {
		return nil, fmt.Errorf("%w: got %d characters", ErrBadAESKey, len(encodingAESKey))
	}
	// Not StdEncoding.Strict: 43 characters carry 258 bits, and the console
	// does not promise that the 2 spare bits are zero.
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("%w: not Base64", ErrBadAESKey)
	}
	if len(key) != 32 {
		// The decoder skips CR and LF, so 43 characters can still be short.
		return nil, fmt.Errorf("%w: decodes to %d bytes, want 32", ErrBadAESKey, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAESKey, err)
	}
	c := &Cipher{block: block, appID: appID}
	copy(c.iv[:], key) // WeChat's IV is the first 16 bytes of the key
	return c, nil
}

// AppID returns the AppID that Decrypt requires and Encrypt appends.
func (c *Cipher) AppID() string { return c.appID }

// Decrypt returns the message inside an Encrypt value: Base64, AES-256-CBC,
// PKCS#7 to 32 bytes, then random(16) ‖ length(4, big endian) ‖ message ‖
// AppID. Errors wrap [ErrBadCiphertext] or, when the message decrypts but
// ends with another AppID, [ErrAppIDMismatch]. Decrypt does not check a
// signature: verify msg_signature first.
func (c *Cipher) Decrypt(encrypt string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: not Base64", ErrBadCiphertext)
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrBadCiphertext, len(raw))
	}
	c.crypt(&c.dec, raw, cipher.NewCBCDecrypter)

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

	if len(raw) < randomLen+lenLen {
		return nil, fmt.Errorf("%w: too short for the random prefix and length", ErrBadCiphertext)
	}
	n := binary.BigEndian.Uint32(raw[randomLen:])
	rest := raw[randomLen+lenLen:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: length %d exceeds the %d bytes present", ErrBadCiphertext, n, len(rest))
	}
	msg, appID := rest[:n:n], rest[n:]
	if string(appID) != c.appID {
		// Name the AppID found (a public identifier): it tells which account
		// the console is set up for.
		const maxShown = 32
		return nil, fmt.Errorf("%w: message is for %q", ErrAppIDMismatch, appID[:min(len(appID), maxShown)])
	}
	return msg, nil
}

// Encrypt returns the Encrypt value (Base64) of msg. random is the 16-byte
// prefix WeChat ignores; nil draws it from crypto/rand, which is what every
// caller but a test vector wants. Encrypt panics if random is neither nil nor
// 16 bytes long, a programming error.
func (c *Cipher) Encrypt(random, msg []byte) string {
	if random != nil && len(random) != randomLen {
		panic(fmt.Sprintf("wechat: Cipher.Encrypt: random is %d bytes, want %d", len(random), randomLen))
	}
	return string(c.appendEncrypt(nil, random, msg))
}

// appendEncrypt appends the Encrypt value of msg to dst. The padded
// plaintext and the mode come from pools: a push then costs no allocation
// for its reply's encryption but dst's growth.
func (c *Cipher) appendEncrypt(dst, random, msg []byte) []byte {
	n := randomLen + lenLen + len(msg) + len(c.appID)
	pad := padBlock - n%padBlock // 1..32: a full block when already aligned
	bp, _ := plainBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if cap(*bp) < n+pad {
		*bp = make([]byte, n+pad)
	}
	buf := (*bp)[:n+pad]
	defer func() {
		clear(buf) // no plaintext is left lying around
		if cap(buf) <= 64<<10 {
			plainBufs.Put(bp)
		}
	}()
	if random == nil {
		rand.Read(buf[:randomLen]) // never fails since Go 1.24
	} else {
		copy(buf, random)
	}
	binary.BigEndian.PutUint32(buf[randomLen:], uint32(len(msg)))
	copy(buf[randomLen+lenLen:], msg)
	copy(buf[randomLen+lenLen+len(msg):], c.appID)
	for i := n; i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	c.crypt(&c.enc, buf, cipher.NewCBCEncrypter)
	return base64.StdEncoding.AppendEncode(dst, buf)
}

// plainBufs hold the plaintexts being encrypted.
var plainBufs sync.Pool

// crypt runs CBC over buf in place with WeChat's fixed IV, reusing a mode
// from pool (a mode is stateful: one per goroutine at a time).
func (c *Cipher) crypt(pool *sync.Pool, buf []byte, mode func(cipher.Block, []byte) cipher.BlockMode) {
	m, _ := pool.Get().(cipher.BlockMode)
	iv, ok := m.(interface{ SetIV([]byte) })
	if ok {
		iv.SetIV(c.iv[:])
	} else {
		m = mode(c.block, c.iv[:])
	}
	m.CryptBlocks(buf, buf)
	pool.Put(m)
}

// AppendEncryptedReply appends to dst the encrypted envelope around reply, a
// passive reply as written by [AppendReply]:
//
//	<xml><Encrypt>…</Encrypt><MsgSignature>…</MsgSignature><TimeStamp>…</TimeStamp><Nonce>…</Nonce></xml>
//
// timestamp and nonce are normally the request's; MsgSignature is
// sha1(sort(token, timestamp, nonce, Encrypt)) over exactly the values
// written, so characters XML cannot carry are replaced before signing.
func (c *Cipher) AppendEncryptedReply(dst []byte, token string, reply []byte, timestamp, nonce string) []byte {
	dst = append(dst, "<xml><Encrypt><![CDATA["...)
	start := len(dst)
	dst = c.appendEncrypt(dst, nil, reply) // Base64 needs no escaping
	// The Base64 just written, as a string for the signature: dst is not
	// written to until the signature is done.
	encrypt := unsafe.String(&dst[start], len(dst)-start)
	timestamp, nonce = xmlSafe(timestamp), xmlSafe(nonce)
	var sig [40]byte
	parts := [4]string{token, timestamp, nonce, encrypt}
	sortedSHA1Hex(&sig, parts[:])

	dst = append(dst, "]]></Encrypt><MsgSignature><![CDATA["...)
	dst = append(dst, sig[:]...)
	dst = append(dst, "]]></MsgSignature><TimeStamp>"...)
	dst = appendEscaped(dst, timestamp)
	dst = append(dst, "</TimeStamp><Nonce>"...)
	dst = appendCDATA(dst, nonce)
	return append(dst, "</Nonce></xml>"...)
}

// Envelope is the part of an encrypted push needed before decrypting it.
type Envelope struct {
	ToUserName string // the account's original id gh_…; may be empty
	Encrypt    string // Base64 ciphertext, the input of Decrypt and msg_signature
}

// ParseEnvelope reads ToUserName and Encrypt from the body of a safe mode
// push (only those two elements) or a compatible mode push (the plaintext
// fields too). The error wraps [ErrMalformed] when the body is not a WeChat
// XML document or has no non-empty Encrypt.
func ParseEnvelope(body []byte) (Envelope, error) { return ParseEnvelopeString(string(body)) }

// ParseEnvelopeString is ParseEnvelope for a body already held as a
// string: the Envelope's strings are substrings of it, and nothing is
// copied.
func ParseEnvelopeString(body string) (Envelope, error) {
	var arr [8]Field // a compatible mode push has about seven leaves
	fields, err := scanFields(arr[:0], body)
	if err != nil {
		return Envelope{}, err
	}
	var env Envelope
	for _, f := range fields {
		switch f.Name {
		case "ToUserName":
			env.ToUserName = f.Value
		case "Encrypt":
			env.Encrypt = f.Value
		}
	}
	if env.Encrypt == "" {
		return Envelope{}, fmt.Errorf("%w: no Encrypt element", ErrMalformed)
	}
	return env, nil
}

// AppendEncryptedPush appends the body of a safe mode push carrying encrypt
// for the account toUserName, as WeChat sends it. The simulator and the load
// generator use it; a server never needs it.
func AppendEncryptedPush(dst []byte, toUserName, encrypt string) []byte {
	dst = append(dst, "<xml><ToUserName>"...)
	dst = appendCDATA(dst, toUserName)
	dst = append(dst, "</ToUserName><Encrypt>"...)
	dst = appendCDATA(dst, encrypt)
	return append(dst, "</Encrypt></xml>"...)
}

// ReplyEnvelope is an encrypted passive reply, as written by
// [Cipher.AppendEncryptedReply].
type ReplyEnvelope struct {
	Encrypt      string
	MsgSignature string
	TimeStamp    string
	Nonce        string
}

// ParseReplyEnvelope reads an encrypted passive reply. It is for the
// simulator and tests, which then check MsgSignature with
// [VerifyMsgSignature] and open Encrypt with [Cipher.Decrypt]. The error
// wraps [ErrMalformed] when body is not such an envelope.
func ParseReplyEnvelope(body []byte) (ReplyEnvelope, error) {
	var v struct {
		XMLName      xml.Name `xml:"xml"`
		Encrypt      string
		MsgSignature string
		TimeStamp    string
		Nonce        string
	}
	if err := xml.Unmarshal(body, &v); err != nil {
		return ReplyEnvelope{}, fmt.Errorf("%w: encrypted reply: %v", ErrMalformed, err)
	}
	if v.Encrypt == "" {
		return ReplyEnvelope{}, fmt.Errorf("%w: encrypted reply: no Encrypt element", ErrMalformed)
	}
	return ReplyEnvelope{Encrypt: v.Encrypt, MsgSignature: v.MsgSignature, TimeStamp: v.TimeStamp, Nonce: v.Nonce}, nil
}
