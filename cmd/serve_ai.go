package cmd

import (
	"github.com/wxbot/wxbot/actions"
	"github.com/wxbot/wxbot/engine/callback"
)

// aiFlags are the settings of the `ai` action's model and of late
// replies on accounts without the kefu API.
type aiFlags struct {
	baseURL     string
	apiKey      string
	model       string
	concurrency int
	kefu        bool
	pendingText string
}

func (a *aiFlags) register(fs *flagSet) {
	fs.StringVar(&a.baseURL, "ai-base-url", "", "OpenAI-compatible Chat Completions API root for the ai action, e.g. https://api.deepseek.com/v1, https://dashscope.aliyuncs.com/compatible-mode/v1, http://127.0.0.1:11434/v1 (Ollama)")
	fs.StringVar(&a.apiKey, "ai-api-key", "", "API key of --ai-base-url (pass it as WXBOT_AI_API_KEY); never logged")
	fs.StringVar(&a.model, "ai-model", "", "the model an ai action uses unless it names one, e.g. deepseek-chat, qwen-plus, qwen2.5:7b")
	fs.IntVar(&a.concurrency, "ai-concurrency", 8, "AI answers in flight; more wait their turn (within their timeout)")
	fs.BoolVar(&a.kefu, "kefu", true, "the account has the kefu API (verified accounts): a reply later than --reply-deadline goes by kefu; false: pushes are held for WeChat's retries and a later reply answers the user's next push")
	fs.StringVar(&a.pendingText, "pending-text", callback.DefaultPendingText, "with --kefu=false: the answer to WeChat's last attempt when the reply is still not ready")
}

func (a *aiFlags) check() error {
	if a.concurrency < 1 {
		return usagef("--ai-concurrency %d: want 1 or more", a.concurrency)
	}
	if !a.kefu && a.pendingText == "" {
		return usagef("--pending-text: must not be empty with --kefu=false (the user must learn that the answer comes later)")
	}
	if a.baseURL != "" && a.model == "" {
		return usagef("--ai-base-url needs --ai-model (the default model of ai actions), e.g. deepseek-chat")
	}
	return nil
}

// cannedAI is what explain's ai actions answer: --ai-answer, or the
// action's placeholder when it is empty.
func cannedAI(answer string) map[string]string {
	if answer == "" {
		return nil
	}
	return map[string]string{actions.CannedAnswer: answer}
}
