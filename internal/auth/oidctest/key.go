package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Key is a signing key for test tokens: its private half, and its public
// half as a JWK carrying the kid and algorithm.
type Key struct {
	KID     string
	Alg     jwa.SignatureAlgorithm
	Private crypto.Signer
	Public  jwk.Key
}

// NewRSAKey makes an RS256 key named kid.
func NewRSAKey(kid string) (*Key, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return newKey(kid, jwa.RS256(), k)
}

// NewECKey makes an ES256 key named kid.
func NewECKey(kid string) (*Key, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newKey(kid, jwa.ES256(), k)
}

func newKey(kid string, alg jwa.SignatureAlgorithm, priv crypto.Signer) (*Key, error) {
	pub, err := jwk.Import(priv.Public())
	if err != nil {
		return nil, err
	}
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.AlgorithmKey, alg)
	return &Key{KID: kid, Alg: alg, Private: priv, Public: pub}, nil
}

// Sign signs tok with the key, its kid in the header.
func (k *Key) Sign(tok jwt.Token) (string, error) {
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, k.KID)
	b, err := jwt.Sign(tok, jwt.WithKey(k.Alg, k.Private, jws.WithProtectedHeaders(hdr)))
	return string(b), err
}

// JWKS is the JSON key set of the keys' public halves.
func JWKS(keys ...*Key) []byte {
	set := jwk.NewSet()
	for _, k := range keys {
		_ = set.AddKey(k.Public)
	}
	b, _ := json.Marshal(set)
	return b
}
