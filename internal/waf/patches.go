package waf

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/corazawaf/coraza/v3"

	"github.com/gatehouse/gatehouse/internal/waf/seclang"
)

// Patch is a virtual patch as the admin API shows it.
type Patch struct {
	ID   string `json:"id"`
	Rule string `json:"rule"`
	Hits int64  `json:"hits"`
}

// savedPatch is a patch as the patches file keeps it.
type savedPatch struct {
	ID   string `json:"id"`
	Rule string `json:"rule"`
}

// ErrBadPatch is returned for a patch that cannot be added: a bad id or a
// rule the parser refuses.
var ErrBadPatch = errors.New("bad patch")

// ErrNoPatch is returned for removing a patch that does not exist.
var ErrNoPatch = errors.New("no such patch")

// patch is one virtual patch.
type patch struct {
	id, rule string
	ruleIDs  []int
	hits     atomic.Int64
}

// patchSet is the compiled patches, swapped whole on every change.
type patchSet struct {
	rules  coraza.WAF
	byRule map[int]*patch
}

// Patches holds the virtual patches: rules added while running, compiled
// into a small rule set of their own that every route with the WAF on
// runs before its CRS rules. A change compiles a new set and swaps it in
// atomically; requests in flight finish on the set they started with.
type Patches struct {
	file string
	log  *slog.Logger

	mu   sync.Mutex // serialises changes
	list []*patch
	set  atomic.Pointer[patchSet]

	// share, when set, is told of every patch added or removed here, to
	// pass it to the fleet.
	share atomic.Pointer[PatchShare]
}

// PatchShare receives the patches added and removed on this instance.
type PatchShare struct {
	Add    func(id, rule string)
	Remove func(id string)
}

// SetShare sets who is told of patch changes (nil: nobody).
func (p *Patches) SetShare(s *PatchShare) { p.share.Store(s) }

// patchBase is the settings of the patches' rule set: bodies parsed as
// the CRS rule set parses them, never refused for their size (the CRS
// rule set applies the body limit).
const patchBase = `SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyInMemoryLimit 131072
SecRequestBodyLimitAction ProcessPartial
SecResponseBodyAccess Off
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "^application/[a-z0-9.-]+[+]json" "id:'200006',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
`

// patchID is what a patch id may be made of.
var patchID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// NewPatches returns the patches, loaded from file when it is set and
// exists; later changes are written there.
func NewPatches(file string, log *slog.Logger) (*Patches, error) {
	p := &Patches{file: file, log: log}
	if file == "" {
		return p, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("waf_patches: %w", err)
	}
	var saved []savedPatch
	if err := json.Unmarshal(data, &saved); err != nil {
		return nil, fmt.Errorf("waf_patches: %s: %w", file, err)
	}
	list := make([]*patch, 0, len(saved))
	for _, s := range saved {
		list = append(list, &patch{id: s.ID, rule: s.Rule, ruleIDs: seclang.RuleIDs(s.Rule)})
	}
	if err := p.swap(list); err != nil {
		return nil, fmt.Errorf("waf_patches: %s: %w", file, err)
	}
	log.Info("waf patches loaded", "file", file, "patches", len(list))
	return p, nil
}

// File is where the patches are kept ("" for nowhere).
func (p *Patches) File() string { return p.file }

// Add adds a patch, or replaces the one with the same id; created
// reports which. The patch applies to new requests when Add returns.
func (p *Patches) Add(id, rule string) (created bool, err error) {
	if !patchID.MatchString(id) {
		return false, fmt.Errorf("%w: id %q: want 1-64 letters, digits, '.', '_' or '-'", ErrBadPatch, id)
	}
	if strings.TrimSpace(rule) == "" {
		return false, fmt.Errorf("%w: empty rule", ErrBadPatch)
	}
	if err := seclang.OnlyRules(rule); err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadPatch, err)
	}
	if err := seclang.Check(rule); err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadPatch, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	np := &patch{id: id, rule: rule, ruleIDs: seclang.RuleIDs(rule)}
	list := slices.Clone(p.list)
	i := slices.IndexFunc(list, func(q *patch) bool { return q.id == id })
	if i >= 0 {
		list[i] = np
	} else {
		list = append(list, np)
	}
	if err := p.swap(list); err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadPatch, err)
	}
	p.save()
	p.log.Info("waf patch added", "id", id)
	if s := p.share.Load(); s != nil {
		s.Add(id, rule)
	}
	return i < 0, nil
}

// Remove removes the patch with id.
func (p *Patches) Remove(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.list, func(q *patch) bool { return q.id == id })
	if i < 0 {
		return ErrNoPatch
	}
	list := slices.Delete(slices.Clone(p.list), i, i+1)
	if err := p.swap(list); err != nil {
		return err
	}
	p.save()
	p.log.Info("waf patch removed", "id", id)
	if s := p.share.Load(); s != nil {
		s.Remove(id)
	}
	return nil
}

// SetAll makes list the patches in force, as the fleet has them (hit
// counts of the patches kept stay). A list that does not compile leaves
// the patches as they were.
func (p *Patches) SetAll(list []Patch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	same := len(list) == len(p.list)
	next := make([]*patch, 0, len(list))
	for i, q := range list {
		if same && (p.list[i].id != q.ID || p.list[i].rule != q.Rule) {
			same = false
		}
		np := &patch{id: q.ID, rule: q.Rule, ruleIDs: seclang.RuleIDs(q.Rule)}
		if old := p.find(q.ID); old != nil && old.rule == q.Rule {
			np.hits.Store(old.hits.Load())
		}
		next = append(next, np)
	}
	if same {
		return nil
	}
	for _, q := range next {
		if err := seclang.OnlyRules(q.rule); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadPatch, q.id, err)
		}
	}
	if err := p.swap(next); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPatch, err)
	}
	p.save()
	p.log.Info("waf patches set by the fleet", "patches", len(next))
	return nil
}

// find is the patch with id, nil when none; called with mu held.
func (p *Patches) find(id string) *patch {
	for _, q := range p.list {
		if q.id == id {
			return q
		}
	}
	return nil
}

// List returns the patches with their hit counts, in the order added.
func (p *Patches) List() []Patch {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Patch, 0, len(p.list))
	for _, q := range p.list {
		out = append(out, Patch{ID: q.id, Rule: q.rule, Hits: q.hits.Load()})
	}
	return out
}

// swap compiles list and makes it the patches in force.
func (p *Patches) swap(list []*patch) error {
	if len(list) == 0 {
		p.list = nil
		p.set.Store(nil)
		return nil
	}
	var b strings.Builder
	b.WriteString(patchBase)
	byRule := map[int]*patch{}
	for _, q := range list {
		b.WriteString(q.rule)
		b.WriteByte('\n')
		for _, id := range q.ruleIDs {
			byRule[id] = q
		}
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(b.String()))
	if err != nil {
		return err
	}
	p.list = list
	p.set.Store(&patchSet{rules: w, byRule: byRule})
	return nil
}

// save writes the patches to the file (atomically), if there is one.
func (p *Patches) save() {
	if p.file == "" {
		return
	}
	saved := make([]savedPatch, 0, len(p.list))
	for _, q := range p.list {
		saved = append(saved, savedPatch{ID: q.id, Rule: q.rule})
	}
	data, _ := json.MarshalIndent(saved, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(p.file), ".waf-patches-*")
	if err == nil {
		_, err = tmp.Write(append(data, '\n'))
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), p.file)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}
	if err != nil {
		p.log.Error("waf patches not saved", "file", p.file, "error", err)
	}
}

// ruleSet is the patches' compiled rules, nil when there are none.
func (p *Patches) ruleSet() coraza.WAF {
	if p == nil {
		return nil
	}
	if s := p.set.Load(); s != nil {
		return s.rules
	}
	return nil
}

// byRule is the patch that declares rule id.
func (p *Patches) byRule(id int) *patch {
	if p == nil {
		return nil
	}
	if s := p.set.Load(); s != nil {
		return s.byRule[id]
	}
	return nil
}
