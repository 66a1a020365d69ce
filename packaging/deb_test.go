package packaging

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The packages the tests look at: one build per test process.
const (
	testDescribe  = "green2-5-g0123abc"
	testVersion   = "0.0~green2+5.g0123abc"
	upgradeDesc   = "green2-6-g0123abd"
	upgradeVerson = "0.0~green2+6.g0123abd"
)

var (
	fixtureOnce sync.Once
	fixture     struct {
		dir      string
		binaries map[string]string // Debian arch → binary
		debs     map[string]string // Debian arch → package
		upgrade  string            // amd64 at upgradeVerson
		err      error
	}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// needTool finds one of Debian's tools; under CI a missing one is a
// failure naming its package, never a skip.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s not found: install the Debian package %s (make deps)", name, pkg)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// packages builds the binary and package of every architecture, and a
// second amd64 package with a higher version, once.
func packages(t *testing.T) (debs map[string]string, upgrade string) {
	t.Helper()
	fixtureOnce.Do(func() {
		f := &fixture
		f.dir, f.err = os.MkdirTemp("", "storeedge-deb-test-")
		if f.err != nil {
			return
		}
		f.binaries, f.debs = map[string]string{}, map[string]string{}
		date := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		o := Options{Describe: testDescribe, Root: "..", OutDir: filepath.Join(f.dir, "dist"), Date: date}
		for _, a := range Arches {
			bin := filepath.Join(f.dir, "storeedge-"+a.Debian)
			if f.err = BuildBinary(context.Background(), "..", a, testDescribe, bin); f.err != nil {
				return
			}
			f.binaries[a.Debian] = bin
			if f.debs[a.Debian], f.err = Package(o, a, bin); f.err != nil {
				return
			}
		}
		o2 := o
		o2.Describe, o2.OutDir = upgradeDesc, filepath.Join(f.dir, "dist2")
		f.upgrade, f.err = Package(o2, Arches[0], f.binaries["amd64"])
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.debs, fixture.upgrade
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebianVersion(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1.4.0", "1.4.0"},
		{"v1.4.0", "1.4.0"},
		{"v1.4.0-3-gabc1234", "1.4.0+3.gabc1234"},
		{"green2", "0.0~green2"},
		{"green2-322-g817466e", "0.0~green2+322.g817466e"},
		{"green2-322-g817466e-dirty", "0.0~green2+322.g817466e+dirty"},
		{"817466e", "0.0~git.817466e"},
		{"817466e-dirty", "0.0~git.817466e+dirty"},
	} {
		got, err := DebianVersion(c.in)
		if err != nil || got != c.want {
			t.Errorf("DebianVersion(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "release candidate"} {
		if v, err := DebianVersion(bad); err == nil {
			t.Errorf("DebianVersion(%q) = %q, want an error", bad, v)
		}
	}
	// Later builds sort higher, as dpkg compares them.
	dpkg := needTool(t, "dpkg", "dpkg")
	order := []string{"817466e", "green1", "green1-40-gaaaaaaa", "green2", "green2-9-gbbbbbbb", "green2-10-gccccccc", "green2-10-gccccccc-dirty", "0.1.0", "v1.0.0"}
	for i := 1; i < len(order); i++ {
		a, _ := DebianVersion(order[i-1])
		b, _ := DebianVersion(order[i])
		if err := exec.Command(dpkg, "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not sort %s (%s) below %s (%s)", a, order[i-1], b, order[i])
		}
	}
}

// debFile is one entry of a package's data.
type debFile struct {
	mode        int64
	owner, kind string
}

// dataFiles reads a package's files (dpkg-deb --fsys-tarfile).
func dataFiles(t *testing.T, deb string) (map[string]debFile, map[string][]byte) {
	t.Helper()
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-deb --fsys-tarfile %s: %v", deb, err)
	}
	files := map[string]debFile{}
	content := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimPrefix(strings.TrimSuffix(h.Name, "/"), "./")
		kind := "file"
		if h.Typeflag == tar.TypeDir {
			kind = "dir"
		}
		files[name] = debFile{mode: h.Mode & 0o7777, owner: h.Uname + ":" + h.Gname, kind: kind}
		if kind == "file" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			content[name] = b
		}
	}
	return files, content
}

// Each package: its control fields, files, modes, owners and conffiles as
// the contract lays them out, and a binary built for its architecture.
func TestPackageContents(t *testing.T) {
	needTool(t, "dpkg-deb", "dpkg")
	debs, _ := packages(t)
	elfWant := map[string]struct {
		machine elf.Machine
		class   elf.Class
		goarch  string
	}{
		"amd64": {elf.EM_X86_64, elf.ELFCLASS64, "amd64"},
		"arm64": {elf.EM_AARCH64, elf.ELFCLASS64, "arm64"},
		"armhf": {elf.EM_ARM, elf.ELFCLASS32, "arm"},
	}
	for arch, deb := range debs {
		t.Run(arch, func(t *testing.T) {
			if filepath.Base(deb) != "storeedge_"+testVersion+"_"+arch+".deb" {
				t.Errorf("file name %s", filepath.Base(deb))
			}
			fields := map[string]string{}
			for _, f := range []string{"Package", "Version", "Architecture", "Maintainer", "Depends", "Section", "Priority"} {
				fields[f] = strings.TrimSpace(run(t, "dpkg-deb", "--field", deb, f))
			}
			want := map[string]string{"Package": "storeedge", "Version": testVersion, "Architecture": arch, "Section": "net", "Priority": "optional"}
			for k, v := range want {
				if fields[k] != v {
					t.Errorf("%s: %q, want %q", k, fields[k], v)
				}
			}
			if !strings.Contains(fields["Depends"], "systemd") || fields["Maintainer"] == "" {
				t.Errorf("Depends %q Maintainer %q", fields["Depends"], fields["Maintainer"])
			}
			info := run(t, "dpkg-deb", "--info", deb)
			for _, s := range []string{"conffiles", "postinst", "prerm", "postrm", "md5sums"} {
				if !strings.Contains(info, " "+s) {
					t.Errorf("control archive without %s:\n%s", s, info)
				}
			}
			conffiles := strings.Fields(run(t, "dpkg-deb", "--info", deb, "conffiles"))
			sort.Strings(conffiles)
			if strings.Join(conffiles, " ") != "/etc/default/storeedge /etc/storeedge/store.yaml" {
				t.Errorf("conffiles %v", conffiles)
			}

			files, content := dataFiles(t, deb)
			wantFiles := map[string]debFile{
				"/usr/bin/storeedge":                     {0o755, "root:root", "file"},
				"/lib/systemd/system/storeedge.service":  {0o644, "root:root", "file"},
				"/usr/lib/sysusers.d/storeedge.conf":     {0o644, "root:root", "file"},
				"/etc/storeedge/store.yaml":              {0o644, "root:root", "file"},
				"/etc/default/storeedge":                 {0o600, "root:root", "file"},
				"/usr/share/doc/storeedge/copyright":     {0o644, "root:root", "file"},
				"/usr/share/doc/storeedge/changelog.gz":  {0o644, "root:root", "file"},
				"/usr/share/man/man1/storeedge.1.gz":     {0o644, "root:root", "file"},
				"/usr/share/lintian/overrides/storeedge": {0o644, "root:root", "file"},
			}
			for name, w := range wantFiles {
				if got, ok := files[name]; !ok || got != w {
					t.Errorf("%s: %+v (present %v), want %+v", name, got, ok, w)
				}
			}
			for name, f := range files {
				if f.kind == "file" {
					if _, ok := wantFiles[name]; !ok {
						t.Errorf("unexpected file %s", name)
					}
				}
				// The data directory is made by postinst, never shipped:
				// dpkg would reset its owner and mode at each upgrade.
				if strings.HasPrefix(name, "/var/lib/storeedge") {
					t.Errorf("package ships %s", name)
				}
			}
			if y := string(content["/etc/storeedge/store.yaml"]); !strings.Contains(y, "\ndata_dir: /var/lib/storeedge\n") {
				t.Errorf("store.yaml without data_dir /var/lib/storeedge:\n%s", y)
			}

			// The binary: this architecture's, static, stripped, its version.
			bin := content["/usr/bin/storeedge"]
			ef, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatal(err)
			}
			w := elfWant[arch]
			if ef.Machine != w.machine || ef.Class != w.class || ef.Type != elf.ET_EXEC {
				t.Errorf("ELF %v %v %v, want %v %v executable", ef.Machine, ef.Class, ef.Type, w.machine, w.class)
			}
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("binary is dynamically linked (%v)", p.Type)
				}
			}
			if ef.Section(".symtab") != nil {
				t.Error("binary not stripped (.symtab present)")
			}
			// armhf: the ARM EABI version 5 (e_flags, at byte 36 of an
			// ELF32 header), what Debian's armhf runs.
			if arch == "armhf" && len(bin) > 40 && bin[39] != 5 {
				t.Errorf("armhf binary with EABI version %d, want 5", bin[39])
			}
			bi, err := buildinfo.Read(bytes.NewReader(bin))
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			if settings["GOARCH"] != w.goarch || settings["CGO_ENABLED"] != "0" || (arch == "armhf" && settings["GOARM"] != "7") {
				t.Errorf("built with GOARCH=%s GOARM=%s CGO_ENABLED=%s", settings["GOARCH"], settings["GOARM"], settings["CGO_ENABLED"])
			}
			if !bytes.Contains(bin, []byte(testDescribe)) {
				t.Errorf("binary without its version %q", testDescribe)
			}
			// It runs: natively, or under qemu as the box's CPU.
			exe := filepath.Join(t.TempDir(), "storeedge")
			if err := os.WriteFile(exe, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			argv := []string{exe, "version"}
			switch arch {
			case "arm64":
				argv = append([]string{needTool(t, "qemu-aarch64-static", "qemu-user-static")}, argv...)
			case "armhf":
				argv = append([]string{needTool(t, "qemu-arm-static", "qemu-user-static")}, argv...)
			}
			if v := strings.TrimSpace(run(t, argv[0], argv[1:]...)); v != "storeedge "+testDescribe {
				t.Errorf("storeedge version: %q", v)
			}
		})
	}
}

// lintian finds no error and no warning in any package; what the overrides
// file silences is listed in it with the reason.
func TestLintian(t *testing.T) {
	lintian := needTool(t, "lintian", "lintian")
	debs, _ := packages(t)
	var args []string
	for _, d := range debs {
		args = append(args, d)
	}
	sort.Strings(args)
	cmd := exec.Command(lintian, append([]string{"--pedantic", "--show-overrides", "--no-tag-display-limit"}, args...)...)
	out, _ := cmd.CombinedOutput() // exit status: the tags below say it
	var bad []string
	overridden := 0
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "E:"), strings.HasPrefix(line, "W:"):
			bad = append(bad, line)
		case strings.HasPrefix(line, "O:"):
			overridden++
		}
	}
	t.Logf("lintian:\n%s", out)
	if len(bad) > 0 {
		t.Fatalf("lintian errors or warnings:\n%s", strings.Join(bad, "\n"))
	}
	if overridden == 0 {
		t.Fatalf("lintian used no override: did it run?\n%s", out)
	}
	if strings.Contains(string(out), "unused-override") {
		t.Fatalf("an override that matches nothing:\n%s", out)
	}
}

// extract unpacks a package's files into a new directory.
func extract(t *testing.T, deb string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, dir)
	return dir
}

// systemd-analyze verify accepts the unit (with its ExecStart pointing at
// the unpacked binary, and the unpacked manual page for Documentation=),
// and its security exposure stays in systemd's "OK" band.
func TestUnitVerifies(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "systemd")
	needTool(t, "man", "man-db")
	debs, _ := packages(t)
	root := extract(t, debs["amd64"])
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/storeedge.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure", "User=storeedge",
		"ProtectSystem=strict", "ReadWritePaths=/var/lib/storeedge", "PrivateTmp=yes", "NoNewPrivileges=yes", "ProtectHome=yes",
		"ExecStart=/usr/bin/storeedge -config /etc/storeedge/store.yaml"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("unit without %s", want)
		}
	}
	dir := t.TempDir()
	copyUnit := filepath.Join(dir, "storeedge.service")
	local := strings.ReplaceAll(string(unit), "ExecStart=/usr/bin/storeedge", "ExecStart="+filepath.Join(root, "usr/bin/storeedge"))
	if err := os.WriteFile(copyUnit, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", copyUnit)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"))
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err = exec.Command(sa, "security", "--offline=yes", "--no-pager", copyUnit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	i := strings.Index(string(out), "Overall exposure level for storeedge.service: ")
	if i < 0 {
		t.Fatalf("no exposure level:\n%s", out)
	}
	fields := strings.Fields(string(out[i+len("Overall exposure level for storeedge.service: "):]))
	level, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security: exposure %.1f %s", level, fields[1])
	if level > 2.0 {
		t.Errorf("exposure %.1f: the unit lost its hardening (2.0 or less expected)", level)
	}
}

// A build dated before the changelog's last entry still gets an entry
// dated after it (Debian's order), and the history stays below.
func TestChangelogOrder(t *testing.T) {
	o, err := Options{Describe: "green2-1-gabcdef0", Date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b, err := changelogFor(o)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if lines[0] != "storeedge (0.0~green2+1.gabcdef0) stable; urgency=medium" {
		t.Fatalf("top entry %q", lines[0])
	}
	var dates []time.Time
	for _, l := range lines {
		if i := strings.Index(l, ">  "); strings.HasPrefix(l, " -- ") && i > 0 {
			d, err := time.Parse(time.RFC1123Z, l[i+3:])
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			dates = append(dates, d)
		}
	}
	if len(dates) < 2 || !dates[0].After(dates[1]) {
		t.Fatalf("entries dated %v: the newest must come first and be later", dates)
	}
}
