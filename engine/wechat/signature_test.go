package wechat

import (
	"strings"
	"testing"
)

func TestSignature(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		// §1 of the protocol notes: a value posted in a community Q&A.
		{"URL verification", []string{"mptokenauth", "1510823015", "370631640"}, "141bf3cd6f3fae94b0ddae3fb98c19931e068341"},
		// wechatpy tests/test_crypto.py, the msg_signature of a push.
		{"msg_signature", []string{"123456", "1411525903", "461056294", vectorEncrypt}, vectorMsgSignature},
		// Order does not matter: the parts are sorted.
		{"unsorted", []string{"370631640", "mptokenauth", "1510823015"}, "141bf3cd6f3fae94b0ddae3fb98c19931e068341"},
		{"sha1 of nothing", nil, "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		// More than four parts takes the other path; sha1("abcde").
		{"five", []string{"e", "d", "c", "b", "a"}, "03de6c570bfe24bfc328ccd7ca46b76eadaf4334"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]string(nil), tt.parts...)
			if got := Signature(tt.parts...); got != tt.want {
				t.Errorf("Signature = %s, want %s", got, tt.want)
			}
			for i := range before {
				if before[i] != tt.parts[i] {
					t.Fatalf("Signature reordered its argument: %q", tt.parts)
				}
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	const good = "141bf3cd6f3fae94b0ddae3fb98c19931e068341"
	tests := []struct {
		name, token, timestamp, nonce, sig string
		want                               bool
	}{
		{"good", "mptokenauth", "1510823015", "370631640", good, true},
		{"upper-case hex", "mptokenauth", "1510823015", "370631640", strings.ToUpper(good), true},
		{"other token", "mptokenauth2", "1510823015", "370631640", good, false},
		{"other nonce", "mptokenauth", "1510823015", "370631641", good, false},
		{"last digit", "mptokenauth", "1510823015", "370631640", good[:39] + "0", false},
		{"short", "mptokenauth", "1510823015", "370631640", good[:39], false},
		{"long", "mptokenauth", "1510823015", "370631640", good + "0", false},
		{"empty", "mptokenauth", "1510823015", "370631640", "", false},
		{"not hex", "mptokenauth", "1510823015", "370631640", strings.Repeat("g", 40), false},
	}
	for _, tt := range tests {
		if got := VerifySignature(tt.token, tt.timestamp, tt.nonce, tt.sig); got != tt.want {
			t.Errorf("%s: VerifySignature = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestVerifyMsgSignature(t *testing.T) {
	if !VerifyMsgSignature("123456", "1411525903", "461056294", vectorEncrypt, vectorMsgSignature) {
		t.Error("published vector rejected")
	}
	if VerifyMsgSignature("123456", "1411525903", "461056294", vectorEncrypt[1:], vectorMsgSignature) {
		t.Error("altered Encrypt accepted")
	}
	// The three-string signature over the same values is not a msg_signature.
	if VerifyMsgSignature("123456", "1411525903", "461056294", vectorEncrypt, Signature("123456", "1411525903", "461056294")) {
		t.Error("three-string signature accepted as msg_signature")
	}
}

func TestVerifyDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	long := strings.Repeat("A", 8192) // the Encrypt of a long message
	msgSig, sig := Signature("t", "1", "2", long), Signature("t", "1", "2")
	var ok1, ok2 bool
	n := testing.AllocsPerRun(100, func() {
		ok1 = VerifyMsgSignature("t", "1", "2", long, msgSig)
		ok2 = VerifySignature("t", "1", "2", sig)
	})
	if !ok1 || !ok2 {
		t.Fatal("good signatures rejected")
	}
	if n != 0 {
		t.Errorf("verifying allocates %v times", n)
	}
}
