package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Menu is an Official Account's custom menu, as /cgi-bin/menu/create takes
// it and /cgi-bin/menu/get returns it. The yaml tags are the same names, so a
// menu kept as YAML reads like WeChat's own examples.
type Menu struct {
	Buttons []Button `json:"button" yaml:"button"`
}

// Button is a menu button: either a parent (Name and SubButtons only) or a
// leaf (Type, Name and the fields its type needs).
type Button struct {
	Type       string   `json:"type,omitempty" yaml:"type,omitempty"`
	Name       string   `json:"name" yaml:"name"`
	Key        string   `json:"key,omitempty" yaml:"key,omitempty"`
	URL        string   `json:"url,omitempty" yaml:"url,omitempty"`
	MediaID    string   `json:"media_id,omitempty" yaml:"media_id,omitempty"`
	ArticleID  string   `json:"article_id,omitempty" yaml:"article_id,omitempty"`
	AppID      string   `json:"appid,omitempty" yaml:"appid,omitempty"`
	PagePath   string   `json:"pagepath,omitempty" yaml:"pagepath,omitempty"`
	SubButtons []Button `json:"sub_button,omitempty" yaml:"sub_button,omitempty"`
}

// Menu limits from the menu/create documentation.
const (
	MenuMaxButtons      = 3    // top-level buttons
	MenuMaxSubButtons   = 5    // sub-buttons under one button
	MenuMaxNameBytes    = 16   // name of a top-level button
	MenuMaxSubNameBytes = 60   // name of a sub-button
	MenuMaxKeyBytes     = 128  // key
	MenuMaxURLBytes     = 1024 // url
)

// ButtonTypes are the leaf button types WeChat takes, each with the fields
// it requires. The order is the documentation's, for messages.
var ButtonTypes = []string{
	"click", "view", "miniprogram",
	"scancode_push", "scancode_waitmsg",
	"pic_sysphoto", "pic_photo_or_album", "pic_weixin",
	"location_select",
	"media_id", "view_limited", "article_id", "article_view_limited",
}

var buttonRequires = map[string][]string{
	"click":                {"key"},
	"view":                 {"url"},
	"miniprogram":          {"url", "appid", "pagepath"}, // url opens on clients without mini programs
	"scancode_push":        {"key"},
	"scancode_waitmsg":     {"key"},
	"pic_sysphoto":         {"key"},
	"pic_photo_or_album":   {"key"},
	"pic_weixin":           {"key"},
	"location_select":      {"key"},
	"media_id":             {"media_id"},
	"view_limited":         {"media_id"},
	"article_id":           {"article_id"},
	"article_view_limited": {"article_id"},
}

// ButtonEvent is the event type (as rules name it) a tap on a leaf of type
// buttonType pushes with the button's key as EventKey, or "" when the tap
// pushes no key (view, miniprogram, media_id, …).
func ButtonEvent(buttonType string) string {
	switch buttonType {
	case "click":
		return "click"
	case "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select":
		return buttonType
	}
	return ""
}

// ErrInvalidMenu means a menu breaks WeChat's limits; MenuCreate refuses it
// without calling the API.
var ErrInvalidMenu = errors.New("invalid menu")

// ButtonError is one problem Validate found. Button and Sub locate it: Sub
// is -1 for a top-level button, and both are -1 for the menu as a whole.
type ButtonError struct {
	Button, Sub int
	Name        string // the button's name, to recognise it by
	Msg         string
}

func (e *ButtonError) Error() string { return e.Where() + ": " + e.Msg }

// Where names the button: `button[1].sub_button[2] "赞一下"`, or "menu".
func (e *ButtonError) Where() string {
	var b strings.Builder
	switch {
	case e.Button < 0:
		b.WriteString("menu")
	case e.Sub < 0:
		fmt.Fprintf(&b, "button[%d]", e.Button)
	default:
		fmt.Fprintf(&b, "button[%d].sub_button[%d]", e.Button, e.Sub)
	}
	if e.Name != "" {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	return b.String()
}

// Validate checks m against WeChat's limits, so that a bad menu is caught
// with every problem named instead of one errcode per push. It returns
// *ButtonError values, in menu order; none means valid.
func (m *Menu) Validate() []error {
	var errs []error
	add := func(i, j int, name, format string, args ...any) {
		errs = append(errs, &ButtonError{Button: i, Sub: j, Name: name, Msg: fmt.Sprintf(format, args...)})
	}
	if m == nil || len(m.Buttons) == 0 {
		add(-1, -1, "", "no buttons: a menu has 1-%d top-level buttons", MenuMaxButtons)
		return errs
	}
	if n := len(m.Buttons); n > MenuMaxButtons {
		add(-1, -1, "", "%d top-level buttons: at most %d", n, MenuMaxButtons)
	}
	for i := range m.Buttons {
		b := &m.Buttons[i]
		checkName(add, i, -1, b.Name, MenuMaxNameBytes)
		switch {
		case len(b.SubButtons) > 0:
			if extra := setFields(b); len(extra) > 0 {
				add(i, -1, b.Name, "a button with sub_button has only name: remove %s", strings.Join(extra, ", "))
			}
			if n := len(b.SubButtons); n > MenuMaxSubButtons {
				add(i, -1, b.Name, "%d sub-buttons: at most %d", n, MenuMaxSubButtons)
			}
			for j := range b.SubButtons {
				s := &b.SubButtons[j]
				checkName(add, i, j, s.Name, MenuMaxSubNameBytes)
				if len(s.SubButtons) > 0 {
					add(i, j, s.Name, "a sub-button cannot have sub_button: menus are two levels deep")
					continue
				}
				checkLeaf(add, i, j, s)
			}
		case b.SubButtons != nil && b.Type == "":
			// "sub_button: []" in the file: neither a parent nor a leaf.
			add(i, -1, b.Name, "sub_button is empty: give it 1-%d buttons, or make this a leaf with a type", MenuMaxSubButtons)
		default:
			checkLeaf(add, i, -1, b)
		}
	}
	return errs
}

type addFunc func(i, j int, name, format string, args ...any)

func checkName(add addFunc, i, j int, name string, max int) {
	if strings.TrimSpace(name) == "" {
		add(i, j, "", "name is required")
		return
	}
	if n := len(name); n > max {
		where := "a top-level button"
		if j >= 0 {
			where = "a sub-button"
		}
		add(i, j, name, "name is %d bytes, at most %d for %s (a 汉字 takes 3)", n, max, where)
	}
}

func checkLeaf(add addFunc, i, j int, b *Button) {
	if b.Type == "" {
		add(i, j, b.Name, "needs a type (%s) or sub_button", strings.Join(ButtonTypes, ", "))
		return
	}
	req, ok := buttonRequires[b.Type]
	if !ok {
		add(i, j, b.Name, "unknown type %q (known: %s)", b.Type, strings.Join(ButtonTypes, ", "))
		return
	}
	var missing []string
	for _, f := range req {
		if strings.TrimSpace(buttonField(b, f)) == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		add(i, j, b.Name, "%s needs %s", b.Type, strings.Join(missing, ", "))
	}
	if n := len(b.Key); n > MenuMaxKeyBytes {
		add(i, j, b.Name, "key is %d bytes, at most %d", n, MenuMaxKeyBytes)
	}
	if n := len(b.URL); n > MenuMaxURLBytes {
		add(i, j, b.Name, "url is %d bytes, at most %d", n, MenuMaxURLBytes)
	}
}

func buttonField(b *Button, name string) string {
	switch name {
	case "type":
		return b.Type
	case "key":
		return b.Key
	case "url":
		return b.URL
	case "media_id":
		return b.MediaID
	case "article_id":
		return b.ArticleID
	case "appid":
		return b.AppID
	case "pagepath":
		return b.PagePath
	}
	return ""
}

// setFields lists the fields other than name and sub_button that b sets.
func setFields(b *Button) []string {
	var set []string
	for _, f := range []string{"type", "key", "url", "media_id", "article_id", "appid", "pagepath"} {
		if buttonField(b, f) != "" {
			set = append(set, f)
		}
	}
	return set
}

const (
	pathMenuCreate = "/cgi-bin/menu/create"
	pathMenuGet    = "/cgi-bin/menu/get"
	pathMenuDelete = "/cgi-bin/menu/delete"
)

// codeNoMenu is menu/get's answer when the account has no menu.
const codeNoMenu = 46003

// MenuCreate replaces the whole menu with m. An m that Validate rejects is
// refused with ErrInvalidMenu (and every problem) before any call.
func (c *Client) MenuCreate(ctx context.Context, m *Menu) error {
	if errs := m.Validate(); len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidMenu, errors.Join(errs...))
	}
	return c.Call(ctx, http.MethodPost, pathMenuCreate, nil, m, nil)
}

// MenuGet returns the menu set through the API, or nil (and no error) when
// the account has none. Conditional menus are not returned.
func (c *Client) MenuGet(ctx context.Context) (*Menu, error) {
	var ans struct {
		Menu *Menu `json:"menu"`
	}
	err := c.Call(ctx, http.MethodGet, pathMenuGet, nil, nil, &ans)
	if code, ok := APICode(err); ok && code == codeNoMenu {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ans.Menu == nil || len(ans.Menu.Buttons) == 0 {
		return nil, nil
	}
	return ans.Menu, nil
}

// MenuDelete deletes the menu, conditional menus included.
func (c *Client) MenuDelete(ctx context.Context) error {
	return c.Call(ctx, http.MethodGet, pathMenuDelete, nil, nil, nil)
}

// The hints of the menu errors; Validate catches most of them first.
var menuHints = map[int]string{
	40015: "invalid menu type",
	40016: "a menu has 1-3 top-level buttons",
	40017: "invalid button type",
	40018: "a top-level button name is at most 16 bytes",
	40019: "a button key is at most 128 bytes",
	40020: "a button url is at most 1024 bytes",
	40023: "a button has 1-5 sub-buttons",
	40024: "invalid sub-button type",
	40025: "a sub-button name is at most 60 bytes",
	40026: "a sub-button key is at most 128 bytes",
	40027: "a sub-button url is at most 1024 bytes",
	40054: "a sub-button url has a domain WeChat refuses",
	40055: "a button url has a domain WeChat refuses",
	45064: "the mini program is not linked to this account: link it in the console first",
	46003: "the account has no menu",
	65316: "the menu links to too many external domains (at most 3)",
}

func init() { addHints(menuHints) }
