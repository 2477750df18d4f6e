package wechatpay

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrMissingHeader means a Wechatpay-Signature, -Timestamp, -Nonce or
	// -Serial header is absent: the request is not from WeChat Pay.
	ErrMissingHeader = errors.New("wechatpay: missing Wechatpay-Signature, Wechatpay-Timestamp, Wechatpay-Nonce or Wechatpay-Serial header")
	// ErrStale means Wechatpay-Timestamp is not a number or is five minutes
	// or more away from now: a replay, or this server's clock is off (check
	// NTP).
	ErrStale = errors.New("wechatpay: timestamp missing or 5 minutes or more off")
	// ErrUnknownSerial means Wechatpay-Serial names no configured key: WeChat
	// Pay rotated its certificate or public key, or --pay-platform-cert
	// holds another merchant's.
	ErrUnknownSerial = errors.New("wechatpay: unknown Wechatpay-Serial (configure that platform certificate or public key)")
	// ErrBadSignature means Wechatpay-Signature does not verify with the
	// key the serial selects: the body or headers were altered, or not signed
	// by WeChat Pay (its WECHATPAY/SIGNTEST/ probes end here too).
	ErrBadSignature = errors.New("wechatpay: bad signature")
	// ErrMalformed means a verified body is not a notification WeChat Pay
	// documents: not JSON, no resource, an unknown algorithm, or a decrypted
	// transaction without transaction_id.
	ErrMalformed = errors.New("wechatpay: malformed notification")
	// ErrDecrypt means the resource of a verified notification does not
	// decrypt: the APIv3 key is not the one set in the merchant console.
	ErrDecrypt = errors.New("wechatpay: cannot decrypt the resource (is the APIv3 key the one in the merchant console?)")
	// ErrNotTransaction means a valid notification of another kind than
	// TRANSACTION.SUCCESS (a refund, for instance); it is wrapped with the
	// event type.
	ErrNotTransaction = errors.New("wechatpay: not a TRANSACTION.SUCCESS notification")
)

// Headers WeChat Pay sets on a notification.
const (
	HeaderSignature     = "Wechatpay-Signature"
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
)

// SignatureType is the only signature scheme this package verifies.
const SignatureType = "WECHATPAY2-SHA256-RSA2048"

// EventTransactionSuccess is the event_type of a successful payment.
const EventTransactionSuccess = "TRANSACTION.SUCCESS"

// MaxSkew is how far Wechatpay-Timestamp may be from now (exclusive), as
// WeChat Pay's own SDKs check.
const MaxSkew = 5 * time.Minute

// APIv3KeySize is the length of an APIv3 key: 32 ASCII characters, used as
// an AES-256 key as they are.
const APIv3KeySize = 32

// PublicKey is a key that verifies notifications and the serial that
// selects it. Serial "" selects it for any serial no other key claims.
type PublicKey struct {
	Serial string
	Key    *rsa.PublicKey
}

// ParsePEM reads the verification keys in a PEM file: CERTIFICATE blocks
// (platform certificates; the serial is the certificate's serial number in
// upper-case hex, as WeChat Pay sends it) and PUBLIC KEY blocks (a WeChat
// Pay public key; the serial is id, PUB_KEY_ID_…, or "" for any). Only RSA
// keys are accepted.
func ParsePEM(data []byte, id string) ([]PublicKey, error) {
	var keys []PublicKey
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("wechatpay: PEM block %d: certificate: %w", n, err)
			}
			k, ok := c.PublicKey.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("wechatpay: PEM block %d: the certificate's key is %T, want RSA", n, c.PublicKey)
			}
			keys = append(keys, PublicKey{Serial: strings.ToUpper(c.SerialNumber.Text(16)), Key: k})
		case "PUBLIC KEY", "RSA PUBLIC KEY":
			var pub any
			var err error
			if b.Type == "PUBLIC KEY" {
				pub, err = x509.ParsePKIXPublicKey(b.Bytes)
			} else {
				pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
			}
			if err != nil {
				return nil, fmt.Errorf("wechatpay: PEM block %d: public key: %w", n, err)
			}
			k, ok := pub.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("wechatpay: PEM block %d: the key is %T, want RSA", n, pub)
			}
			keys = append(keys, PublicKey{Serial: id, Key: k})
		default:
			// A private key here is a mix-up worth stopping for: the bot needs
			// WeChat Pay's public half, never a private key.
			if strings.Contains(b.Type, "PRIVATE") {
				return nil, fmt.Errorf("wechatpay: PEM block %d is a private key: give the WeChat Pay platform certificate or public key instead", n)
			}
			return nil, fmt.Errorf("wechatpay: PEM block %d: unexpected %q (want CERTIFICATE or PUBLIC KEY)", n, b.Type)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("wechatpay: no CERTIFICATE or PUBLIC KEY PEM block found")
	}
	return keys, nil
}

// Verifier checks and opens notifications. It is immutable and safe for
// concurrent use.
type Verifier struct {
	key  []byte                    // the APIv3 key
	keys map[string]*rsa.PublicKey // by serial; "" is the fallback
}

// NewVerifier returns a Verifier for an APIv3 key (32 characters) and the
// keys that verify WeChat Pay's signatures.
func NewVerifier(apiV3Key string, keys []PublicKey) (*Verifier, error) {
	if len(apiV3Key) != APIv3KeySize {
		return nil, fmt.Errorf("wechatpay: the APIv3 key is %d bytes, want %d (the key set under 账户中心 → API安全 in the merchant console)", len(apiV3Key), APIv3KeySize)
	}
	if len(keys) == 0 {
		return nil, errors.New("wechatpay: no platform certificate or public key")
	}
	v := &Verifier{key: []byte(apiV3Key), keys: make(map[string]*rsa.PublicKey, len(keys))}
	for _, k := range keys {
		if k.Key == nil {
			return nil, errors.New("wechatpay: nil public key")
		}
		if _, dup := v.keys[k.Serial]; dup {
			if k.Serial == "" {
				return nil, errors.New("wechatpay: two public keys without an id: give each its PUB_KEY_ID_…")
			}
			return nil, fmt.Errorf("wechatpay: serial %s given twice", k.Serial)
		}
		v.keys[k.Serial] = k.Key
	}
	return v, nil
}

// Serials lists the configured serials ("" for a key without one), for logs.
func (v *Verifier) Serials() []string {
	out := make([]string, 0, len(v.keys))
	for s := range v.keys {
		out = append(out, s)
	}
	return out
}

// Notification is the outer JSON of a notification.
type Notification struct {
	ID           string   `json:"id"`
	CreateTime   string   `json:"create_time"`
	EventType    string   `json:"event_type"`
	ResourceType string   `json:"resource_type"`
	Resource     Resource `json:"resource"`
	Summary      string   `json:"summary"`
}

// Resource is a notification's encrypted payload.
type Resource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
	OriginalType   string `json:"original_type"`
}

// Transaction is the decrypted resource of TRANSACTION.SUCCESS (only the
// fields a bot has use for; promotion_detail and scene_info are left out).
type Transaction struct {
	AppID          string `json:"appid"`
	MchID          string `json:"mchid"`
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id"`
	TradeType      string `json:"trade_type"`
	TradeState     string `json:"trade_state"`
	TradeStateDesc string `json:"trade_state_desc"`
	BankType       string `json:"bank_type"`
	Attach         string `json:"attach"`
	SuccessTime    string `json:"success_time"`
	Payer          Payer  `json:"payer"`
	Amount         Amount `json:"amount"`

	// NotificationID is the notification's id (not part of the resource).
	NotificationID string `json:"-"`
}

// Payer is who paid: an OpenID under the AppID the order was placed with.
type Payer struct {
	OpenID string `json:"openid"`
}

// Amount is what was paid, in fen.
type Amount struct {
	Total         int64  `json:"total"`
	PayerTotal    int64  `json:"payer_total"`
	Currency      string `json:"currency"`
	PayerCurrency string `json:"payer_currency"`
}

// Parse verifies a notification (headers h, raw body) at time now and
// returns the transaction it reports. A valid notification of another event
// type returns ErrNotTransaction. Errors wrap the sentinels above.
func (v *Verifier) Parse(h http.Header, body []byte, now time.Time) (*Transaction, error) {
	if err := v.Verify(h, body, now); err != nil {
		return nil, err
	}
	return v.open(body)
}

// Verify checks a notification's headers and signature without reading the
// body.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	sig, ts, nonce, serial := h.Get(HeaderSignature), h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSerial)
	if sig == "" || ts == "" || nonce == "" || serial == "" {
		return ErrMissingHeader
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a Unix time", ErrStale, truncate(ts))
	}
	if d := now.Sub(time.Unix(sec, 0)); d >= MaxSkew || d <= -MaxSkew {
		return fmt.Errorf("%w: %v from this server's clock", ErrStale, d.Round(time.Second))
	}
	if t := h.Get(HeaderSignatureType); t != "" && t != SignatureType {
		return fmt.Errorf("%w: signature type %q, want %s", ErrBadSignature, truncate(t), SignatureType)
	}
	key, ok := v.keys[serial]
	if !ok {
		if key, ok = v.keys[""]; !ok {
			return fmt.Errorf("%w: %q", ErrUnknownSerial, truncate(serial))
		}
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: signature is not Base64", ErrBadSignature)
	}
	sum := sha256.Sum256(Message(ts, nonce, body))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], raw); err != nil {
		return ErrBadSignature
	}
	return nil
}

// Message is what WeChat Pay signs: timestamp, nonce and the raw body, each
// followed by "\n".
func Message(timestamp, nonce string, body []byte) []byte {
	m := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	m = append(m, timestamp...)
	m = append(m, '\n')
	m = append(m, nonce...)
	m = append(m, '\n')
	m = append(m, body...)
	return append(m, '\n')
}

// open reads a verified body: the event type, then the decrypted
// transaction.
func (v *Verifier) open(body []byte) (*Transaction, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if n.EventType != EventTransactionSuccess {
		return nil, fmt.Errorf("%w: event_type %q", ErrNotTransaction, truncate(n.EventType))
	}
	plain, err := v.Decrypt(&n.Resource)
	if err != nil {
		return nil, err
	}
	var tx Transaction
	if err := json.Unmarshal(plain, &tx); err != nil {
		return nil, fmt.Errorf("%w: decrypted resource: %v", ErrMalformed, err)
	}
	if tx.TransactionID == "" {
		return nil, fmt.Errorf("%w: transaction without transaction_id", ErrMalformed)
	}
	if tx.TradeState != "" && tx.TradeState != "SUCCESS" {
		return nil, fmt.Errorf("%w: TRANSACTION.SUCCESS with trade_state %q", ErrNotTransaction, truncate(tx.TradeState))
	}
	tx.NotificationID = n.ID
	return &tx, nil
}

// Decrypt opens a resource with the APIv3 key.
func (v *Verifier) Decrypt(r *Resource) ([]byte, error) {
	if r.Algorithm != "AEAD_AES_256_GCM" {
		return nil, fmt.Errorf("%w: resource algorithm %q, want AEAD_AES_256_GCM", ErrMalformed, truncate(r.Algorithm))
	}
	if len(r.Nonce) != gcmNonceSize {
		return nil, fmt.Errorf("%w: resource nonce of %d bytes, want %d", ErrMalformed, len(r.Nonce), gcmNonceSize)
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext is not Base64", ErrMalformed)
	}
	aead, err := newGCM(v.key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// gcmNonceSize is the nonce length WeChat Pay uses (12 characters), which is
// also GCM's standard one.
const gcmNonceSize = 12

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: APIv3 key: %w", err)
	}
	return cipher.NewGCM(block)
}

// truncate keeps outside input short in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
