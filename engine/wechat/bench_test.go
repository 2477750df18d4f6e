package wechat

import (
	"os"
	"testing"
)

func BenchmarkVerifySignature(b *testing.B) {
	const sig = "141bf3cd6f3fae94b0ddae3fb98c19931e068341"
	b.ReportAllocs()
	for b.Loop() {
		if !VerifySignature("mptokenauth", "1510823015", "370631640", sig) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkVerifyMsgSignature(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyMsgSignature(vectorToken, vectorTimestamp, vectorNonce, vectorEncrypt, vectorMsgSignature) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	c := vectorCipher(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(vectorPlain)))
	for b.Loop() {
		if _, err := c.Decrypt(vectorEncrypt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	c := vectorCipher(b)
	msg := []byte(vectorReply)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		c.Encrypt(nil, msg)
	}
}

func benchmarkDecode(b *testing.B, file string) {
	body, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	// reuse is the hot path with a pooled Message; new is Decode.
	b.Run("reuse", func(b *testing.B) {
		var m Message
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := DecodeInto(&m, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) { benchmarkDecode(b, "testdata/push/text.xml") }

func BenchmarkDecodeEvent(b *testing.B) { benchmarkDecode(b, "testdata/push/event_scancode_push.xml") }

func BenchmarkParseEnvelope(b *testing.B) {
	body := []byte(vectorPush)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendReply(b *testing.B) {
	r := &Reply{Type: ReplyText, Content: "您好，我们的营业时间是每天 9:00–21:00。"}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendReply(buf[:0], testOpenID, testGh, 1700000000, r)
	}
}

func BenchmarkAppendEncryptedReply(b *testing.B) {
	c := vectorCipher(b)
	plain := AppendReply(nil, testOpenID, testGh, 1700000000, &Reply{Type: ReplyText, Content: "您好"})
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendEncryptedReply(buf[:0], vectorToken, plain, vectorTimestamp, vectorNonce)
	}
}
