package cmd

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at build time with -ldflags "-X github.com/wxbot/wxbot/cmd.Version=v1.2.3";
// otherwise it comes from the module's build info.
var Version = ""

func init() {
	register(&command{name: "version", summary: "print the version, commit and Go version", run: runVersion})
}

// buildInfo returns the version and VCS commit baked into the binary.
func buildInfo() (version, commit string) {
	version, commit = Version, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	return version, commit
}

func runVersion(_ context.Context, env *cmdEnv, args []string) error {
	pos, err := newFlagSet(env, commands["version"]).parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("version takes no arguments")
	}
	v, c := buildInfo()
	fmt.Fprintf(env.stdout, "wxbot %s\ncommit %s\n%s %s/%s\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
