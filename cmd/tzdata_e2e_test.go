package cmd

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestTimeZoneWithoutZoneinfo: --timezone Asia/Shanghai works on a host
// with no zoneinfo database (a minimal container image): the binary embeds
// one. The host's databases (the system's and Go's own zip) are hidden
// under empty mounts in a private mount namespace.
func TestTimeZoneWithoutZoneinfo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux mount namespaces")
	}
	bin := wxbotBinary(t)
	hide := "mount -t tmpfs tmpfs /usr/share/zoneinfo"
	if goroot := strings.TrimSpace(runGo(t, "env", "GOROOT")); goroot != "" {
		hide += " && mount -t tmpfs tmpfs " + goroot + "/lib/time"
	}
	probe := exec.Command("unshare", "-m", "--", "sh", "-c", hide+" && ls /usr/share/zoneinfo | wc -l")
	if out, err := probe.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Skipf("cannot hide the zoneinfo database here (unshare -m needs root): %v %s", err, out)
	}
	cmd := exec.Command("unshare", "-m", "--", "sh", "-c", hide+` && exec "$0" "$@"`,
		bin, "explain", "../examples/rules.yaml", "--timezone", "Asia/Shanghai", "--at", "2026-11-24 20:00",
		"--event", "type=text content=价格")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "at 2026-11-24 20:00 Tue CST") {
		t.Errorf("explain without a zoneinfo database: %v\n%s", err, out)
	}
}

func runGo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go %v: %v", args, err)
	}
	return string(out)
}
