// Package redistest starts Redis servers of a test's own on loopback: a
// three-node Redis Cluster, so that the Redis store's conformance suite and
// the replicas' end-to-end tests also run where keys spread over slots.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartCluster starts a three-node Redis Cluster (three masters, no
// replicas) on free loopback ports, each node in t.TempDir() and stopped by
// its PID when the test ends, and returns the nodes' addresses once the
// cluster says it is ok. Without redis-server and redis-cli the test is
// skipped, with a message, except under CI=true, where it fails.
func StartCluster(t testing.TB) []string {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true (apt-get install redis-server): %v", bin, err)
			}
			t.Skipf("%s is not installed: the Redis Cluster tests need it (apt-get install redis-server)", bin)
		}
	}
	dir := t.TempDir()
	var addrs []string
	for i := 0; i < 3; i++ {
		port := freePort(t)
		node := filepath.Join(dir, fmt.Sprint("node", i))
		os.MkdirAll(node, 0o755)
		cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(node, "nodes.conf"), "--dir", node, "--save", "", "--appendonly", "no",
			"--protected-mode", "no", "--logfile", filepath.Join(node, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting redis-server: %v", err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		waitPing(t, addr)
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	if out, err := exec.Command("redis-cli", append(args, "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		waitClusterOK(t, a)
	}
	return addrs
}

// URL is the redis-cluster:// store URL of the nodes, with more query
// parameters (prefix=…) if given.
func URL(addrs []string, params ...string) string {
	u := "redis-cluster://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
	for _, p := range params {
		u += "&" + p
	}
	return u
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPing waits until a node answers PING (it is listening); the test's
// own timeout bounds a node that never comes up.
func waitPing(t testing.TB, addr string) {
	t.Helper()
	for !strings.Contains(cli(addr, "PING"), "PONG") {
		time.Sleep(20 * time.Millisecond)
	}
}

// waitClusterOK waits until a node sees every slot served.
func waitClusterOK(t testing.TB, addr string) {
	t.Helper()
	for !strings.Contains(cli(addr, "CLUSTER", "INFO"), "cluster_state:ok") {
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs one redis-cli command against addr and returns its output.
func cli(addr string, args ...string) string {
	host, port, _ := net.SplitHostPort(addr)
	out, _ := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).Output()
	return string(out)
}
