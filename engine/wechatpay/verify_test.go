package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAPIv3Key = "0123456789abcdefABCDEF0123456789"
	testSerial   = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
)

var testNow = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

var keys struct {
	once       sync.Once
	wechat     *rsa.PrivateKey // stands in for WeChat Pay's platform key
	impostor   *rsa.PrivateKey
	certPEM    []byte
	pubKeyPEM  []byte
	privKeyPEM []byte
}

// testKeys generates the key pairs once per test binary: RSA generation is
// slow under the race detector.
func testKeys(t testing.TB) {
	t.Helper()
	keys.once.Do(func() {
		var err error
		if keys.wechat, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.impostor, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		serial, _ := new(big.Int).SetString(testSerial, 16)
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Tenpay.com Root CA"},
			NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(365 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &keys.wechat.PublicKey, keys.wechat)
		if err != nil {
			panic(err)
		}
		keys.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		pub, _ := x509.MarshalPKIXPublicKey(&keys.wechat.PublicKey)
		keys.pubKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
		priv, _ := x509.MarshalPKCS8PrivateKey(keys.wechat)
		keys.privKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})
	})
}

func testVerifier(t testing.TB) *Verifier {
	t.Helper()
	testKeys(t)
	pks, err := ParsePEM(keys.certPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(testAPIv3Key, pks)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testTransaction() *Transaction {
	return &Transaction{
		AppID: "wxd678efh567hg6787", MchID: "1230000109", OutTradeNo: "1217752501201407033233368018",
		TransactionID: "4200000000202601050000000001", TradeType: "JSAPI", TradeState: "SUCCESS",
		TradeStateDesc: "支付成功", BankType: "CMC", Attach: "vip=1", SuccessTime: "2026-01-05T09:59:58+08:00",
		Payer: Payer{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, Amount: Amount{Total: 12800, PayerTotal: 12800, Currency: "CNY", PayerCurrency: "CNY"},
	}
}

func testSigner(key *rsa.PrivateKey) *Signer {
	return &Signer{Key: key, Serial: testSerial, APIv3Key: testAPIv3Key, Now: func() time.Time { return testNow }}
}

func TestParse(t *testing.T) {
	testKeys(t)
	v := testVerifier(t)
	good := func() (http.Header, []byte) {
		h, body, err := testSigner(keys.wechat).Notify(EventTransactionSuccess, testTransaction())
		if err != nil {
			t.Fatal(err)
		}
		return h, body
	}
	// resign signs an altered body with the right key: only what follows
	// the signature check can refuse it.
	resign := func(body []byte, at time.Time) (http.Header, []byte) {
		h, err := testSigner(keys.wechat).Headers(body, at)
		if err != nil {
			t.Fatal(err)
		}
		return h, body
	}
	alterResource := func(f func(r *Resource)) (http.Header, []byte) {
		_, body := good()
		var n Notification
		json.Unmarshal(body, &n)
		f(&n.Resource)
		b, _ := json.Marshal(&n)
		return resign(b, testNow)
	}
	tests := []struct {
		name string
		req  func() (http.Header, []byte)
		want error
	}{
		{"valid", good, nil},
		{"a minute late", func() (http.Header, []byte) { _, b := good(); return resign(b, testNow.Add(-time.Minute)) }, nil},
		{"clock ahead by 4m59s", func() (http.Header, []byte) { _, b := good(); return resign(b, testNow.Add(299*time.Second)) }, nil},
		{"5 minutes old", func() (http.Header, []byte) { _, b := good(); return resign(b, testNow.Add(-5*time.Minute)) }, ErrStale},
		{"an hour ahead", func() (http.Header, []byte) { _, b := good(); return resign(b, testNow.Add(time.Hour)) }, ErrStale},
		{"timestamp not a number", func() (http.Header, []byte) {
			h, b := good()
			h.Set(HeaderTimestamp, "soon")
			return h, b
		}, ErrStale},
		{"no signature", func() (http.Header, []byte) { h, b := good(); h.Del(HeaderSignature); return h, b }, ErrMissingHeader},
		{"no serial", func() (http.Header, []byte) { h, b := good(); h.Del(HeaderSerial); return h, b }, ErrMissingHeader},
		{"no nonce", func() (http.Header, []byte) { h, b := good(); h.Del(HeaderNonce); return h, b }, ErrMissingHeader},
		{"wrong serial", func() (http.Header, []byte) {
			h, b := good()
			h.Set(HeaderSerial, "7132D72A03E93CDDF8C03BBD1F37EEDF9AF4ECAE")
			return h, b
		}, ErrUnknownSerial},
		{"signed by another key", func() (http.Header, []byte) {
			h, b, _ := testSigner(keys.impostor).Notify(EventTransactionSuccess, testTransaction())
			return h, b
		}, ErrBadSignature},
		{"body altered after signing", func() (http.Header, []byte) {
			h, b := good()
			return h, []byte(strings.Replace(string(b), "TRANSACTION.SUCCESS", "TRANSACTION.SUCCESS ", 1))
		}, ErrBadSignature},
		{"nonce altered", func() (http.Header, []byte) { h, b := good(); h.Set(HeaderNonce, "x"); return h, b }, ErrBadSignature},
		{"signature not base64", func() (http.Header, []byte) { h, b := good(); h.Set(HeaderSignature, "%%%"); return h, b }, ErrBadSignature},
		{"signature test probe", func() (http.Header, []byte) {
			h, b := good()
			h.Set(HeaderSignature, "WECHATPAY/SIGNTEST/"+h.Get(HeaderSignature))
			return h, b
		}, ErrBadSignature},
		{"SM2 signature type", func() (http.Header, []byte) {
			h, b := good()
			h.Set(HeaderSignatureType, "WECHATPAY2-SM2-WITH-SM3")
			return h, b
		}, ErrBadSignature},
		{"broken ciphertext", func() (http.Header, []byte) {
			return alterResource(func(r *Resource) {
				ct, _ := base64.StdEncoding.DecodeString(r.Ciphertext)
				ct[3] ^= 1
				r.Ciphertext = base64.StdEncoding.EncodeToString(ct)
			})
		}, ErrDecrypt},
		{"associated data altered", func() (http.Header, []byte) {
			return alterResource(func(r *Resource) { r.AssociatedData = "refund" })
		}, ErrDecrypt},
		{"wrong APIv3 key", func() (http.Header, []byte) {
			s := testSigner(keys.wechat)
			s.APIv3Key = strings.Repeat("k", 32)
			h, b, _ := s.Notify(EventTransactionSuccess, testTransaction())
			return h, b
		}, ErrDecrypt},
		{"ciphertext not base64", func() (http.Header, []byte) {
			return alterResource(func(r *Resource) { r.Ciphertext = "***" })
		}, ErrMalformed},
		{"unknown algorithm", func() (http.Header, []byte) {
			return alterResource(func(r *Resource) { r.Algorithm = "AEAD_SM4_GCM" })
		}, ErrMalformed},
		{"short nonce", func() (http.Header, []byte) {
			return alterResource(func(r *Resource) { r.Nonce = "abc" })
		}, ErrMalformed},
		{"body not JSON", func() (http.Header, []byte) { return resign([]byte("<xml/>"), testNow) }, ErrMalformed},
		{"no transaction_id", func() (http.Header, []byte) {
			tx := testTransaction()
			tx.TransactionID = ""
			h, b, _ := testSigner(keys.wechat).Notify(EventTransactionSuccess, tx)
			return h, b
		}, ErrMalformed},
		{"a refund", func() (http.Header, []byte) {
			h, b, _ := testSigner(keys.wechat).Notify("REFUND.SUCCESS", testTransaction())
			return h, b
		}, ErrNotTransaction},
		{"success event, other state", func() (http.Header, []byte) {
			tx := testTransaction()
			tx.TradeState = "REFUND"
			h, b, _ := testSigner(keys.wechat).Notify(EventTransactionSuccess, tx)
			return h, b
		}, ErrNotTransaction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body := tt.req()
			tx, err := v.Parse(h, body, testNow)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				if tx != nil {
					t.Errorf("a transaction came with the error")
				}
				if strings.Contains(err.Error(), testAPIv3Key) {
					t.Errorf("the error holds the APIv3 key: %v", err)
				}
				return
			}
			want := testTransaction()
			if tx.NotificationID == "" {
				t.Errorf("no notification id")
			}
			tx.NotificationID = ""
			if *tx != *want {
				t.Errorf("got %+v\nwant %+v", tx, want)
			}
		})
	}
}

func TestPublicKeys(t *testing.T) {
	testKeys(t)
	notify := func(serial string) (http.Header, []byte) {
		s := testSigner(keys.wechat)
		s.Serial = serial
		h, b, err := s.Notify(EventTransactionSuccess, testTransaction())
		if err != nil {
			t.Fatal(err)
		}
		return h, b
	}
	tests := []struct {
		name   string
		pem    []byte
		id     string
		serial string
		want   error
	}{
		{"certificate, its serial", keys.certPEM, "", testSerial, nil},
		{"certificate, lower-case serial", keys.certPEM, "", strings.ToLower(testSerial), ErrUnknownSerial},
		{"public key with its id", keys.pubKeyPEM, "PUB_KEY_ID_0112345678", "PUB_KEY_ID_0112345678", nil},
		{"public key, another id", keys.pubKeyPEM, "PUB_KEY_ID_0112345678", "PUB_KEY_ID_0199999999", ErrUnknownSerial},
		{"public key without id takes any serial", keys.pubKeyPEM, "", "PUB_KEY_ID_0199999999", nil},
		{"certificate and public key", append(append([]byte{}, keys.certPEM...), keys.pubKeyPEM...), "PUB_KEY_ID_1", "PUB_KEY_ID_1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pks, err := ParsePEM(tt.pem, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewVerifier(testAPIv3Key, pks)
			if err != nil {
				t.Fatal(err)
			}
			h, b := notify(tt.serial)
			if _, err := v.Parse(h, b, testNow); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	testKeys(t)
	pks, _ := ParsePEM(keys.certPEM, "")
	for _, tt := range []struct {
		name string
		err  func() error
		want string
	}{
		{"short APIv3 key", func() error { _, err := NewVerifier("short", pks); return err }, "the APIv3 key is 5 bytes, want 32"},
		{"no keys", func() error { _, err := NewVerifier(testAPIv3Key, nil); return err }, "no platform certificate or public key"},
		{"same certificate twice", func() error { _, err := NewVerifier(testAPIv3Key, append(pks, pks...)); return err }, "given twice"},
		{"private key instead", func() error { _, err := ParsePEM(keys.privKeyPEM, ""); return err }, "is a private key"},
		{"not PEM", func() error { _, err := ParsePEM([]byte("hello"), ""); return err }, "no CERTIFICATE or PUBLIC KEY"},
		{"two public keys without ids", func() error {
			pk, _ := ParsePEM(append(append([]byte{}, keys.pubKeyPEM...), keys.pubKeyPEM...), "")
			_, err := NewVerifier(testAPIv3Key, pk)
			return err
		}, "two public keys without an id"},
		{"private key not PEM", func() error { _, err := ParsePrivateKey(keys.certPEM); return err }, "no PRIVATE KEY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), testAPIv3Key) {
				t.Errorf("the error holds the APIv3 key")
			}
		})
	}
	k, err := ParsePrivateKey(keys.privKeyPEM)
	if err != nil || !k.Equal(keys.wechat) {
		t.Errorf("ParsePrivateKey: %v", err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(keys.wechat)})
	if k, err := ParsePrivateKey(pkcs1); err != nil || !k.Equal(keys.wechat) {
		t.Errorf("ParsePrivateKey(PKCS #1): %v", err)
	}
}

// FuzzParse feeds arbitrary headers and bodies to Parse: it must never
// panic, and anything it accepts must carry a transaction id.
func FuzzParse(f *testing.F) {
	testKeys(f)
	h, body, err := testSigner(keys.wechat).Notify(EventTransactionSuccess, testTransaction())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body, h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSerial), h.Get(HeaderSignature))
	f.Add([]byte(`{"id":"EV-1","event_type":"TRANSACTION.SUCCESS","resource":{}}`), "1767607200", "n", testSerial, "AAAA")
	f.Add([]byte(""), "", "", "", "")
	v := testVerifier(f)
	f.Fuzz(func(t *testing.T, body []byte, ts, nonce, serial, sig string) {
		h := http.Header{}
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderNonce, nonce)
		h.Set(HeaderSerial, serial)
		h.Set(HeaderSignature, sig)
		tx, err := v.Parse(h, body, testNow)
		if err == nil && (tx == nil || tx.TransactionID == "") {
			t.Fatalf("accepted without a transaction: %+v", tx)
		}
	})
}

// FuzzOpen feeds arbitrary verified bodies to what follows the signature
// check (the signature keeps the fuzzer out of it in FuzzParse).
func FuzzOpen(f *testing.F) {
	testKeys(f)
	_, body, err := testSigner(keys.wechat).Notify(EventTransactionSuccess, testTransaction())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte(`{"event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"123456789012","ciphertext":""}}`))
	f.Add([]byte(`{"event_type":"REFUND.SUCCESS"}`))
	v := testVerifier(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		tx, err := v.open(body)
		if err == nil && (tx == nil || tx.TransactionID == "") {
			t.Fatalf("accepted without a transaction: %+v", tx)
		}
	})
}

// FuzzTransaction encrypts arbitrary plaintexts properly, so the fuzzer
// reaches the decoding of the decrypted transaction.
func FuzzTransaction(f *testing.F) {
	plain, _ := json.Marshal(testTransaction())
	f.Add(plain)
	f.Add([]byte(`{"transaction_id":"4200","amount":{"total":-1},"payer":null}`))
	f.Add([]byte(`{"transaction_id":"","trade_state":"SUCCESS"}`))
	f.Add([]byte(`[]`))
	v := testVerifier(f)
	aead, err := newGCM([]byte(testAPIv3Key))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		nonce := "0123456789ab"
		n := Notification{EventType: EventTransactionSuccess, Resource: Resource{Algorithm: "AEAD_AES_256_GCM", Nonce: nonce,
			Ciphertext: base64.StdEncoding.EncodeToString(aead.Seal(nil, []byte(nonce), plain, nil))}}
		body, _ := json.Marshal(&n)
		tx, err := v.open(body)
		switch {
		case err == nil && tx.TransactionID == "":
			t.Fatalf("accepted without a transaction id: %q", plain)
		case err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotTransaction):
			t.Fatalf("a properly encrypted resource failed with %v", err)
		}
	})
}
