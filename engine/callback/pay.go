package callback

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/wxbot/wxbot/engine"
	"github.com/wxbot/wxbot/engine/wechatpay"
)

// PayNotifyPath is where WeChat Pay v3 notifications arrive, on the callback
// listener. The notify_url of orders must point here (HTTPS, no query).
const PayNotifyPath = "/wechatpay/notify"

// PayOnceTTL is how long a transaction_id is remembered: WeChat Pay
// redelivers an unanswered notification for about 24 hours and 4 minutes.
const PayOnceTTL = 25 * time.Hour

// PaymentEvent is the event rules see for a verified TRANSACTION.SUCCESS:
// type payment, from the payer's OpenID, event.payment filled, and
// event.raw holding the transaction's fields by their WeChat Pay names.
// Its ID is "pay/" + transaction_id, so the sends of a redelivered
// notification are the same sends.
func PaymentEvent(tx *wechatpay.Transaction, now time.Time, loc *time.Location) *engine.Event {
	at := now
	if t, err := time.Parse(time.RFC3339, tx.SuccessTime); err == nil {
		at = t
	}
	return &engine.Event{
		ID:   "pay/" + tx.TransactionID,
		Type: "payment",
		From: tx.Payer.OpenID,
		Time: at.In(loc),
		Payment: engine.Payment{
			OutTradeNo: tx.OutTradeNo, TransactionID: tx.TransactionID, Total: tx.Amount.Total,
			Currency: tx.Amount.Currency, State: tx.TradeState, Attach: tx.Attach,
		},
		Raw: map[string]string{
			"id": tx.NotificationID, "appid": tx.AppID, "mchid": tx.MchID, "out_trade_no": tx.OutTradeNo,
			"transaction_id": tx.TransactionID, "trade_type": tx.TradeType, "trade_state": tx.TradeState,
			"trade_state_desc": tx.TradeStateDesc, "bank_type": tx.BankType, "attach": tx.Attach,
			"success_time": tx.SuccessTime, "payer.openid": tx.Payer.OpenID,
			"amount.total": strconv.FormatInt(tx.Amount.Total, 10), "amount.payer_total": strconv.FormatInt(tx.Amount.PayerTotal, 10),
			"amount.currency": tx.Amount.Currency, "amount.payer_currency": tx.Amount.PayerCurrency,
		},
	}
}

// PayConfig configures the WeChat Pay notify handler.
type PayConfig struct {
	Verifier *wechatpay.Verifier
	// Claims remember which transactions ran their rules (required).
	Claims engine.Claims
	// Hints replace the log's advice for a refusal status (the front end
	// knows its own setting names: a flag, a file).
	Hints map[int]string
	// Wait bounds how long the answer waits for the rules' actions to end
	// (4 s when 0); actions still running then go on after the answer.
	Wait   time.Duration
	Logger *slog.Logger
}

// PayHandler takes WeChat Pay v3 notifications and runs the rules for each
// successful payment once, however often WeChat Pay delivers it.
//
// Order of work, and why: the notification is verified and decrypted; then
// "pay/"+transaction_id is claimed in the store (durably, for PayOnceTTL);
// then the rules are dispatched; the answer (204) waits for their actions
// up to Wait. A redelivery finds the claim and is answered 204 without
// running anything, even after a restart. Claiming before running is what
// keeps a webhook from being called twice when two deliveries race (and
// ClaimOnce is the store's only primitive for this: a claim cannot be
// released). Its cost: a crash after the claim and before the actions have
// stored their effects loses that payment's rules. The window is short:
// template and kefu sends are durable once enqueued (milliseconds), a
// webhook's retry is stored when its first attempt fails, so only a crash
// during that first attempt (at most its timeout) loses the call. A store
// that fails the claim answers 500, so WeChat Pay delivers again later;
// nothing has run then.
//
// Refusals answer {"code":"FAIL","message":"失败"} with the status only
// hinting at the cause (the log says the rest): 400 malformed, 401 bad
// signature or unknown serial, 403 stale timestamp, 500 a verified
// notification this bot cannot decrypt (its APIv3 key is wrong: a
// configuration error, and WeChat Pay keeps redelivering until it is
// fixed), 503 shutting down.
type PayHandler struct {
	e   *engine.Engine
	cfg PayConfig
	log *slog.Logger
}

// NewPayHandler returns the notify handler for e. cfg.Verifier and
// cfg.Claims are required.
func NewPayHandler(e *engine.Engine, cfg PayConfig) *PayHandler {
	if cfg.Wait <= 0 {
		cfg.Wait = 4 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = e.Logger()
	}
	return &PayHandler{e: e, cfg: cfg, log: cfg.Logger}
}

// payStatus maps a verification failure to the status WeChat Pay sees.
func payStatus(err error) int {
	switch {
	case errors.Is(err, wechatpay.ErrMissingHeader), errors.Is(err, wechatpay.ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, wechatpay.ErrBadSignature), errors.Is(err, wechatpay.ErrUnknownSerial):
		return http.StatusUnauthorized
	case errors.Is(err, wechatpay.ErrStale):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// payHints tell the operator, in the log only, what to do.
var payHints = map[int]string{
	http.StatusBadRequest:          "not a WeChat Pay v3 notification",
	http.StatusUnauthorized:        "signature not verified: check the configured WeChat Pay platform certificate or public key (WeChat Pay may have rotated it), or the sender is not WeChat Pay",
	http.StatusForbidden:           "timestamp 5 minutes or more off: a replay, or this server's clock is off (check NTP)",
	http.StatusInternalServerError: "verified but not decryptable: the configured APIv3 key is not the one set in the merchant console; WeChat Pay redelivers for 24 h",
}

func (h *PayHandler) fail(w http.ResponseWriter, r *http.Request, status int, why string, err error) {
	h.log.Warn("payment notification refused", "status", status, "reason", why, "err", err, "remote", r.RemoteAddr,
		"request_id", r.Header.Get("Request-ID"))
	writePayFail(w, status)
}

// writePayFail answers as WeChat Pay expects a failure; the message is the
// one in WeChat Pay's documentation, and says nothing of the cause.
func writePayFail(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, `{"code":"FAIL","message":"失败"}`)
}

func (h *PayHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writePayFail(w, http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, "body over 1 MiB", nil)
			return
		}
		h.fail(w, r, http.StatusBadRequest, "reading body", err)
		return
	}
	tx, err := h.cfg.Verifier.Parse(r.Header, body, h.e.Now())
	if errors.Is(err, wechatpay.ErrNotTransaction) {
		// Refunds and the like are valid but not ours to act on; a failure
		// answer would only make WeChat Pay redeliver them for a day.
		h.log.Info("payment notification of another kind; no rules run", "err", err)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		status := payStatus(err)
		hint, ok := h.cfg.Hints[status]
		if !ok {
			hint = payHints[status]
		}
		h.fail(w, r, status, hint, err)
		return
	}
	if h.e.Closing() {
		h.fail(w, r, http.StatusServiceUnavailable, "shutting down; WeChat Pay will deliver again", nil)
		return
	}
	first, err := h.cfg.Claims.ClaimOnce(r.Context(), "pay/"+tx.TransactionID, PayOnceTTL)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "the store failed; WeChat Pay will deliver again", err)
		return
	}
	if !first {
		h.log.Info("payment notification delivered again; its rules ran before", "transaction_id", tx.TransactionID)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ev := PaymentEvent(tx, h.e.Now(), h.e.Location())
	p := h.e.Dispatch(ev)
	timer := time.NewTimer(h.cfg.Wait)
	outcome := "done"
	select {
	case <-p.Done():
	case <-timer.C:
		outcome = "running"
	case <-r.Context().Done():
		outcome = "running"
	}
	timer.Stop()
	w.WriteHeader(http.StatusNoContent)
	if h.log.Enabled(context.Background(), slog.LevelInfo) {
		h.log.Info("payment", "from", ev.From, "transaction_id", tx.TransactionID, "out_trade_no", tx.OutTradeNo,
			"total", tx.Amount.Total, "rules", p.RuleNames(), "actions", outcome, "latency", time.Since(start))
	}
}
