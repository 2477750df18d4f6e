// Package wechat is the WeChat Official Account wire protocol, with nothing
// of wxbot in it and nothing but the standard library under it.
//
// # Signatures
//
// Every push carries signature = sha1(sort(token, timestamp, nonce)); safe and
// compatible mode pushes also carry msg_signature over four strings (token,
// timestamp, nonce, Encrypt). [VerifySignature] and [VerifyMsgSignature]
// compare in constant time.
//
// # Encryption
//
// [Cipher] implements safe and compatible mode: AES-256-CBC with IV = key[:16],
// PKCS#7 padding to 32 bytes, plaintext random(16) ‖ len(4, big endian) ‖ XML ‖
// AppID, Base64 outside. Decrypt checks the trailing AppID.
//
// # Messages and replies
//
// [Decode] turns a push body into a [Message]; it accepts MsgId and MsgID,
// numbers inside CDATA, and keeps every leaf element in [Message.Fields].
// [AppendReply] writes a passive reply; [Cipher.AppendEncryptedReply] wraps it
// in the encrypted envelope. Both append to a caller's buffer so the hot path
// does not allocate per reply.
//
// # Errors
//
// Failures are sentinel errors ([ErrBadSignature], [ErrMalformed], …),
// possibly wrapped, for errors.Is.
package wechat
