// Package wechatpay reads WeChat Pay v3 payment notifications (支付结果通知),
// with nothing of wxbot in it and nothing but the standard library under it.
//
// # Verification
//
// WeChat Pay POSTs a JSON notification to the merchant's notify_url and signs
// "<Wechatpay-Timestamp>\n<Wechatpay-Nonce>\n<raw body>\n" with SHA256-RSA
// (PKCS #1 v1.5). The Wechatpay-Serial header names the key that verifies it:
// a platform certificate (serial = the certificate's serial number in upper
// case hex) or a WeChat Pay public key (serial = its id, PUB_KEY_ID_…).
// [Verifier.Parse] checks, in this order, that the headers are there, that
// the timestamp is less than five minutes off, that the serial is one of the
// configured keys and that the signature holds; only then does it read the
// body.
//
// # Decryption
//
// The resource is AEAD_AES_256_GCM: key = the merchant's APIv3 key (32
// bytes), nonce = resource.nonce, additional data = resource.associated_data,
// input = Base64(ciphertext ‖ 16-byte tag). A notification that verifies but
// does not decrypt means the APIv3 key is wrong (it was reset in the
// merchant console, or mistyped): [ErrDecrypt].
//
// # Keys without a serial
//
// A public key PEM carries no id. Give it one (ParsePEM's id argument; the
// bot's --pay-public-key-id) and a notification naming another serial is
// [ErrUnknownSerial]. Without one, the key verifies notifications of any
// serial that no other key claims: the signature is what authenticates a
// notification, the serial only selects the key, so this is as safe, but a
// key rotation then shows up as [ErrBadSignature] instead of the clearer
// [ErrUnknownSerial].
//
// # Signing
//
// [Signer] does what WeChat Pay does, with a key pair the caller generates:
// `wxbot simulate pay` and the tests use it to build real notifications.
//
// # Errors
//
// Failures are sentinel errors ([ErrBadSignature], [ErrStale], …), wrapped
// with detail for logs, for errors.Is. None of them holds a key.
package wechatpay
