package wechat

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedCorpus adds every push and reply in testdata, the encryption vector and
// documents that probe the scanner's edges.
func seedCorpus(f *testing.F) {
	paths, _ := filepath.Glob("testdata/push/*.xml")
	more, _ := filepath.Glob("testdata/reply/*.xml")
	for _, p := range append(paths, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		vectorPush, vectorPlain,
		`<?xml version="1.0" encoding="utf-8"?><!-- c --><xml a="&amp;"><FromUserName>o</FromUserName>` +
			`<CreateTime> 1 </CreateTime><MsgType>text</MsgType><Content>a&#x4F60;<![CDATA[]]]]><![CDATA[>]]>&lt;</Content></xml>`,
		"<xml>\r\n<FromUserName>o\r</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><A><B/><C>x</C></A></xml>",
		"<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>18446744073709551615</MsgId></xml>",
		"<!DOCTYPE xml><xml/>", "<xml><a>&#xD800;</a></xml>", "<xml><!----></xml>",
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode holds the scanner to encoding/xml: whatever it accepts,
// encoding/xml accepts with the same leaves. It also checks that Decode
// never panics and that EncodeMessage writes what Decode reads back.
func FuzzDecode(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstReference(t, data)
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		fields, err := scanFields(nil, string(data))
		if err != nil || len(fields) != len(m.Fields) {
			t.Fatalf("Decode accepted with %d fields, the scanner says %d, %v", len(m.Fields), len(fields), err)
		}
		if len(m.Fields) > maxFields-50 {
			return // EncodeMessage may add elements and cross the limit
		}
		for _, f := range m.Fields {
			if strings.Contains(f.Value, "\r") {
				return // only a reference makes a CR, and CDATA turns it into LF
			}
		}
		enc := EncodeMessage(m)
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(EncodeMessage(m)): %v\n%s", err, enc)
		}
		if !sameStructFields(m, m2) {
			t.Fatalf("round trip changed the message:\n%s\n got %+v\nwant %+v", enc, *m2, *m)
		}
	})
}

// FuzzDecrypt checks that no Encrypt value makes Decrypt panic or fail
// with an error of another kind, and that Encrypt round-trips any message.
func FuzzDecrypt(f *testing.F) {
	f.Add(vectorEncrypt, []byte(vectorPlain))
	f.Add(vectorReplyEncrypt, []byte(""))
	f.Add("", []byte("\x00"))
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==", []byte(strings.Repeat("x", 33)))
	c, err := NewCipher(vectorKey, vectorAppID)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, encrypt string, msg []byte) {
		if got, err := c.Decrypt(encrypt); err != nil {
			if !errors.Is(err, ErrBadCiphertext) && !errors.Is(err, ErrAppIDMismatch) {
				t.Fatalf("Decrypt error %v wraps neither sentinel", err)
			}
		} else if len(got) > len(encrypt) {
			t.Fatalf("Decrypt returned more bytes than it was given")
		}
		got, err := c.Decrypt(c.Encrypt(nil, msg))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Decrypt(Encrypt(%q)) = %q, %v", msg, got, err)
		}
	})
}

// FuzzParseEnvelope checks ParseEnvelope and ParseReplyEnvelope never panic
// and that an accepted envelope is what encoding/xml reads.
func FuzzParseEnvelope(f *testing.F) {
	seedCorpus(f)
	f.Add(AppendEncryptedPush(nil, testGh, vectorEncrypt))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseReplyEnvelope(data); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseReplyEnvelope error %v does not wrap ErrMalformed", err)
		}
		env, err := ParseEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		fields, err := refFields(data)
		if err != nil {
			t.Fatalf("ParseEnvelope accepts, encoding/xml does not: %v", err)
		}
		var want Envelope
		for _, f := range fields {
			switch f.Name {
			case "ToUserName":
				want.ToUserName = f.Value
			case "Encrypt":
				want.Encrypt = f.Value
			}
		}
		if env != want || env.Encrypt == "" {
			t.Fatalf("ParseEnvelope = %+v, encoding/xml reads %+v", env, want)
		}
	})
}

// FuzzAppendReply checks that any strings make a reply that encoding/xml
// and the scanner both read back, as xmlSafe predicts.
func FuzzAppendReply(f *testing.F) {
	f.Add("你好", "t", "]]>")
	f.Add("a]]]]>b\r\n", "\x00\xff", "")
	f.Fuzz(func(t *testing.T, content, title, url string) {
		for _, r := range []*Reply{
			{Type: ReplyText, Content: content},
			{Type: ReplyNews, Articles: []Article{{Title: title, Description: content, URL: url}}},
		} {
			body := AppendReply(nil, title, url, 1, r)
			to, from, _, got, err := ParseReply(body)
			if err != nil {
				t.Fatalf("ParseReply: %v\n%q", err, body)
			}
			if to != xmlSafe(title) || from != xmlSafe(url) {
				t.Fatalf("header %q %q, want %q %q", to, from, xmlSafe(title), xmlSafe(url))
			}
			want := xmlSafe(content)
			if r.Type == ReplyText && got.Content != want || r.Type == ReplyNews && got.Articles[0].Description != want {
				t.Fatalf("reply %+v, want content %q", got, want)
			}
			checkAgainstReference(t, body)
			if _, err := scanFields(nil, string(body)); err != nil {
				t.Fatalf("the scanner rejects a reply: %v\n%q", err, body)
			}
		}
	})
}
