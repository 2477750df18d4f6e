package wechatpay

import (
	"crypto"
	"crypto/rand"
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
	"time"
)

// Signer builds notifications as WeChat Pay does, for `wxbot simulate pay`
// and tests: the caller's RSA key stands in for WeChat Pay's, so the bot
// under test must be given the matching public key or certificate.
type Signer struct {
	// Key signs; Serial is sent as Wechatpay-Serial.
	Key    *rsa.PrivateKey
	Serial string
	// APIv3Key encrypts the resource (32 characters).
	APIv3Key string
	// Now is the clock of Wechatpay-Timestamp (time.Now when nil).
	Now func() time.Time
}

// Notify returns the headers and body of a notification of eventType
// reporting tx.
func (s *Signer) Notify(eventType string, tx *Transaction) (http.Header, []byte, error) {
	body, err := s.Body(eventType, tx)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	h, err := s.Headers(body, now())
	return h, body, err
}

// Body encrypts tx into a notification body of eventType.
func (s *Signer) Body(eventType string, tx *Transaction) ([]byte, error) {
	plain, err := json.Marshal(tx)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: encoding the transaction: %w", err)
	}
	if len(s.APIv3Key) != APIv3KeySize {
		return nil, fmt.Errorf("wechatpay: the APIv3 key is %d bytes, want %d", len(s.APIv3Key), APIv3KeySize)
	}
	aead, err := newGCM([]byte(s.APIv3Key))
	if err != nil {
		return nil, err
	}
	nonce := randomString(gcmNonceSize)
	const ad = "transaction"
	ct := aead.Seal(nil, []byte(nonce), plain, []byte(ad))
	id := "EV-" + randomString(20)
	n := Notification{
		ID: id, CreateTime: time.Now().Format(time.RFC3339), EventType: eventType, ResourceType: "encrypt-resource",
		Summary: "支付成功",
		Resource: Resource{Algorithm: "AEAD_AES_256_GCM", Ciphertext: base64.StdEncoding.EncodeToString(ct),
			AssociatedData: ad, Nonce: nonce, OriginalType: "transaction"},
	}
	return json.Marshal(&n)
}

// Headers signs body at time at and returns the headers WeChat Pay sends.
func (s *Signer) Headers(body []byte, at time.Time) (http.Header, error) {
	if s.Key == nil {
		return nil, errors.New("wechatpay: no signing key")
	}
	ts, nonce := strconv.FormatInt(at.Unix(), 10), randomString(32)
	sum := sha256.Sum256(Message(ts, nonce, body))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, sum[:])
	if err != nil {
		return nil, fmt.Errorf("wechatpay: signing: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSerial, s.Serial)
	h.Set(HeaderSignatureType, SignatureType)
	h.Set("Request-ID", "08F"+randomString(24))
	return h, nil
}

// ParsePrivateKey reads an RSA private key from PEM (PKCS #8 "PRIVATE KEY",
// as the merchant tools write it, or PKCS #1 "RSA PRIVATE KEY").
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("wechatpay: no PRIVATE KEY or RSA PRIVATE KEY PEM block found")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("wechatpay: private key: %w", err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("wechatpay: the private key is %T, want RSA", k)
			}
			return rk, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("wechatpay: private key: %w", err)
			}
			return k, nil
		}
	}
}

const alphanum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n random letters and digits, like WeChat Pay's nonces.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	for i := range b {
		b[i] = alphanum[int(b[i])%len(alphanum)]
	}
	return string(b)
}
