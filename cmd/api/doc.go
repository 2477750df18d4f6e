// Package api is the send API for other systems: CRMs, ticket desks and
// agents that answer a WeChat user minutes after they wrote, through the
// same durable outbox as a rule's kefu action (`wxbot serve
// --api-listen`).
//
// # Requests
//
// POST /v1/messages takes {"account": NAME, "to": OPENID, "kefu": {…},
// "idempotency_key": KEY}: the kefu object is the kefu action's params as
// rules.yaml spells them (actions.KefuFromJSON), its strings taken as
// written. It answers 202 {"id": ID} once the send is in the account's
// store, from where the outbox delivers it with the retries and window
// rules of every kefu send. GET /v1/messages/ID answers its status:
// pending, sent, or dead with the reason.
//
// # Tokens and limits
//
// Each request carries `Authorization: Bearer TOKEN`; the tokens file
// holds `name: sha256-hex-of-token` lines (optionally ` accounts=a,b`,
// the accounts the token may send for), read again when it changes. A
// token is compared by its hash, in constant time, and never logged; its
// name is. Each token has a rate (requests a second, in bursts as large)
// kept in this process: replicas each allow it.
//
// # Idempotency
//
// A send's ID is derived from the account, the token's name and the
// idempotency key, and the key is remembered in the account's store with
// a hash of the request (store.IdempotencyKeys) for KeyRetention: a key
// posted again, to this replica or another, after a restart or not, is
// answered with the same ID and the outbox (which ignores a known ID)
// sends it once; the same key with another request is refused (409).
// Nothing is stored for a request that is refused, so a corrected request
// may reuse its key.
package api
