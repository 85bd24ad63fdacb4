package auth

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashKind is how an htpasswd entry's password is hashed.
type hashKind uint8

const (
	hashBcrypt hashKind = iota + 1
	hashSHA1            // {SHA}: base64 of the SHA-1 of the password
)

// entry is one user's line of an htpasswd file.
type entry struct {
	kind hashKind
	hash []byte
}

// Users maps user names to their password hashes.
type Users map[string]entry

// ReadHtpasswd reads an htpasswd file. Entries are bcrypt ($2y$, $2a$,
// $2b$, as `htpasswd -B` makes) or {SHA}; MD5 ($apr1$), crypt and plain
// text are refused, naming the line. Blank lines and lines starting with #
// are skipped.
func ReadHtpasswd(path string) (Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseHtpasswd(path, data)
}

func parseHtpasswd(path string, data []byte) (Users, error) {
	users := Users{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" || hash == "" {
			return nil, fmt.Errorf("%s:%d: want user:hash", path, n)
		}
		e, err := parseHash(hash)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %w", path, n, name, err)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("%s:%d: user %q is listed twice", path, n, name)
		}
		users[name] = e
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return users, nil
}

func parseHash(h string) (entry, error) {
	switch {
	case strings.HasPrefix(h, "$2y$"), strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return entry{}, fmt.Errorf("malformed bcrypt hash: %v", err)
		}
		return entry{kind: hashBcrypt, hash: []byte(h)}, nil
	case strings.HasPrefix(h, "{SHA}"):
		sum, err := base64.StdEncoding.DecodeString(h[len("{SHA}"):])
		if err != nil || len(sum) != sha1.Size {
			return entry{}, fmt.Errorf("malformed {SHA} hash")
		}
		return entry{kind: hashSHA1, hash: sum}, nil
	case strings.HasPrefix(h, "$apr1$"), strings.HasPrefix(h, "$1$"):
		return entry{}, fmt.Errorf("MD5 hashes are not accepted (weak); make a bcrypt entry: htpasswd -B FILE USER")
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"), len(h) == 13:
		return entry{}, fmt.Errorf("crypt hashes are not accepted; make a bcrypt entry: htpasswd -B FILE USER")
	}
	return entry{}, fmt.Errorf("unknown hash (plain text?): make a bcrypt entry with htpasswd -B FILE USER")
}

// verify checks password against the entry; bcrypt's cost is the
// caller's to bound.
func (e entry) verify(password string) bool {
	switch e.kind {
	case hashBcrypt:
		return bcrypt.CompareHashAndPassword(e.hash, []byte(password)) == nil
	case hashSHA1:
		sum := sha1.Sum([]byte(password))
		return subtle.ConstantTimeCompare(sum[:], e.hash) == 1
	}
	return false
}
