package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Menu is an Official Account's custom menu.
type Menu struct {
	Buttons []Button `json:"button" yaml:"button"`
}

// Button is a menu button: a leaf with a type, or a group with sub-buttons.
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

// menuTypes lists the leaf types and the field each requires.
var menuTypes = map[string][]string{
	"click": {"key"}, "view": {"url"}, "miniprogram": {"url", "appid", "pagepath"},
	"scancode_push": {"key"}, "scancode_waitmsg": {"key"},
	"pic_sysphoto": {"key"}, "pic_photo_or_album": {"key"}, "pic_weixin": {"key"},
	"location_select": {"key"}, "media_id": {"media_id"}, "view_limited": {"media_id"},
	"article_id": {"article_id"}, "article_view_limited": {"article_id"},
}

// KeyedTypes are the button types whose key comes back as an event's
// EventKey (and so should have a rule).
var KeyedTypes = []string{"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select"}

func (b *Button) field(name string) string {
	switch name {
	case "key":
		return b.Key
	case "url":
		return b.URL
	case "appid":
		return b.AppID
	case "pagepath":
		return b.PagePath
	case "media_id":
		return b.MediaID
	case "article_id":
		return b.ArticleID
	}
	return ""
}

// Validate checks WeChat's limits (wechat-protocol.md §8) before any call:
// 1–3 buttons, 1–5 sub-buttons each, names of at most 16 bytes (top) or 60
// (sub), keys of 128 bytes, URLs of 1024, and each type's required field.
func (m *Menu) Validate() []error {
	var errs []error
	if n := len(m.Buttons); n < 1 || n > 3 {
		errs = append(errs, fmt.Errorf("button: %d buttons, want 1 to 3", n))
	}
	for i := range m.Buttons {
		b := &m.Buttons[i]
		where := fmt.Sprintf("button[%d] %q", i, b.Name)
		if len(b.SubButtons) > 0 {
			if len(b.SubButtons) > 5 {
				errs = append(errs, fmt.Errorf("%s: %d sub-buttons, want at most 5", where, len(b.SubButtons)))
			}
			if b.Type != "" || b.Key != "" || b.URL != "" {
				errs = append(errs, fmt.Errorf("%s: a button with sub_button has only a name", where))
			}
			errs = append(errs, checkName(where, b.Name, 16)...)
			for j := range b.SubButtons {
				s := &b.SubButtons[j]
				errs = append(errs, checkLeaf(fmt.Sprintf("button[%d].sub_button[%d] %q", i, j, s.Name), s, 60)...)
			}
			continue
		}
		errs = append(errs, checkLeaf(where, b, 16)...)
	}
	return errs
}

func checkName(where, name string, max int) []error {
	switch {
	case name == "":
		return []error{fmt.Errorf("%s: name required", where)}
	case len(name) > max:
		return []error{fmt.Errorf("%s: name is %d bytes, want at most %d", where, len(name), max)}
	}
	return nil
}

func checkLeaf(where string, b *Button, maxName int) []error {
	errs := checkName(where, b.Name, maxName)
	if len(b.SubButtons) > 0 {
		return append(errs, fmt.Errorf("%s: sub-buttons nest one level only", where))
	}
	req, ok := menuTypes[b.Type]
	if !ok {
		known := make([]string, 0, len(menuTypes))
		for t := range menuTypes {
			known = append(known, t)
		}
		slices.Sort(known)
		return append(errs, fmt.Errorf("%s: unknown type %q (known: %s)", where, b.Type, strings.Join(known, ", ")))
	}
	for _, f := range req {
		if b.field(f) == "" {
			errs = append(errs, fmt.Errorf("%s: %s needs %s", where, b.Type, f))
		}
	}
	if len(b.Key) > 128 {
		errs = append(errs, fmt.Errorf("%s: key is %d bytes, want at most 128", where, len(b.Key)))
	}
	if len(b.URL) > 1024 {
		errs = append(errs, fmt.Errorf("%s: url is %d bytes, want at most 1024", where, len(b.URL)))
	}
	return errs
}

// ErrInvalidMenu is returned by MenuCreate for a menu that fails Validate.
var ErrInvalidMenu = errors.New("invalid menu")

// MenuCreate replaces the whole menu; it validates first and calls nothing
// if the menu is invalid.
func (c *Client) MenuCreate(ctx context.Context, m *Menu) error {
	if errs := m.Validate(); len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidMenu, errors.Join(errs...))
	}
	return c.Call(ctx, http.MethodPost, "/cgi-bin/menu/create", nil, m, nil)
}

// MenuGet returns the current menu, or nil when there is none (46003).
func (c *Client) MenuGet(ctx context.Context) (*Menu, error) {
	var ans struct {
		Menu Menu `json:"menu"`
	}
	err := c.Call(ctx, http.MethodGet, "/cgi-bin/menu/get", nil, nil, &ans)
	if code, ok := APICode(err); ok && code == 46003 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ans.Menu, nil
}

// MenuDelete deletes the menu (conditional menus included).
func (c *Client) MenuDelete(ctx context.Context) error {
	return c.Call(ctx, http.MethodGet, "/cgi-bin/menu/delete", nil, nil, nil)
}
