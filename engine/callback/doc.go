// Package callback holds the HTTP handlers that outside systems call: the
// WeChat callback ([Handler]: URL verification and signed, possibly
// encrypted pushes) and WeChat Pay v3 notifications ([PayHandler]).
//
// # A push
//
// [Handler] takes a push in four steps: authenticate (signature, timestamp),
// open (body, decryption with the current or previous EncodingAESKey,
// decoding), dispatch (the engine runs the rules; the handler waits for a
// passive reply until the reply deadline) and respond (the reply's XML,
// encrypted when the push was, or "success"). A push refused before the
// rules run is answered 4xx with a short public reason; the log says what
// to check.
//
// # Retries
//
// WeChat retries a push it got no answer to within 5 s. The handler keys
// every push (MsgId for messages; FromUserName, CreateTime, Event and
// EventKey for events), runs rules for the first copy only, and serves later
// copies the first copy's reply bytes, waiting for it when it is still being
// computed (engine/dedup).
//
// Without the kefu API (Config.HoldLate) a push whose reply is late is not
// answered: WeChat's retries wait for it, the last one gets the pending
// text, and the reply then answers the user's next push (hold.go).
//
// # Payments
//
// [PayHandler] takes WeChat Pay v3 notifications (verified and decrypted by
// engine/wechatpay) and dispatches a payment event per transaction_id, once:
// the id is claimed durably ([engine.Claims]) before the rules run, so
// WeChat Pay's redeliveries (for about 24 hours) and restarts run nothing
// again. A payment takes no passive reply, and no kefu fallback.
package callback
