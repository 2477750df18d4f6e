package wechat

import "errors"

var (
	// ErrBadSignature means a signature or msg_signature did not match: the
	// push was not signed with our Token, or was altered.
	ErrBadSignature = errors.New("wechat: bad signature")
	// ErrMissingParam means a required query parameter (signature,
	// timestamp, nonce, msg_signature, echostr) is absent.
	ErrMissingParam = errors.New("wechat: missing query parameter")
	// ErrMalformed means a body is not a WeChat XML push: not XML, no <xml>
	// root, a required field absent, or a number that does not parse.
	ErrMalformed = errors.New("wechat: malformed message")
	// ErrBadAESKey means an EncodingAESKey is not 43 characters of Base64
	// that decode to 32 bytes.
	ErrBadAESKey = errors.New("wechat: bad EncodingAESKey (want the 43 characters from the console)")
	// ErrBadCiphertext means Encrypt is not valid Base64, not a whole number
	// of AES blocks, has bad PKCS#7 padding, or a length prefix that does not
	// fit.
	ErrBadCiphertext = errors.New("wechat: bad ciphertext")
	// ErrAppIDMismatch means a message decrypted but its trailing AppID is
	// not ours: a push for another account, or the wrong --appid.
	ErrAppIDMismatch = errors.New("wechat: appid in message does not match")
)
