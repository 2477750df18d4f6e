// Command wxbot-custom is wxbot with one more action, greet. A custom build
// is this file and an import per action package.
package main

import (
	"github.com/wxbot/wxbot/cmd"

	_ "github.com/wxbot/wxbot/examples/custom-action/greet" // registers "greet"
)

func main() { cmd.Main() }
