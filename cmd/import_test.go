package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

func TestImportAutoReplyDump(t *testing.T) {
	for _, sample := range []string{wechattest.AutoReplyDoc, wechattest.AutoReplyConsole} {
		fake, env := newAPIFake(t)
		fake.Answer(wechattest.PathAutoReplyInfo, sample)
		out := filepath.Join(t.TempDir(), "rules.yaml")
		o, e, code := runCmd(env, "import", "autoreply", "--out", out)
		data, _ := os.ReadFile(out)
		t.Logf("exit %d\n%s%s\n%s", code, o, e, data)
		_ = strings.Contains
	}
}
