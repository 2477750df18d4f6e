package cmd

import (
	"bytes"
	"context"
	"testing"
)

// TestAPIFlagsShareAppID: serve registers --appid through protoFlags, and
// apiFlags must then read that flag rather than define a second one.
func TestAPIFlagsShareAppID(t *testing.T) {
	fake, env := newAPIFake(t)
	cenv := &cmdEnv{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(k string) string { return env[k] }}
	fs := newFlagSet(cenv, &command{name: "t"})
	var p protoFlags
	var a apiFlags
	p.register(fs)
	a.register(fs) // would panic on a second --appid
	if _, err := fs.parse([]string{"--token", "tok"}); err != nil {
		t.Fatal(err)
	}
	if p.appID != apiTestAppID || a.appIDValue() != apiTestAppID {
		t.Fatalf("appid: proto %q, api %q; want both %q from WXBOT_APPID", p.appID, a.appIDValue(), apiTestAppID)
	}
	c, err := a.client(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KfList(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fake.TokenFetches() != 1 {
		t.Errorf("%d token fetches, want 1", fake.TokenFetches())
	}
}
