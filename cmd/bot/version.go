package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release the binary was built as, when its build stamped
// it (the image's: -ldflags "-X main.version=0.1.0"); else the module
// version Go recorded is shown.
var version string

// versionLine describes this binary in one line, for bot version and bot
// --version: the module's version, the commit it was built from (-dirty
// when the tree had changes) and that commit's time, the Go version, the
// platform.
func versionLine() string {
	bi, _ := debug.ReadBuildInfo()
	if version != "" {
		if bi == nil {
			bi = &debug.BuildInfo{}
		}
		bi.Main.Version = version
	}
	return formatVersion(bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// formatVersion is versionLine from bi (nil when the binary carries no
// build information).
func formatVersion(bi *debug.BuildInfo, goVersion, platform string) string {
	version, commit, at, dirty := "devel", "unknown", "", false
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				at = " " + s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		commit += "-dirty"
	}
	return fmt.Sprintf("shipmate %s (commit %s%s) %s %s", version, commit, at, goVersion, platform)
}
