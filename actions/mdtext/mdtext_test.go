package mdtext

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt from the conversion")

// TestGolden converts each testdata/NAME.md, an answer as models write
// them, and compares it with NAME.txt (go test -update rewrites those).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, md := range files {
		name := strings.TrimSuffix(filepath.Base(md), ".md")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(md)
			if err != nil {
				t.Fatal(err)
			}
			got := Plain(string(in)) + "\n"
			want := strings.TrimSuffix(md, ".md") + ".txt"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(w) {
				t.Errorf("Plain(%s):\n%s\nwant (%s):\n%s", md, got, want, w)
			}
		})
	}
}

func TestPlain(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text is kept", "周末照常营业, 9:00-21:00。", "周末照常营业, 9:00-21:00。"},
		{"empty", "", ""},
		{"heading", "## 退货", "【退货】"},
		{"heading after text gets a blank line", "您好\n### 步骤", "您好\n\n【步骤】"},
		{"heading closing hashes", "# 标题 ##", "【标题】"},
		{"heading already in 【】", "# 【公告】", "【公告】"},
		{"hashtag is not a heading", "#话题#", "#话题#"},
		{"empty heading", "#\n正文", "正文"},
		{"setext heading", "标题\n===\n正文", "【标题】\n正文"},
		{"bold after full-width colon", "**注意：**请带证件", "注意：请带证件"},
		{"bold around quotes", "这是**“重点”**的", "这是“重点”的"},
		{"bold and italic", "***很重要***", "很重要"},
		{"underscore bold", "__重点__和_斜体_", "重点和斜体"},
		{"intraword asterisks", "2*3*4 和 a**b**c", "2*3*4 和 a**b**c"},
		{"spaced asterisks", "3 * 4 * 5", "3 * 4 * 5"},
		{"italic between CJK", "这是*强调*的", "这是强调的"},
		{"snake case", "max_retry_count", "max_retry_count"},
		{"dunder", "调用 __init__ 方法", "调用 __init__ 方法"},
		{"unclosed bold", "**没有闭合", "**没有闭合"},
		{"kwargs", "使用 *args 和 **kwargs", "使用 *args 和 **kwargs"},
		{"escapes", `\*不是强调\*`, "*不是强调*"},
		{"windows path", `C:\Users\张三`, `C:\Users\张三`},
		{"bullets", "- a\n* b\n+ c", "• a\n• b\n• c"},
		{"nested bullets", "- a\n  - b\n    - c\n- d", "• a\n  ◦ b\n    ▪ c\n• d"},
		{"ordered", "1. a\n2) b", "1. a\n2) b"},
		{"minus number is not a list", "-5 度", "-5 度"},
		{"task list", "- [ ] 待办\n- [x] 完成", "☐ 待办\n☑ 完成"},
		{"link after Chinese", "见[官网](https://a.cn/x)。", "见官网（https://a.cn/x）。"},
		{"link after English", "see [docs](https://a.io/d) now", "see docs: https://a.io/d now"},
		{"link followed by a letter", "[docs](https://a.io)here", "docs: https://a.io here"},
		{"link text is the URL", "[https://a.cn](https://a.cn)", "https://a.cn"},
		{"link text is the URL without scheme", "[a.cn/x](https://a.cn/x)", "https://a.cn/x"},
		{"link with title", `[客服](https://kf.cn "点击")`, "客服（https://kf.cn）"},
		{"link in angle brackets", "[文档](<https://a.cn/a b>)", "文档（https://a.cn/a b）"},
		{"link with parentheses", "[Go](https://en.wikipedia.org/wiki/Go_(programming_language))", "Go: https://en.wikipedia.org/wiki/Go_(programming_language)"},
		{"link with escaped underscore", `[x](https://a.cn/a\_b)`, "x: https://a.cn/a_b"},
		{"empty link text", "[](https://a.cn)", "https://a.cn"},
		{"empty destination", "[文字]()", "文字"},
		{"bold link", "**[官网](https://a.cn)**很好", "官网（https://a.cn）很好"},
		{"image", "![地图](https://a.cn/m.png)", "地图（https://a.cn/m.png）"},
		{"image without alt", "![](https://a.cn/m.png)", "https://a.cn/m.png"},
		{"array index is not a link", "arr[0][1] 和 [注]", "arr[0][1] 和 [注]"},
		{"reference link", "见[官网][1]\n\n[1]: https://a.cn", "见官网[1]\n\n[1] https://a.cn"},
		{"not a link definition", "[注意]: 请带证件", "[注意]: 请带证件"},
		{"autolink", "<https://a.cn/x_y>", "https://a.cn/x_y"},
		{"email autolink", "<kf@a.cn>", "kf@a.cn"},
		{"bare URL keeps underscores", "访问 https://a.cn/a_b_c_d 吧", "访问 https://a.cn/a_b_c_d 吧"},
		{"bare URL in bold", "**https://a.cn/x**", "https://a.cn/x"},
		{"inline code", "运行 `go test ./...`", "运行 go test ./..."},
		{"inline code keeps markup", "`**x**` 和 `` a`b ``", "**x** 和 a`b"},
		{"unmatched backtick", "a ` b", "a ` b"},
		{"code fence", "```go\nfunc f() { _ = 2*3 }\n# x\n```", "func f() { _ = 2*3 }\n# x"},
		{"code fence keeps blank lines", "```\na\n\n\nb\n```", "a\n\n\nb"},
		{"indented fence", "1. 运行：\n   ```\n   make\n     all\n   ```", "1. 运行：\nmake\n  all"},
		{"tilde fence", "~~~\n**x**\n~~~", "**x**"},
		{"unclosed fence", "```\n**x**", "**x**"},
		{"blockquote", "> 提示：**重要**", "提示：重要"},
		{"nested quote", "> > 深层", "深层"},
		{"quote with a list", "> - 项", "• 项"},
		{"horizontal rule", "上\n\n---\n\n下", "上\n\n下"},
		{"starred rule", "上\n* * *\n下", "上\n\n下"},
		{"table", "| a | b |\n|---|:-:|\n| 1 | **2** |", "a | b\n1 | 2"},
		{"table without outer pipes", "a | b\n--- | ---\n1 | 2", "a | b\n1 | 2"},
		{"table empty cell", "| a | b | c |\n|-|-|-|\n| 1 | | 3 |", "a | b | c\n1 | | 3"},
		{"table with br", "| a |\n|---|\n| x<br>y |", "a\nx y"},
		{"a heading is no table header", "# a|\n-|-\nb", "【a|】\n-|-\nb"},
		{"a table ends at a heading", "a|b\n-|-\n1|2\n# h|", "a | b\n1 | 2\n\n【h|】"},
		{"fence info that is not a language", "```` [a](https://a.cn) x\ny\n````", "[a](https://a.cn) x\ny"},
		{"pipe without table", "a | b\nc | d", "a | b\nc | d"},
		{"br", "一<br>二<br/>三", "一\n二\n三"},
		{"known tags dropped", "<b>粗</b> x<sup>2</sup>", "粗 x2"},
		{"unknown angle brackets kept", "<你的姓名> 和 a < b > c", "<你的姓名> 和 a < b > c"},
		{"tag with link attribute kept", `<span title="[a](b)">x</span>`, `<span title="a: b">x`},
		{"strikethrough kept", "~~原价~~ 9:00~18:00", "~~原价~~ 9:00~18:00"},
		{"blank lines collapse", "a\n\n\n\nb", "a\n\nb"},
		{"CRLF", "a\r\n**b**\r\n", "a\nb"},
		{"trailing spaces", "a  \nb", "a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Plain(tt.in); got != tt.want {
				t.Errorf("Plain(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
