package cache

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The disk tier keeps each variant in a file named after its key (the
// key's hash and a random suffix, so that a new copy never takes the name
// of one still being read): the body
// first, so that it streams to the file as it arrives, then the metadata
// as JSON, then a footer of the metadata's length, its CRC-32C and a
// magic number.
// Files are written under a temporary name and renamed when complete, so
// a half-written entry is never found; one whose footer, metadata or
// length does not add up is deleted when the tier loads, never served.
const (
	diskMagic   = "GHC1"
	footerSize  = 12 // uint32 metadata length, uint32 CRC-32C of it, the magic
	tmpPrefix   = ".tmp-"
	maxMetaSize = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// diskFile is one entry's file.
type diskFile struct {
	path string
	size int64 // the body's length
}

// read returns the whole body.
func (f *diskFile) read() ([]byte, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	buf := make([]byte, f.size)
	if _, err := io.ReadFull(fh, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// open returns the body as a ReadSeeker limited to it.
func (f *diskFile) open() (io.ReadSeeker, io.Closer, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, nil, err
	}
	return io.NewSectionReader(fh, 0, f.size), fh, nil
}

// diskEntry is the index's record of a file.
type diskEntry struct {
	entry *Entry
	elem  *list.Element // in disk.lru, most recently used first
	bytes int64         // the file's size
}

// disk is the disk tier: files in one directory, an index of them in
// memory, bounded by max bytes, least recently used evicted first.
type disk struct {
	dir   string
	max   int64
	store *Store

	// rewriting serialises updates of files in place.
	rewriting sync.Mutex

	mu        sync.Mutex
	byVariant map[string]*diskEntry
	byPrimary map[string][]*diskEntry
	lru       *list.List
	size      int64
}

// openDisk opens (creating it if need be) the directory and loads the
// entries a previous process left, dropping broken ones.
func openDisk(dir string, max int64, store *Store) (*disk, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache disk: %w", err)
	}
	d := &disk{dir: dir, max: max, store: store, byVariant: map[string]*diskEntry{}, byPrimary: map[string][]*diskEntry{}, lru: list.New()}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cache disk: %w", err)
	}
	for _, de := range names {
		path := filepath.Join(dir, de.Name())
		if strings.HasPrefix(de.Name(), tmpPrefix) {
			_ = os.Remove(path) // left by a crash
			continue
		}
		if !de.Type().IsRegular() || len(de.Name()) != fileNameLen {
			continue
		}
		e, n, err := loadEntry(path)
		if err != nil {
			_ = os.Remove(path)
			continue
		}
		if old := d.byVariant[e.Meta.Variant]; old != nil && old.entry.Meta.ResponseTime.After(e.Meta.ResponseTime) {
			// Two copies of one variant (a crash between storing the
			// new one and removing the old): keep the newer.
			_ = os.Remove(path)
			continue
		}
		d.insert(e, n)
		store.index(e.Meta.URL, e.Meta.Primary)
	}
	d.evict()
	return d, nil
}

// loadEntry reads an entry's metadata from its file and checks that the
// file holds exactly the body it announces.
func loadEntry(path string) (*Entry, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, 0, err
	}
	m, err := readMeta(fh, fi.Size())
	if err != nil {
		return nil, 0, err
	}
	if !strings.HasPrefix(filepath.Base(path), keyHash(m.Variant)+"-") {
		return nil, 0, errors.New("file name does not match its key")
	}
	e := &Entry{Meta: *m, file: &diskFile{path: path, size: m.Size}}
	e.init()
	return e, fi.Size(), nil
}

// readMeta reads and checks the footer and metadata of a file of size
// bytes.
func readMeta(r io.ReaderAt, size int64) (*Meta, error) {
	if size < footerSize {
		return nil, errors.New("no footer")
	}
	var foot [footerSize]byte
	if _, err := r.ReadAt(foot[:], size-footerSize); err != nil {
		return nil, err
	}
	if string(foot[8:]) != diskMagic {
		return nil, errors.New("bad magic")
	}
	n := int64(binary.BigEndian.Uint32(foot[:4]))
	if n <= 0 || n > maxMetaSize || n > size-footerSize {
		return nil, errors.New("bad metadata length")
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-footerSize-n); err != nil {
		return nil, err
	}
	if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(foot[4:8]) {
		return nil, errors.New("metadata checksum mismatch")
	}
	var m Meta
	if err := json.Unmarshal(buf, &m); err != nil {
		return nil, err
	}
	if m.Size != size-footerSize-n || m.Primary == "" || m.Variant == "" || m.Status < 100 || m.Status > 599 {
		return nil, errors.New("metadata does not match the file")
	}
	return &m, nil
}

// keyHash is the start of the file names of a variant key.
func keyHash(variant string) string {
	sum := sha256.Sum256([]byte(variant))
	return hex.EncodeToString(sum[:])
}

// fileNameLen is the length of an entry's file name: the key's hash, a
// dash and 16 random hex digits.
const fileNameLen = 64 + 1 + 16

// fileName is a new file name for a variant key.
func fileName(variant string) string {
	var suffix [8]byte
	binary.LittleEndian.PutUint64(suffix[:], rand.Uint64())
	return keyHash(variant) + "-" + hex.EncodeToString(suffix[:])
}

// newFile starts a file for a body of unknown size: a temporary file in
// the tier's directory, to be finished by commit or dropped by abort.
func (d *disk) newFile() (*os.File, error) {
	return os.CreateTemp(d.dir, tmpPrefix)
}

// trailer is m as it follows the body in a file: the metadata, then the
// footer.
func trailer(m *Meta) ([]byte, error) {
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(meta) > maxMetaSize {
		return nil, errors.New("metadata too large")
	}
	var foot [footerSize]byte
	binary.BigEndian.PutUint32(foot[:4], uint32(len(meta)))
	binary.BigEndian.PutUint32(foot[4:8], crc32.Checksum(meta, castagnoli))
	copy(foot[8:], diskMagic)
	return append(meta, foot[:]...), nil
}

// commit writes m after the body already in f and moves f into place.
func (d *disk) commit(f *os.File, m *Meta) (*diskFile, error) {
	t, err := trailer(m)
	if err == nil {
		_, err = f.Write(t)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	path := filepath.Join(d.dir, fileName(m.Variant))
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("cache disk: %w", err)
	}
	return &diskFile{path: path, size: m.Size}, nil
}

// abort drops an unfinished file.
func (d *disk) abort(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// writeEntry writes a whole entry (metadata m, body from r).
func (d *disk) writeEntry(m *Meta, body io.Reader) (*diskFile, error) {
	f, err := d.newFile()
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, body); err != nil {
		d.abort(f)
		return nil, err
	}
	return d.commit(f, m)
}

// updateMeta replaces the metadata of an entry on disk (after a 304
// updated its fields), in place after the body, which does not change:
// readers of the body are not disturbed, and a crash half-way leaves a
// file that fails its check when loaded.
func (d *disk) updateMeta(e *Entry) error {
	t, err := trailer(&e.Meta)
	if err != nil {
		return err
	}
	d.rewriting.Lock()
	defer d.rewriting.Unlock()
	f, err := os.OpenFile(e.file.path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(e.file.size)
	if err == nil {
		_, err = f.WriteAt(t, e.file.size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// add indexes an entry whose file is in place.
func (d *disk) add(e *Entry) {
	fi, err := os.Stat(e.file.path)
	if err != nil {
		return
	}
	d.insert(e, fi.Size())
	d.evict()
}

// insert indexes an entry, replacing the variant with the same key and
// dropping variants of its key that vary on other fields.
func (d *disk) insert(e *Entry, bytes int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.byVariant[e.Meta.Variant]; old != nil {
		d.unlink(old, old.entry.file.path != e.file.path)
	}
	for _, o := range d.byPrimary[e.Meta.Primary] {
		if !slices.Equal(o.entry.Meta.Vary, e.Meta.Vary) {
			d.unlink(o, true)
		}
	}
	de := &diskEntry{entry: e, bytes: bytes}
	de.elem = d.lru.PushFront(de)
	d.byVariant[e.Meta.Variant] = de
	d.byPrimary[e.Meta.Primary] = append(d.byPrimary[e.Meta.Primary], de)
	d.size += bytes
}

// unlink drops an entry from the index (and its file, when remove is
// set). d.mu is held.
func (d *disk) unlink(de *diskEntry, remove bool) {
	m := &de.entry.Meta
	if d.byVariant[m.Variant] == de {
		delete(d.byVariant, m.Variant)
	}
	list := d.byPrimary[m.Primary]
	for i, o := range list {
		if o == de {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(d.byPrimary, m.Primary)
	} else {
		d.byPrimary[m.Primary] = list
	}
	d.lru.Remove(de.elem)
	d.size -= de.bytes
	if remove {
		_ = os.Remove(de.entry.file.path)
	}
}

// evict drops the least recently used entries while the tier is over
// its size.
func (d *disk) evict() {
	var gone []*Meta
	d.mu.Lock()
	for d.size > d.max && d.lru.Len() > 0 {
		de := d.lru.Back().Value.(*diskEntry)
		d.unlink(de, true)
		gone = append(gone, &de.entry.Meta)
		d.store.Stats.Evictions.Add(1)
	}
	d.mu.Unlock()
	for _, m := range gone {
		// A copy in the memory tier stays (it is served from there);
		// the URL is forgotten once neither tier has the key.
		if _, inMemory := d.store.mem.GetIfPresent(m.Primary); !inMemory && !d.has(m.Primary) {
			d.store.unindex(m.URL, m.Primary)
		}
	}
}

func (d *disk) has(primary string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byPrimary[primary]) > 0
}

// lookup returns the variant of primary the request matches, marking it
// used.
func (d *disk) lookup(primary string, r *http.Request) *Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, de := range d.byPrimary[primary] {
		m := &de.entry.Meta
		if slices.Equal(m.VaryValues, varyValues(m.Vary, r.Header)) {
			d.lru.MoveToFront(de.elem)
			return de.entry
		}
	}
	return nil
}

// removeVariant drops one variant.
func (d *disk) removeVariant(variant string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if de := d.byVariant[variant]; de != nil {
		d.unlink(de, true)
	}
}

// remove drops every variant of primary.
func (d *disk) remove(primary string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, de := range slices.Clone(d.byPrimary[primary]) {
		d.unlink(de, true)
	}
}

func (d *disk) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byVariant)
}

// bytes is what the tier's files take.
func (d *disk) bytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size
}
