package wechat

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"slices"
)

// Signature returns the lower-case hex SHA-1 of parts sorted byte-wise and
// concatenated without a separator: the signature of a push (token,
// timestamp, nonce) or the msg_signature of an encrypted one (token,
// timestamp, nonce, Encrypt). parts itself is not reordered.
func Signature(parts ...string) string {
	var out [2 * sha1.Size]byte
	if len(parts) <= 4 {
		// Keep the common case on the stack.
		var a [4]string
		n := copy(a[:], parts)
		sortedSHA1Hex(&out, a[:n])
	} else {
		sortedSHA1Hex(&out, slices.Clone(parts))
	}
	return string(out[:])
}

// VerifySignature reports whether signature is sha1(sort(token, timestamp,
// nonce)), the signature query parameter of every request from WeChat. Hex
// digits may be of either case. The comparison takes the same time wherever
// the first difference is, so a forger learns nothing from timing.
func VerifySignature(token, timestamp, nonce, signature string) bool {
	a := [3]string{token, timestamp, nonce}
	return verify(a[:], signature)
}

// VerifyMsgSignature reports whether msgSignature is sha1(sort(token,
// timestamp, nonce, encrypt)), the msg_signature of a safe or compatible mode
// push, where encrypt is the Encrypt element of the body. It compares in
// constant time like [VerifySignature].
func VerifyMsgSignature(token, timestamp, nonce, encrypt, msgSignature string) bool {
	a := [4]string{token, timestamp, nonce, encrypt}
	return verify(a[:], msgSignature)
}

func verify(parts []string, signature string) bool {
	// The length is public (always 40), so returning early on it leaks nothing.
	if len(signature) != 2*sha1.Size {
		return false
	}
	var want, got [2 * sha1.Size]byte
	sortedSHA1Hex(&want, parts)
	for i := 0; i < len(got); i++ {
		c := signature[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		got[i] = c
	}
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// sortedSHA1Hex sorts parts in place and writes the hex SHA-1 of their
// concatenation to out. It streams the parts through a stack buffer instead of
// concatenating them because Encrypt values run to kilobytes and the hash is
// computed on every encrypted push.
func sortedSHA1Hex(out *[2 * sha1.Size]byte, parts []string) {
	// Insertion sort: there are three or four parts, and sort.Strings would
	// move the slice to the heap.
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j] < parts[j-1]; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	h := sha1.New()
	var chunk [256]byte
	for _, p := range parts {
		for len(p) > 0 {
			n := copy(chunk[:], p)
			h.Write(chunk[:n])
			p = p[n:]
		}
	}
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	hex.Encode(out[:], sum[:])
}
