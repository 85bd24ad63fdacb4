package access

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/filewatch"
)

// ParseEntry parses one allow or deny entry: a CIDR, a single address, or
// "all" (every IPv4 and IPv6 address).
func ParseEntry(s string) ([]netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "all") {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		return []netip.Prefix{p.Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an address or CIDR", s)
	}
	a = a.Unmap()
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
}

// ReadFile reads a list file: one entry per line; blank lines and text
// after # are ignored. Errors name the line.
func ReadFile(path string) ([]netip.Prefix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(line) == "" {
			continue
		}
		ps, err := ParseEntry(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, ps...)
	}
	return out, sc.Err()
}

// List is a site's or route's allow and deny entries, with an optional
// deny file that is read again when it changes. The first entry holding
// an address decides: allow's, then deny's and the file's, or deny's
// first when denyFirst.
type List struct {
	allow, deny []netip.Prefix
	denyFile    string
	denyFirst   bool
	log         *slog.Logger

	trie atomic.Pointer[Trie]
	// stamp is the deny file's modification time and size as last read.
	stamp string
}

// NewList builds the list; denyFile ("" for none) is read now. Entries
// are matched in order: allow's, then deny's and the file's, or deny's
// and the file's first when denyFirst.
func NewList(allow, deny []netip.Prefix, denyFile string, denyFirst bool, log *slog.Logger) (*List, error) {
	l := &List{allow: allow, deny: deny, denyFile: denyFile, denyFirst: denyFirst, log: log}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

// load builds the trie from the entries and the deny file.
func (l *List) load() error {
	deny := l.deny
	stamp := ""
	if l.denyFile != "" {
		stamp = filewatch.Stamp(l.denyFile)
		ps, err := ReadFile(l.denyFile)
		if err != nil {
			return fmt.Errorf("deny_file: %w", err)
		}
		deny = append(deny[:len(deny):len(deny)], ps...)
	}
	t := &Trie{}
	insert := func(ps []netip.Prefix, allow bool) {
		for _, p := range ps {
			t.Insert(p, allow)
		}
	}
	if l.denyFirst {
		insert(deny, false)
		insert(l.allow, true)
	} else {
		insert(l.allow, true)
		insert(deny, false)
	}
	l.stamp = stamp
	l.trie.Store(t)
	return nil
}

// Watch reads the deny file again when it changes, checking every
// interval until ctx ends. A file that no longer parses keeps the entries
// in force (the problem is logged).
func (l *List) Watch(ctx context.Context, interval time.Duration) {
	if l.denyFile == "" {
		return
	}
	filewatch.Poll(ctx, l.denyFile, l.stamp, interval, func() error {
		if err := l.load(); err != nil {
			return err
		}
		l.log.Info("deny file reloaded", "file", l.denyFile, "prefixes", l.trie.Load().Len())
		return nil
	}, func(err error) {
		l.log.Error("deny file not reloaded; the entries in force stay", "error", err)
	})
}

// Denied reports whether addr is refused: the first entry that holds it
// is a deny (no entry: allowed).
func (l *List) Denied(addr netip.Addr) bool {
	allow, found := l.trie.Load().Lookup(addr)
	return found && !allow
}
