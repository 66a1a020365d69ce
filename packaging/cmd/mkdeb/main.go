// Command mkdeb builds storeedge's Debian packages (`make deb`):
// dist/storeedge_<version>_<arch>.deb for amd64, arm64 and armhf.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/storeedge/storeedge/packaging"
)

func main() {
	describe := flag.String("describe", "", "the version as `git describe --tags --always --dirty` prints it (default: run it)")
	version := flag.String("version", "", "the Debian version (default: made from -describe)")
	out := flag.String("out", "dist", "directory for the packages")
	arches := flag.String("arch", "amd64,arm64,armhf", "architectures, comma-separated")
	flag.Parse()
	if err := run(*describe, *version, *out, strings.Split(*arches, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
}

func run(describe, version, out string, arches []string) error {
	ctx := context.Background()
	if describe == "" {
		b, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
		if err != nil {
			return fmt.Errorf("git describe: %w (give -describe)", err)
		}
		describe = strings.TrimSpace(string(b))
	}
	o := packaging.Options{Describe: describe, Version: version, Root: ".", OutDir: out,
		Maintainer: os.Getenv("DEB_MAINTAINER"), Date: buildDate()}
	paths, err := packaging.BuildAll(ctx, o, arches...)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Println(p)
	}
	return nil
}

// buildDate is SOURCE_DATE_EPOCH when set, else the last commit's time, so
// that the same commit makes the same packages.
func buildDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0)
		}
	}
	if b, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return time.Unix(n, 0)
		}
	}
	return time.Now()
}
