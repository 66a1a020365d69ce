// Package packaging builds storeedge's Debian packages (`make deb`): for
// each box architecture the static binary, the systemd unit, the maintainer
// scripts, the configuration in /etc/storeedge (conffiles) and the
// documentation, put together with nfpm. The files it packs are in files/.
package packaging

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

//go:embed files
var packFiles embed.FS

// Arch is a Debian architecture and how Go builds for it.
type Arch struct {
	Debian, GOARCH, GOARM string
}

// Arches are the architectures `make deb` builds: the boxes (arm64, armhf:
// ARMv7 with hardware floating point) and amd64.
var Arches = []Arch{
	{Debian: "amd64", GOARCH: "amd64"},
	{Debian: "arm64", GOARCH: "arm64"},
	{Debian: "armhf", GOARCH: "arm", GOARM: "7"},
}

// ArchByName returns the Arch of a Debian architecture name.
func ArchByName(name string) (Arch, error) {
	for _, a := range Arches {
		if a.Debian == name {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("packaging: architecture %q: use one of amd64, arm64, armhf", name)
}

// Options say what to build.
type Options struct {
	// Describe is `git describe --tags --always --dirty`: the binary's
	// version (`storeedge version`) and, made Debian-valid, the package's.
	Describe string
	// Version overrides the Debian version made from Describe.
	Version string
	// Date is the build's date: the changelog entry's and every file's
	// time (reproducible builds: the commit's time).
	Date time.Time
	// Maintainer is the Maintainer field and the changelog's signer.
	Maintainer string
	// Root is the repository root (where go.mod is).
	Root string
	// OutDir receives storeedge_<version>_<arch>.deb.
	OutDir string
}

// DefaultMaintainer signs the packages when Options.Maintainer is empty.
const DefaultMaintainer = "storeedge maintainers <storeedge@example.com>"

// Name is the package's name.
const Name = "storeedge"

var describeRE = regexp.MustCompile(`^(.*?)(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)

// DebianVersion makes a Debian version (no revision: the package is its
// own upstream) from `git describe --tags --always --dirty`:
//
//	1.4.0 (or v1.4.0)       → 1.4.0
//	green2                  → 0.0~green2 (a tag that is not a number sorts below 0.0)
//	green2-322-g817466e     → 0.0~green2+322.g817466e (commits since the tag)
//	…-dirty                 → …+dirty
//	817466e (no tag)        → 0.0~git.817466e
//
// so that every build along a branch sorts above the ones before it.
func DebianVersion(describe string) (string, error) {
	d := strings.TrimSpace(describe)
	if d == "" {
		return "", errors.New("packaging: empty version")
	}
	m := describeRE.FindStringSubmatch(d)
	tag, n, hash, dirty := m[1], m[2], m[3], m[4] != ""
	var v string
	switch {
	case n == "" && regexp.MustCompile(`^[0-9a-f]{7,40}$`).MatchString(tag) && !strings.ContainsAny(tag, "."):
		v = "0.0~git." + tag
	default:
		t := strings.TrimPrefix(tag, "v")
		if t == "" || t[0] < '0' || t[0] > '9' {
			t = "0.0~" + tag
		}
		v = t
		if n != "" {
			v += "+" + n + ".g" + hash
		}
	}
	if dirty {
		v += "+dirty"
	}
	v = strings.ReplaceAll(v, "-", ".")
	v = strings.ReplaceAll(v, "_", ".")
	if !regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`).MatchString(v) {
		return "", fmt.Errorf("packaging: %q does not make a Debian version (got %q)", describe, v)
	}
	return v, nil
}

// BuildBinary cross-compiles the static storeedge for a to out.
func BuildBinary(ctx context.Context, root string, a Arch, describe, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+describe, "-o", out, "./broker/cmd/storeedge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+a.GOARCH, "GOARM="+a.GOARM)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("packaging: go build for %s: %w\n%s", a.Debian, err, o)
	}
	return nil
}

// BuildAll builds the binary and the package of each architecture named
// (all of Arches when none) and returns the packages' paths.
func BuildAll(ctx context.Context, o Options, arches ...string) ([]string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(arches) == 0 {
		for _, a := range Arches {
			arches = append(arches, a.Debian)
		}
	}
	tmp, err := os.MkdirTemp("", "storeedge-deb-")
	if err != nil {
		return nil, fmt.Errorf("packaging: %w", err)
	}
	defer os.RemoveAll(tmp)
	var out []string
	for _, name := range arches {
		a, err := ArchByName(name)
		if err != nil {
			return nil, err
		}
		bin := filepath.Join(tmp, "storeedge-"+a.Debian)
		if err := BuildBinary(ctx, o.Root, a, o.Describe, bin); err != nil {
			return nil, err
		}
		p, err := Package(o, a, bin)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Version == "" {
		v, err := DebianVersion(o.Describe)
		if err != nil {
			return o, err
		}
		o.Version = v
	}
	if o.Describe == "" {
		o.Describe = o.Version
	}
	if o.Maintainer == "" {
		o.Maintainer = DefaultMaintainer
	}
	if o.Date.IsZero() {
		o.Date = time.Now()
	}
	o.Date = o.Date.UTC().Truncate(time.Second)
	if o.OutDir == "" {
		o.OutDir = "dist"
	}
	return o, nil
}

// FileName is the package file's name for a version and architecture.
func FileName(version, arch string) string {
	return fmt.Sprintf("%s_%s_%s.deb", Name, version, arch)
}

// Package writes OutDir/storeedge_<version>_<arch>.deb around binary, the
// storeedge built for a.
func Package(o Options, a Arch, binary string) (string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	stage, err := os.MkdirTemp("", "storeedge-stage-")
	if err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	defer os.RemoveAll(stage)
	// The packed files, as real files for nfpm; the changelog and the
	// manual page compressed as Debian wants them (gzip -9n).
	if err := fs.WalkDir(packFiles, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := packFiles.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(stage, d.Name()), b, 0o644)
	}); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	changelog, err := changelogFor(o)
	if err != nil {
		return "", err
	}
	if err := writeGzip(filepath.Join(stage, "changelog.gz"), changelog); err != nil {
		return "", err
	}
	man, err := packFiles.ReadFile("files/storeedge.1")
	if err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	if err := writeGzip(filepath.Join(stage, "storeedge.1.gz"), man); err != nil {
		return "", err
	}
	st := func(name string) string { return filepath.Join(stage, name) }
	file := func(src, dst string, mode os.FileMode, typ string) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: o.Date}}
	}
	contents := files.Contents{
		file(binary, "/usr/bin/storeedge", 0o755, ""),
		file(st("storeedge.service"), "/lib/systemd/system/storeedge.service", 0o644, ""),
		file(st("storeedge.sysusers"), "/usr/lib/sysusers.d/storeedge.conf", 0o644, ""),
		file(st("store.yaml"), "/etc/storeedge/store.yaml", 0o644, files.TypeConfig),
		// Secrets: readable by root only (systemd reads it before dropping
		// to the storeedge user).
		file(st("default"), "/etc/default/storeedge", 0o600, files.TypeConfig),
		file(st("copyright"), "/usr/share/doc/storeedge/copyright", 0o644, ""),
		file(st("changelog.gz"), "/usr/share/doc/storeedge/changelog.gz", 0o644, ""),
		file(st("storeedge.1.gz"), "/usr/share/man/man1/storeedge.1.gz", 0o644, ""),
		file(st("lintian-overrides"), "/usr/share/lintian/overrides/storeedge", 0o644, ""),
	}
	info := &nfpm.Info{
		Name:          Name,
		Arch:          a.Debian,
		Platform:      "linux",
		Version:       o.Version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    o.Maintainer,
		Description: "MQTT broker and services of a store's box\n" +
			"storeedge is the broker that runs on the small box in each store:\n" +
			"kiosks, scan-to-chat tablets, cameras and staff devices talk to it over\n" +
			"MQTT, and it keeps their sessions, chats and bookings in one database,\n" +
			"serves the customers' and staff pages, and links the store to HQ.\n" +
			"It runs as the storeedge systemd service; its data is in\n" +
			"/var/lib/storeedge and is deleted only when the package is purged.",
		MTime: o.Date,
		Overridables: nfpm.Overridables{
			Depends:  []string{"systemd | systemd-sysusers | systemd-standalone-sysusers"},
			Contents: contents,
			Umask:    0o022,
			Scripts: nfpm.Scripts{
				PostInstall: st("postinst"),
				PreRemove:   st("prerm"),
				PostRemove:  st("postrm"),
			},
			Deb: nfpm.Deb{Compression: "gzip"},
		},
	}
	if err := nfpm.PrepareForPackager(nfpm.WithDefaults(info), "deb"); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	if err := nfpm.Validate(info); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	path := filepath.Join(o.OutDir, FileName(o.Version, a.Debian))
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("packaging: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	return path, nil
}

// changelogFor is files/changelog with, on top, an entry for this build
// when its version is not the top entry's.
func changelogFor(o Options) ([]byte, error) {
	hist, err := packFiles.ReadFile("files/changelog")
	if err != nil {
		return nil, fmt.Errorf("packaging: %w", err)
	}
	first, _, _ := bufio.NewReader(bytes.NewReader(hist)).ReadLine()
	if strings.HasPrefix(string(first), Name+" ("+o.Version+")") {
		return hist, nil
	}
	// Debian wants each entry dated after the one below it.
	date := o.Date
	for _, line := range strings.Split(string(hist), "\n") {
		if i := strings.Index(line, ">  "); strings.HasPrefix(line, " -- ") && i > 0 {
			if prev, err := time.Parse(time.RFC1123Z, line[i+3:]); err == nil && !date.After(prev) {
				date = prev.Add(time.Second)
			}
			break
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s (%s) stable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n\n",
		Name, o.Version, o.Describe, o.Maintainer, date.UTC().Format(time.RFC1123Z))
	b.Write(hist)
	return b.Bytes(), nil
}

// writeGzip writes data gzipped as gzip -9n does: no name, no time.
func writeGzip(path string, data []byte) error {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if _, err := zw.Write(data); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	return nil
}
