// Command wxbot is the WeChat Official Account customer-service bot; see
// package cmd for the command line.
package main

import "github.com/wxbot/wxbot/cmd"

func main() { cmd.Main() }
