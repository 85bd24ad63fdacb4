package server

import (
	"bytes"
	"testing"
)

func TestWithoutSetting(t *testing.T) {
	settings := []byte{0, 0, 18, 0x4, 0, 0, 0, 0, 0,
		0, 0x5, 0, 0, 0x40, 0, // MAX_FRAME_SIZE
		0, 0x8, 0, 0, 0, 1, // ENABLE_CONNECT_PROTOCOL
		0, 0x3, 0, 0, 0, 100} // MAX_CONCURRENT_STREAMS
	windowUpdate := []byte{0, 0, 4, 0x8, 0, 0, 0, 0, 0, 0, 0, 1, 0}
	out, ok := withoutSetting(append(append([]byte(nil), settings...), windowUpdate...), settingEnableConnectProtocol)
	want := append([]byte{0, 0, 12, 0x4, 0, 0, 0, 0, 0, 0, 0x5, 0, 0, 0x40, 0, 0, 0x3, 0, 0, 0, 100}, windowUpdate...)
	if !ok || !bytes.Equal(out, want) {
		t.Fatalf("got %v %x", ok, out)
	}
	for name, p := range map[string][]byte{
		"no such setting": settings[:9+6],
		"not SETTINGS":    windowUpdate,
		"cut short":       settings[:20],
		"an ACK":          {0, 0, 0, 0x4, 1, 0, 0, 0, 0},
	} {
		if name == "no such setting" {
			p = append([]byte{0, 0, 6}, p[3:]...)
		}
		if _, ok := withoutSetting(p, settingEnableConnectProtocol); ok {
			t.Errorf("%s: rewritten", name)
		}
	}
}
