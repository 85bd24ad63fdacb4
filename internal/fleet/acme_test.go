package fleet_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/fleet"
	"github.com/gatehouse/gatehouse/internal/fleet/fleettest"
)

// The storage keeps values under readable keys, lists them by
// directory, and deletes directories whole, as certmagic expects of a
// Storage.
func TestACMEStorageValues(t *testing.T) {
	r := fleettest.StartRedis(t)
	s := fleet.NewACMEStorage(fleettest.Open(t, "gatehouse", false, r.Addr))
	ctx := context.Background()
	if _, err := s.Load(ctx, "certificates/ca/a.test/a.test.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v, want fs.ErrNotExist", err)
	}
	for _, k := range []string{"certificates/ca/a.test/a.test.crt", "certificates/ca/a.test/a.test.key", "certificates/ca/b.test/b.test.crt", "acme/ca/users/x/x.json"} {
		if err := s.Store(ctx, k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Load(ctx, "certificates/ca/a.test/a.test.key"); err != nil || string(v) != "value of certificates/ca/a.test/a.test.key" {
		t.Fatalf("load: %q, %v", v, err)
	}
	if got := r.CLI("get", "gatehouse:acme:certificates/ca/a.test/a.test.crt"); got != "value of certificates/ca/a.test/a.test.crt" {
		t.Fatalf("the key is not readable by its name: %q", got)
	}
	list, err := s.List(ctx, "certificates/ca", false)
	if err != nil || !slices.Equal(list, []string{"certificates/ca/a.test", "certificates/ca/b.test"}) {
		t.Fatalf("list: %v, %v", list, err)
	}
	list, err = s.List(ctx, "certificates", true)
	if err != nil || len(list) != 3 {
		t.Fatalf("recursive list: %v, %v", list, err)
	}
	info, err := s.Stat(ctx, "certificates/ca/a.test/a.test.crt")
	if err != nil || !info.IsTerminal || info.Size != int64(len("value of certificates/ca/a.test/a.test.crt")) || time.Since(info.Modified) > time.Minute {
		t.Fatalf("stat: %+v, %v", info, err)
	}
	if info, err := s.Stat(ctx, "certificates/ca"); err != nil || info.IsTerminal {
		t.Fatalf("stat of a directory: %+v, %v", info, err)
	}
	if !s.Exists(ctx, "certificates/ca/b.test") || s.Exists(ctx, "certificates/ca/c.test") {
		t.Fatal("Exists is wrong")
	}
	if err := s.Delete(ctx, "certificates/ca/a.test"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/a.test/a.test.key") || !s.Exists(ctx, "certificates/ca/b.test/b.test.crt") {
		t.Fatal("deleting a directory did not delete just what is under it")
	}
	if err := s.Delete(ctx, "nothing/here"); err != nil {
		t.Fatalf("deleting what does not exist: %v", err)
	}
}

// One holder at a time: a second Lock waits until the first unlocks; a
// holder that stops renewing (it died) loses the lock when it expires;
// a holder that keeps renewing keeps it past the expiry.
func TestACMEStorageLocks(t *testing.T) {
	r := fleettest.StartRedis(t)
	a := fleet.NewACMEStorage(fleettest.Open(t, "gatehouse", false, r.Addr))
	b := fleet.NewACMEStorage(fleettest.Open(t, "gatehouse", false, r.Addr))
	for _, s := range []*fleet.ACMEStorage{a, b} {
		s.LockTTL, s.LockPoll = 600*time.Millisecond, 20*time.Millisecond
	}
	ctx := context.Background()
	if err := a.Lock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_a.test"); ok || err != nil {
		t.Fatalf("a second holder took the lock: %v, %v", ok, err)
	}
	// Held past its expiry: a renews it.
	time.Sleep(1500 * time.Millisecond)
	if ok, _ := b.TryLock(ctx, "issue_cert_a.test"); ok {
		t.Fatal("the lock expired while its holder renewed it")
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_a.test") }()
	select {
	case err := <-got:
		t.Fatalf("Lock returned while another held the lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := a.Unlock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock did not return once the lock was free")
	}
	// b dies holding it: its lock expires, and a gets it.
	b.Abandon("issue_cert_a.test")
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.Lock(ctx2, "issue_cert_a.test"); err != nil {
		t.Fatalf("the lock of a dead holder did not expire: %v", err)
	}
	t.Logf("taken %v after its holder stopped", time.Since(start).Round(time.Millisecond))
	// Lock honours its context.
	ctx3, cancel3 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel3()
	if err := b.Lock(ctx3, "issue_cert_a.test"); err == nil {
		t.Fatal("Lock took a held lock")
	}
}
