package cache

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// An entry survives its trip through the shared tier's encoding.
func TestSharedEntryRoundTrip(t *testing.T) {
	e := &Entry{Meta: Meta{URL: "http://a.test/x", Primary: "GET http://a.test/x", Variant: "GET http://a.test/x", Status: 200,
		Header: http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"v1"`}}, RequestTime: time.Unix(1700000000, 0),
		ResponseTime: time.Unix(1700000001, 0), Size: 5}}
	v, err := encodeEntry(e, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEntry(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.body, []byte("hello")) || got.Meta.URL != e.Meta.URL || got.Meta.Header.Get("Etag") != `"v1"` ||
		!got.Meta.ResponseTime.Equal(e.Meta.ResponseTime) || got.lifetime != time.Minute {
		t.Fatalf("decoded %+v", got.Meta)
	}
}

// Whatever the store hands back (another version's entry, a key some
// other program wrote, garbage), decoding fails cleanly or yields an
// entry whose body is its stated size.
func FuzzDecodeSharedEntry(f *testing.F) {
	e := &Entry{Meta: Meta{URL: "u", Primary: "GET u", Variant: "GET u", Status: 200, Header: http.Header{"Cache-Control": {"max-age=5"}}, Size: 3}}
	v, _ := encodeEntry(e, []byte("abc"))
	f.Add(v)
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeEntry(data)
		if err != nil {
			return
		}
		if int64(len(got.body)) != got.Meta.Size {
			t.Fatalf("body %d bytes, size %d", len(got.body), got.Meta.Size)
		}
	})
}
