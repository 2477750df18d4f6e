// Package wechat is the WeChat Official Account wire protocol, with nothing
// of wxbot in it and nothing but the standard library under it.
//
// # Signatures
//
// Every push carries signature = sha1(sort(token, timestamp, nonce)); safe and
// compatible mode pushes also carry msg_signature over four strings (token,
// timestamp, nonce, Encrypt). [VerifySignature] and [VerifyMsgSignature]
// compare in constant time and do not allocate; [Signature] computes either.
//
// # Encryption
//
// [Cipher] implements safe and compatible mode: AES-256-CBC with IV = key[:16],
// PKCS#7 padding to 32 bytes, plaintext random(16) ‖ len(4, big endian) ‖ XML ‖
// AppID, Base64 outside. Decrypt checks the padding and the trailing AppID.
// [ParseEnvelope] reads Encrypt from a push; [Cipher.AppendEncryptedReply]
// wraps a reply in the envelope WeChat expects back.
//
// # Messages and replies
//
// [Decode] turns a push body into a [Message]; it accepts MsgId and MsgID,
// numbers inside CDATA, and keeps every leaf element in [Message.Fields].
// It runs on every push, so it is a small scanner for the XML subset WeChat
// sends rather than encoding/xml: its strings share one copy of the body. A
// differential fuzz test holds it to encoding/xml's reading of any document
// it accepts. [EncodeMessage] is its inverse, for simulators.
//
// [AppendReply] writes a passive reply into a caller's buffer and allocates
// nothing else. [ParseReply] and [ParseReplyEnvelope] read replies back with
// encoding/xml, for the simulator and tests.
//
// # API client
//
// [Client] calls the WeChat API ([Client.Call], customer-service messages
// with [Client.SendKefu], …) with a cached access_token (token.go): one
// fetch per refresh however callers interleave, a [TokenCache] that replicas
// may share, and, with the stable API, a revoked token replaced by one
// force_refresh within WeChat's limits ([ForceRefreshLimiter],
// [*ForceRefreshError]).
//
// # Errors
//
// Failures are sentinel errors ([ErrBadSignature], [ErrMalformed], …),
// possibly wrapped, for errors.Is; API error answers are [*APIError].
package wechat
