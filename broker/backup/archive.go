package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Format is the archive format this package writes and reads.
const Format = 1

// Member names inside the archive.
const (
	MemberDB       = "storeedge.db"
	MemberKeys     = "seal.keys"
	MemberManifest = "manifest.json"
	configPrefix   = "config/"
	// maxSmallMember bounds the members read into memory (keys, configs,
	// the manifest).
	maxSmallMember = 16 << 20
)

// Member kinds.
const (
	KindDatabase = "database"
	KindKeys     = "keys"
	KindConfig   = "config"
)

// Manifest describes an archive; it is its last member.
type Manifest struct {
	Format   int       `json:"format"`
	StoreID  string    `json:"store_id"`
	Made     time.Time `json:"made"`
	Software string    `json:"software,omitempty"`
	// Schema is the database's schema version, when it has one.
	Schema int `json:"schema,omitempty"`
	// DBTx is the bbolt transaction the snapshot is of; DBBytes its size.
	DBTx    int   `json:"db_tx"`
	DBBytes int64 `json:"db_bytes"`
	// Buckets counts the keys (nested ones too) in each top-level bucket.
	Buckets map[string]int `json:"buckets"`
	// Media says where the blobs are: in the database.
	Media string `json:"media"`
	// KeysFrom is where the box read its seal keys.
	KeysFrom string `json:"keys_from"`
	// ConfigBuiltIn: the box ran on the built-in store.yaml (no file).
	ConfigBuiltIn bool     `json:"config_built_in,omitempty"`
	Members       []Member `json:"members"`
}

// Member is one file of the archive.
type Member struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Role and Path (configs): which setting named the file and where the
	// box read it.
	Role string `json:"role,omitempty"`
	Path string `json:"path,omitempty"`
}

// Member returns the member called name.
func (m *Manifest) Member(name string) (Member, bool) {
	for _, x := range m.Members {
		if x.Name == name {
			return x, true
		}
	}
	return Member{}, false
}

// Configs returns the config members.
func (m *Manifest) Configs() []Member {
	var out []Member
	for _, x := range m.Members {
		if x.Kind == KindConfig {
			out = append(out, x)
		}
	}
	return out
}

// Bytes is the size of the archive's members together.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, x := range m.Members {
		n += x.Bytes
	}
	return n
}

// ConfigFile is a configuration file to include: the setting that names it
// and its path.
type ConfigFile struct {
	Role, Path string
}

// Source is what an archive is made of.
type Source struct {
	StoreID  string
	Software string
	// Schema reads the schema version in the snapshot's transaction
	// (nil: none).
	Schema func(*bolt.Tx) int
	// View runs fn in a read transaction of the store's database.
	View func(fn func(*bolt.Tx) error) error
	// Keys is the seal keys' text (the keys file's format) and KeysFrom
	// where it was read.
	Keys     []byte
	KeysFrom string
	// Configs are read when the archive is written; a file that does not
	// exist (a device registry not made yet) is left out.
	Configs       []ConfigFile
	ConfigBuiltIn bool
	// Now stamps the manifest (default time.Now).
	Now func() time.Time
}

// Write writes one encrypted archive of src to w. ctx stops it (the read
// transaction ends at once); w then holds a partial archive the caller
// must delete.
func Write(ctx context.Context, w io.Writer, src Source, enc Encryption) (*Manifest, error) {
	if src.View == nil || len(bytes.TrimSpace(src.Keys)) == 0 {
		return nil, errors.New("backup: no database or no keys to back up")
	}
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	// Read the small files first: the read transaction is then only as
	// long as copying the database.
	type file struct {
		m    Member
		data []byte
	}
	files := []file{{m: Member{Name: MemberKeys, Kind: KindKeys}, data: src.Keys}}
	seen := map[string]bool{}
	for _, c := range src.Configs {
		if c.Path == "" {
			continue
		}
		abs, err := filepath.Abs(c.Path)
		if err != nil {
			return nil, fmt.Errorf("backup: %s %s: %w", c.Role, c.Path, err)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		data, err := os.ReadFile(abs)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("backup: read %s (%s): %w", abs, c.Role, err)
		}
		name := configPrefix + filepath.Base(abs)
		for _, f := range files {
			if f.m.Name == name {
				name = fmt.Sprintf("%s%02d-%s", configPrefix, len(files), filepath.Base(abs))
			}
		}
		files = append(files, file{m: Member{Name: name, Kind: KindConfig, Role: c.Role, Path: abs}, data: data})
	}

	body, err := encrypt(&ctxWriter{ctx: ctx, w: w}, enc)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(body)
	man := &Manifest{Format: Format, StoreID: src.StoreID, Made: now().UTC(), Software: src.Software,
		Media: "in the database (media_blobs, media_pages)", KeysFrom: src.KeysFrom, ConfigBuiltIn: src.ConfigBuiltIn,
		Buckets: map[string]int{}}
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		f.m.Bytes, f.m.SHA256 = int64(len(f.data)), hex.EncodeToString(sum[:])
		if err := writeMember(tw, f.m.Name, f.data, man.Made); err != nil {
			return nil, err
		}
		man.Members = append(man.Members, f.m)
	}
	err = src.View(func(tx *bolt.Tx) error {
		man.DBTx, man.DBBytes = tx.ID(), tx.Size()
		if src.Schema != nil {
			man.Schema = src.Schema(tx)
		}
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			man.Buckets[string(name)] = b.Stats().KeyN
			return nil
		}); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: MemberDB, Mode: 0o600, Size: tx.Size(), ModTime: man.Made, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		h := sha256.New()
		if _, err := tx.WriteTo(io.MultiWriter(tw, h)); err != nil {
			return err
		}
		man.Members = append(man.Members, Member{Name: MemberDB, Kind: KindDatabase, Bytes: tx.Size(), SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: database snapshot: %w", err)
	}
	mj, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := writeMember(tw, MemberManifest, mj, man.Made); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := body.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return man, nil
}

func writeMember(tw *tar.Writer, name string, data []byte, t time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: t, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// ctxWriter stops writing once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Contents is what Verify found: the manifest and the small members.
type Contents struct {
	Manifest *Manifest
	// Keys is the seal keys' text.
	Keys []byte
}

// Verify decrypts the archive read from r and checks every member against
// the manifest, writing nothing.
func Verify(ctx context.Context, r io.Reader, k Key) (*Contents, error) {
	return read(ctx, r, k, nil)
}

// Targets are where Extract puts the members; an empty path leaves that
// member out.
type Targets struct {
	DB   string
	Keys string
	// ConfigDir receives each config member under its name in the
	// archive without "config/" (the file's base name); existing files are
	// never overwritten.
	ConfigDir string
}

// ConfigName is the file name a config member is written as.
func ConfigName(m Member) string { return strings.TrimPrefix(m.Name, configPrefix) }

// Extract decrypts the archive read from r, writes its members under
// temporary names beside their targets, checks them against the manifest
// and only then renames them into place (the database last). On any error
// nothing is left behind.
func Extract(ctx context.Context, r io.Reader, k Key, t Targets) (*Contents, error) {
	x := &extractor{t: t}
	c, err := read(ctx, r, k, x)
	if err == nil {
		err = x.commit(c.Manifest)
	}
	if err != nil {
		x.abort()
		return nil, err
	}
	return c, nil
}

type extractor struct {
	t    Targets
	tmps map[string]string // member → temporary file
	done []string
}

func (x *extractor) target(m Member) string {
	switch m.Kind {
	case KindDatabase:
		return x.t.DB
	case KindKeys:
		return x.t.Keys
	case KindConfig:
		if x.t.ConfigDir == "" {
			return ""
		}
		return filepath.Join(x.t.ConfigDir, ConfigName(m))
	}
	return ""
}

// open makes the temporary file of a member (nil: not written).
func (x *extractor) open(m Member) (io.WriteCloser, error) {
	name := m.Name
	dst := x.target(m)
	if dst == "" {
		return nil, nil
	}
	if x.tmps == nil {
		x.tmps = map[string]string{}
	}
	tmp := dst + ".restoring"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	x.tmps[name] = tmp
	return syncCloser{f}, nil
}

type syncCloser struct{ f *os.File }

func (s syncCloser) Write(p []byte) (int, error) { return s.f.Write(p) }
func (s syncCloser) Close() error                { return errors.Join(s.f.Sync(), s.f.Close()) }

func (x *extractor) commit(man *Manifest) error {
	// The database last: a data_dir with a database is a restored one.
	names := make([]string, 0, len(x.tmps))
	for n := range x.tmps {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == MemberDB) != (names[j] == MemberDB) {
			return names[j] == MemberDB
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		m, _ := man.Member(n)
		dst := x.target(m)
		if m.Kind == KindConfig {
			if _, err := os.Lstat(dst); err == nil {
				return fmt.Errorf("restore: %s exists already; not overwriting it", dst)
			}
		}
		if err := os.Rename(x.tmps[n], dst); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		delete(x.tmps, n)
		x.done = append(x.done, dst)
	}
	dirs := map[string]bool{}
	for _, d := range x.done {
		dirs[filepath.Dir(d)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) abort() {
	for _, tmp := range x.tmps {
		_ = os.Remove(tmp)
	}
	for _, d := range x.done {
		_ = os.Remove(d)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("restore: sync %s: %w", dir, err)
	}
	return nil
}

// read decrypts and walks the archive, hashing every member; x (may be nil)
// receives the members' bytes. The manifest comes last, so a member is
// checked once the whole archive has been read.
func read(ctx context.Context, r io.Reader, k Key, x *extractor) (*Contents, error) {
	body, err := decrypt(r, k)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(body)
	type seen struct {
		bytes int64
		sum   string
	}
	got := map[string]seen{}
	var man *Manifest
	c := &Contents{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, damaged(err)
		}
		if man != nil {
			return nil, fmt.Errorf("%w: a member after the manifest", ErrDamaged)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: member %q is not a file", ErrDamaged, h.Name)
		}
		if _, dup := got[h.Name]; dup {
			return nil, fmt.Errorf("%w: member %q twice", ErrDamaged, h.Name)
		}
		sum := sha256.New()
		var small *bytes.Buffer
		var dst io.Writer = sum
		if h.Name != MemberDB {
			if h.Size > maxSmallMember {
				return nil, fmt.Errorf("%w: member %q is %d bytes", ErrDamaged, h.Name, h.Size)
			}
			small = new(bytes.Buffer)
			dst = io.MultiWriter(sum, small)
		}
		var out io.WriteCloser
		if x != nil && h.Name != MemberManifest {
			// The member's kind and path come from the manifest, which is
			// last: configs are named "config/…", the others are fixed.
			name := h.Name
			m, ok := guessMember(name)
			if !ok {
				return nil, fmt.Errorf("%w: an unexpected member %q", ErrDamaged, name)
			}
			if out, err = x.open(m); err != nil {
				return nil, err
			}
			if out != nil {
				dst = io.MultiWriter(dst, out)
			}
		}
		n, err := io.Copy(dst, &ctxReader{ctx: ctx, r: tr})
		if out != nil {
			err = errors.Join(err, out.Close())
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, damaged(err)
		}
		got[h.Name] = seen{bytes: n, sum: hex.EncodeToString(sum.Sum(nil))}
		switch h.Name {
		case MemberManifest:
			man = new(Manifest)
			if err := json.Unmarshal(small.Bytes(), man); err != nil {
				return nil, fmt.Errorf("%w: its manifest: %v", ErrDamaged, err)
			}
		case MemberKeys:
			c.Keys = small.Bytes()
		}
	}
	if man == nil {
		return nil, fmt.Errorf("%w: it has no manifest (cut short?)", ErrDamaged)
	}
	if man.Format != Format {
		return nil, fmt.Errorf("backup format %d: this storeedge reads format %d; use the storeedge that made it", man.Format, Format)
	}
	for _, m := range man.Members {
		s, ok := got[m.Name]
		if !ok {
			return nil, fmt.Errorf("%w: %s is missing", ErrDamaged, m.Name)
		}
		if s.bytes != m.Bytes || s.sum != m.SHA256 {
			return nil, fmt.Errorf("%w: %s does not match its checksum in the manifest", ErrDamaged, m.Name)
		}
		delete(got, m.Name)
	}
	delete(got, MemberManifest)
	for n := range got {
		return nil, fmt.Errorf("%w: %s is not in the manifest", ErrDamaged, n)
	}
	if _, ok := man.Member(MemberDB); !ok {
		return nil, fmt.Errorf("%w: it holds no database", ErrDamaged)
	}
	if _, ok := man.Member(MemberKeys); !ok {
		return nil, fmt.Errorf("%w: it holds no keys", ErrDamaged)
	}
	c.Manifest = man
	return c, nil
}

// guessMember is a member's kind before the manifest (last) is read; ok is
// false for a name this package never writes (nothing reaches outside its
// target folder).
func guessMember(name string) (Member, bool) {
	switch name {
	case MemberDB:
		return Member{Name: name, Kind: KindDatabase}, true
	case MemberKeys:
		return Member{Name: name, Kind: KindKeys}, true
	}
	base, ok := strings.CutPrefix(name, configPrefix)
	if !ok || base == "" || base == "." || base == ".." || strings.ContainsAny(base, "/\\\x00") {
		return Member{}, false
	}
	return Member{Name: name, Kind: KindConfig}, true
}

func damaged(err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrDamaged, err)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
