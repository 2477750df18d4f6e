package cmd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wxbot/wxbot/rules"
)

// TestEveryExampleYAMLLoads walks examples/ so that no example rots: rules
// files load and pass their tests, every other YAML parses, and the rules
// inside the Kubernetes ConfigMap load too.
func TestEveryExampleYAMLLoads(t *testing.T) {
	var seen int
	err := filepath.WalkDir("../examples", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		seen++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var docs []map[string]any
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			docs = append(docs, doc)
		}
		switch {
		case docs[0]["version"] != nil && docs[0]["rules"] != nil:
			if strings.Contains(path, "custom-action") {
				return nil // needs the custom build: examples/custom-action tests it
			}
			checkRules(t, path, data)
		case filepath.Base(path) == "kubernetes.yaml":
			for _, doc := range docs {
				if doc["kind"] == "ConfigMap" {
					cm := doc["data"].(map[string]any)["rules.yaml"].(string)
					checkRules(t, path+" (ConfigMap rules.yaml)", []byte(cm))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 3 {
		t.Errorf("only %d YAML files under examples/", seen)
	}
}

func checkRules(t *testing.T, name string, data []byte) {
	t.Helper()
	l, err := rules.Parse(name, data)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	for _, r := range l.RunTests(t.Context(), loc) {
		if !r.Passed() {
			t.Errorf("%s: test %q: %v", name, r.Case.Name, r.Failures)
		}
	}
}
