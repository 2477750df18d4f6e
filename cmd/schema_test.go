package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// TestSchemaFileIsCurrent keeps examples/rules.schema.json (which
// examples/rules.yaml points editors at) equal to `wxbot schema`.
func TestSchemaFileIsCurrent(t *testing.T) {
	out, _, code := runCmd(nil, "schema")
	if code != 0 {
		t.Fatalf("schema: exit %d", code)
	}
	const file = "../examples/rules.schema.json"
	if *update {
		os.WriteFile(file, []byte(out), 0o644)
	}
	have, err := os.ReadFile(file)
	if err != nil || string(have) != out {
		t.Errorf("%s is not what `wxbot schema` prints; run go test ./cmd -run Schema -update", file)
	}
}

// TestSchemaValidates checks the schema with a real validator: the
// examples pass, typical mistakes do not.
func TestSchemaValidates(t *testing.T) {
	out, _, _ := runCmd(nil, "schema")
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("rules.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("rules.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	validate := func(src []byte) error {
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		return schema.Validate(inst)
	}
	example, _ := os.ReadFile("../examples/rules.yaml")
	if err := validate(example); err != nil {
		t.Errorf("examples/rules.yaml does not validate: %v", err)
	}
	for _, bad := range []string{
		"version: 1\nrules: [{name: a, on: txt, actions: []}]\n",
		"version: 1\nrules: [{name: a, on: text, actoins: []}]\n",
		"version: 1\nrules: [{name: a, on: text, actions: [{reply: {txt: hi}}]}]\n",
		"version: 1\nrules: [{name: a, on: text, actions: [{kefu_sned: {}}]}]\n",
		"version: 2\nrules: []\n",
	} {
		if validate([]byte(bad)) == nil {
			t.Errorf("the schema accepts %q", bad)
		}
	}
}
