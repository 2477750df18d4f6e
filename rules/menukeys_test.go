package rules

import "testing"

func TestKeyAnswered(t *testing.T) {
	l, err := Parse("rules.yaml", []byte(`version: 1
rules:
  - name: keyed
    on: click
    key: [A, B]
    actions: []
  - name: any-scan
    on: scancode_push
    actions: []
  - name: star-keyed
    on: "*"
    key: STAR
    actions: []
  - name: star-catch-all
    on: "*"
    actions: []
  - name: off
    on: click
    key: OFF
    enabled: false
    actions: []
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		event, key string
		want       bool
	}{
		{"click", "A", true},
		{"click", "B", true},
		{"click", "C", false},               // the "*" catch-all does not count
		{"scancode_push", "anything", true}, // a keyless rule naming the event does
		{"scancode_waitmsg", "X", false},
		{"pic_weixin", "STAR", true}, // "*" with the key does
		{"click", "OFF", false},      // disabled rules do not
	}
	for _, tt := range tests {
		if got := KeyAnswered(l.Set, tt.event, tt.key); got != tt.want {
			t.Errorf("KeyAnswered(%s, %s) = %v, want %v", tt.event, tt.key, got, tt.want)
		}
	}
}
