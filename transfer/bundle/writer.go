package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// Meta is what a writer records about the bundle's origin.
type Meta struct {
	Workspace string
	Region    string
	Source    string
	Position  *tandem.Position
	Created   time.Time // zero means now
}

// Writer writes a bundle. Records and blobs are streamed to files as they
// are added (memory holds only the manifest's item list); Close writes the
// manifest and, for an archive, packs the staged files behind it. A bundle
// is visible at its final path only once complete: a folder has no
// manifest.json until Close, an archive is renamed into place by Close.
//
// Add* may be called from several goroutines. Items appear in the manifest
// in the order their Add* call finished: add an object's blobs before the
// object, and an experiment before its runs.
type Writer struct {
	final   string // output path
	root    string // folder the files are written to
	archive bool
	gzip    bool
	meta    Meta

	mu     sync.Mutex
	items  []Item
	seen   map[string]bool
	closed bool
}

// IsArchivePath reports whether path names an archive (.tar, .tar.gz, .tgz)
// rather than a folder.
func IsArchivePath(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".tar") || strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// Create starts a bundle at path: an archive when path ends in .tar, .tar.gz
// or .tgz (gzip for the last two), a folder otherwise. An existing archive or
// a non-empty folder is not overwritten (EEXISTS).
func Create(path string, meta Meta) (*Writer, error) {
	w := &Writer{final: path, meta: meta, seen: map[string]bool{}}
	if meta.Created.IsZero() {
		w.meta.Created = time.Now().UTC().Truncate(time.Millisecond)
	}
	if IsArchivePath(path) {
		w.archive = true
		w.gzip = !strings.HasSuffix(strings.ToLower(path), ".tar")
		if _, err := os.Stat(path); err == nil {
			return nil, tandem.Errorf(tandem.EEXISTS, "bundle %s already exists", path)
		}
		dir, err := os.MkdirTemp(filepath.Dir(path), ".tandem-bundle-*")
		if err != nil {
			return nil, fmt.Errorf("bundle staging folder: %w", err)
		}
		w.root = dir
		return w, nil
	}
	if ents, err := os.ReadDir(path); err == nil && len(ents) > 0 {
		return nil, tandem.Errorf(tandem.EEXISTS, "bundle folder %s exists and is not empty", path)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("bundle folder: %w", err)
	}
	w.root = path
	return w, nil
}

// AddObject writes one object record. id must be unique within kind.
func (w *Writer) AddObject(kind Kind, id string, v any) (Item, error) {
	if kind == KindBlob || !knownKinds[kind] {
		return Item{}, invalid("AddObject: bad kind %q", kind)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return Item{}, fmt.Errorf("bundle: encode %s %s: %w", kind, id, err)
	}
	it := Item{Kind: kind, ID: id, Path: "objects/" + string(kind) + "/" + objectFileName(id)}
	if err := w.reserve(it); err != nil {
		return Item{}, err
	}
	if it.SHA256, it.Size, err = w.writeFile(it.Path, strings.NewReader(string(body))); err != nil {
		return Item{}, err
	}
	return w.commit(it)
}

// AddBlob streams one artifact file of owner ("run/<id>" or
// "logged_model/<id>") at artifactPath (relative to the owner's artifact
// root). readable is its readable location under blobs/ (for a run,
// "<experiment_id>/<run_id>/artifacts/<path>"). It returns the item with
// its size and digest.
func (w *Writer) AddBlob(owner, artifactPath, readable string, r io.Reader) (Item, error) {
	it := Item{Kind: KindBlob, ID: artifactPath, Owner: owner, Path: "blobs/" + readable}
	if err := checkItem(Item{Kind: KindBlob, ID: artifactPath, Owner: owner, Path: it.Path, SHA256: strings.Repeat("0", 64)}); err != nil {
		return Item{}, invalid("blob %s %s: %v", owner, artifactPath, err)
	}
	if err := w.reserve(it); err != nil {
		return Item{}, err
	}
	var err error
	if it.SHA256, it.Size, err = w.writeFile(it.Path, r); err != nil {
		return Item{}, err
	}
	return w.commit(it)
}

func (w *Writer) reserve(it Item) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return invalid("writer is closed")
	}
	for _, k := range []string{"p\x00" + it.Path, "i\x00" + string(it.Kind) + "\x00" + it.Owner + "\x00" + it.ID} {
		if w.seen[k] {
			return invalid("%s %q added twice", it.Kind, it.ID)
		}
	}
	w.seen["p\x00"+it.Path] = true
	w.seen["i\x00"+string(it.Kind)+"\x00"+it.Owner+"\x00"+it.ID] = true
	return nil
}

func (w *Writer) commit(it Item) (Item, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.items = append(w.items, it)
	return it, nil
}

// writeFile streams r to root/rel and returns its SHA-256 and size.
func (w *Writer) writeFile(rel string, r io.Reader) (string, int64, error) {
	full := filepath.Join(w.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return "", 0, fmt.Errorf("bundle: %w", err)
	}
	f, err := os.Create(full)
	if err != nil {
		return "", 0, fmt.Errorf("bundle: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(full)
		return "", 0, fmt.Errorf("bundle: write %s: %w", rel, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Items returns a copy of the items added so far.
func (w *Writer) Items() []Item {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Item(nil), w.items...)
}

// SetPosition records the journal position the bundle's objects were read
// at (the manifest's position). The exporter calls it from inside its read
// snapshot, before Close.
func (w *Writer) SetPosition(p tandem.Position) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.meta.Position = &p
}

// Close writes the manifest and completes the bundle.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return invalid("writer is closed")
	}
	w.closed = true
	items := append([]Item(nil), w.items...)
	w.mu.Unlock()
	m := Manifest{Format: Format, Version: FormatVersion, Workspace: w.meta.Workspace, Region: w.meta.Region,
		Source: w.meta.Source, Position: w.meta.Position, Created: w.meta.Created.UTC(), Items: orderItems(items)}
	if m.Items == nil {
		m.Items = []Item{}
	}
	body, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("bundle: manifest: %w", err)
	}
	if !w.archive {
		tmp := filepath.Join(w.root, ".manifest.json.tmp")
		if err := writeSync(tmp, body); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(w.root, "manifest.json"))
	}
	defer os.RemoveAll(w.root)
	return w.pack(body, m.Items)
}

// orderItems sorts items by kind (dependency order), keeping the order of
// addition within a kind, except that blobs stay right before the first
// object: all blobs precede all runs and logged models.
func orderItems(items []Item) []Item {
	rank := map[Kind]int{KindExperiment: 0, KindBlob: 1, KindRun: 2, KindLoggedModel: 3,
		KindRegisteredModel: 4, KindModelVersion: 5, KindAsset: 6}
	out := make([]Item, 0, len(items))
	for r := 0; r <= 6; r++ {
		for _, it := range items {
			if rank[it.Kind] == r {
				out = append(out, it)
			}
		}
	}
	return out
}

func (w *Writer) pack(manifest []byte, items []Item) (err error) {
	tmp := w.final + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	var out io.Writer = f
	var gz *gzip.Writer
	if w.gzip {
		gz, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
		out = gz
	}
	tw := tar.NewWriter(out)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644,
			ModTime: w.meta.Created, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr("manifest.json", int64(len(manifest)))); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if _, err := tw.Write(manifest); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, it := range items {
		if err := tw.WriteHeader(hdr(it.Path, it.Size)); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		src, err := os.Open(filepath.Join(w.root, filepath.FromSlash(it.Path)))
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("bundle: pack %s: %w", it.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return os.Rename(tmp, w.final)
}

// Abort discards an unfinished bundle: the staging folder of an archive, or
// the files written into a new folder.
func (w *Writer) Abort() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return os.RemoveAll(w.root)
}

func writeSync(path string, body []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("bundle: write %s: %w", path, err), os.Remove(path))
	}
	return nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
