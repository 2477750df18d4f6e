package console

import "testing"

func TestDiffLines(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"same", "a\nb\n", "a\nb\n", ""},
		{"new file", "", "a\nb\n", "@@ line 1\n+ a\n+ b\n"},
		{"one line changed, context kept", "1\n2\n3\n4\n5\n6\n7\n", "1\n2\n3\nX\n5\n6\n7\n",
			"@@ line 2\n  2\n  3\n- 4\n+ X\n  5\n  6\n"},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "A\n2\n3\n4\n5\n6\n7\n8\nB\n",
			"@@ line 1\n- 1\n+ A\n  2\n  3\n@@ line 7\n  7\n  8\n- 9\n+ B\n"},
		{"near changes join", "1\n2\n3\n", "A\n2\nC\n", "@@ line 1\n- 1\n+ A\n  2\n- 3\n+ C\n"},
	}
	for _, tt := range tests {
		if got := diffLines(tt.a, tt.b, 2); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
