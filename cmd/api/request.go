package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/engine/outbox"
)

// request is a POST /v1/messages body, checked.
type request struct {
	account, to, key string
	kefu             *actions.KefuParams
	rawKefu          any // as posted, for the fingerprint
}

var requestFields = []string{"account", "to", "kefu", "idempotency_key"}

// parseRequest checks a body, naming every problem.
func parseRequest(body []byte) (*request, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf(`want a JSON object such as {"to": "OPENID", "kefu": {"text": "…"}, "idempotency_key": "…"}: %w`, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("want one JSON object, and nothing after it")
	}
	if top == nil {
		return nil, errors.New(`want a JSON object such as {"to": "OPENID", "kefu": {"text": "…"}}, got null`)
	}
	var errs []error
	str := func(field string) string {
		s, ok := top[field].(string)
		if !ok && top[field] != nil {
			errs = append(errs, fmt.Errorf("%s: want a string, got %s", field, actions.JSONKind(top[field])))
		}
		return s
	}
	keys := slices.Sorted(maps.Keys(top))
	for _, k := range keys {
		if !slices.Contains(requestFields, k) {
			errs = append(errs, fmt.Errorf("unknown field %q (known: %s)", k, strings.Join(requestFields, ", ")))
		}
	}
	req := &request{account: str("account"), to: str("to"), key: str("idempotency_key"), rawKefu: top["kefu"]}
	errs = append(errs, checkOpenID(req.to), checkKey(req.key))
	if req.rawKefu == nil {
		errs = append(errs, errors.New(`kefu: required: the message, such as {"text": "…"} (any kefu message type)`))
	} else {
		raw, _ := json.Marshal(req.rawKefu)
		var err error
		if req.kefu, err = actions.KefuFromJSON(raw); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, oneLine(err)
	}
	return req, nil
}

// send is the outbox send the request makes for account, posted with the
// token named tokenName, and the request's fingerprint there.
func (req *request) send(account, tokenName string) (*outbox.Send, string, error) {
	m, err := req.kefu.Message(req.to)
	if err != nil {
		return nil, "", err
	}
	payload, err := outbox.Encode(m)
	if err != nil {
		return nil, "", fmt.Errorf("kefu: %w", err)
	}
	// The request as posted, not the payload: a text list picks at random.
	canon, err := json.Marshal(map[string]any{"account": account, "to": req.to, "kefu": req.rawKefu}) // map keys sorted
	if err != nil {
		return nil, "", fmt.Errorf("kefu: %w", err)
	}
	sum := sha256.Sum256(canon)
	return &outbox.Send{ID: newID(account, tokenName, req.key), Kind: outbox.KindKefu, OrderKey: req.to,
		Rule: "api:" + tokenName, Payload: payload, Typing: req.kefu.Typing}, hex.EncodeToString(sum[:]), nil
}

// checkOpenID checks the recipient: an OpenID is letters, digits, '-'
// and '_' (28 characters for an Official Account's users).
func checkOpenID(to string) error {
	if to == "" {
		return errors.New("to: required: the user's OpenID")
	}
	if len(to) > 64 || strings.IndexFunc(to, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}) >= 0 {
		return fmt.Errorf("to: %q is not an OpenID (letters, digits, '-' and '_', at most 64)", to)
	}
	return nil
}

// checkKey checks an idempotency key: optional, at most 255 bytes of
// printable text.
func checkKey(key string) error {
	switch {
	case len(key) > 255:
		return fmt.Errorf("idempotency_key: %d bytes, at most 255", len(key))
	case !utf8.ValidString(key) || strings.IndexFunc(key, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0:
		return errors.New("idempotency_key: want printable text (a UUID, a ticket's reply ID)")
	}
	return nil
}

// oneLine joins a joined error's lines, for a JSON answer.
func oneLine(err error) error {
	return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
}
