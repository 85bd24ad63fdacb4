package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// sealer encrypts and authenticates what Gatehouse keeps in cookies
// (AES-256-GCM, the cookie's name bound in as associated data, so that
// one cookie cannot stand in for another), with an expiry inside.
type sealer struct {
	aead cipher.AEAD
}

// newSealer derives the key from secret.
func newSealer(secret []byte) (*sealer, error) {
	key := sha256.Sum256(append([]byte("gatehouse cookie key\x00"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// sealed is the plaintext of a cookie: its payload and expiry.
type sealed struct {
	Exp  int64           `json:"exp"`
	Data json.RawMessage `json:"d"`
}

// seal encrypts v for the cookie name, valid until exp.
func (s *sealer) seal(name string, v any, exp time.Time) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealed{Exp: exp.Unix(), Data: data})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

var errBadCookie = errors.New("cookie not valid")

// open decrypts a cookie value into v; an expired, tampered or foreign
// one is an error.
func (s *sealer) open(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return errBadCookie
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return errBadCookie
	}
	var c sealed
	if err := json.Unmarshal(plain, &c); err != nil {
		return errBadCookie
	}
	if time.Now().Unix() >= c.Exp {
		return fmt.Errorf("%w: expired", errBadCookie)
	}
	return json.Unmarshal(c.Data, v)
}

// Cookie chunks: browsers keep about 4 KB per cookie, so a longer value
// is split over NAME_0, NAME_1...
const (
	chunkSize = 3800
	maxChunks = 8
)

// setChunked sets the cookie name to value, split when long, and clears
// chunks a longer value left before.
func setChunked(w http.ResponseWriter, r *http.Request, base http.Cookie, value string) {
	n := 0
	for ; len(value) > 0 && n < maxChunks; n++ {
		part := value[:min(chunkSize, len(value))]
		value = value[len(part):]
		c := base
		c.Name, c.Value = fmt.Sprintf("%s_%d", base.Name, n), part
		http.SetCookie(w, &c)
	}
	for ; n < maxChunks; n++ {
		name := fmt.Sprintf("%s_%d", base.Name, n)
		if _, err := r.Cookie(name); err != nil {
			break
		}
		c := base
		c.Name, c.Value, c.MaxAge = name, "", -1
		http.SetCookie(w, &c)
	}
}

// chunked joins the chunks of the cookie name; "" when there is none.
func chunked(r *http.Request, name string) string {
	var b strings.Builder
	for n := 0; n < maxChunks; n++ {
		c, err := r.Cookie(fmt.Sprintf("%s_%d", name, n))
		if err != nil {
			break
		}
		b.WriteString(c.Value)
	}
	return b.String()
}

// isChunk reports whether a cookie name is one of name's chunks.
func isChunk(cookie, name string) bool {
	rest, ok := strings.CutPrefix(cookie, name+"_")
	return ok && len(rest) == 1 && rest[0] >= '0' && rest[0] < '0'+maxChunks
}
