package rules_test

import (
	"testing"

	"github.com/wxbot/wxbot/rules"
)

func TestParseEventSpec(t *testing.T) {
	d, err := rules.ParseEventSpec(`type=text content="多少 钱" from=oX location.lat=23.5 raw.MsgType='text'`)
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != "text" || d.Content != "多少 钱" || d.From != "oX" || d.Location.Lat != 23.5 || d.Raw["MsgType"] != "text" {
		t.Errorf("parsed %+v", d)
	}
	for spec, want := range map[string]string{
		"content=x":                        "event: type=… is required (e.g. type=text content=价格)",
		"type=text nope":                   `event: "nope" is not key=value`,
		`type=text from="x`:                "event: unclosed \" quote",
		"type=text colour=r":               `event: unknown field "colour" (known: content, format, from, key, kf_account, kf_from, link, location, media_id, msg_id, payment, pic_url, raw, recognition, scan, ticket, to, type)`,
		"type=location location.lat=north": `event: location.lat: want a number, got "north"`,
	} {
		if _, err := rules.ParseEventSpec(spec); err == nil || err.Error() != want {
			t.Errorf("ParseEventSpec(%q) = %v, want %q", spec, err, want)
		}
	}
}
