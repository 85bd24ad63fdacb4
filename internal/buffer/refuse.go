package buffer

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/limits"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// Refuse answers a request whose body could not be buffered: 413 for a
// body over the limit, 408 for one too slow, 503 when the spool budget is
// spent (logged), 400 otherwise.
func Refuse(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	info := reqinfo.From(r.Context())
	info.BodyError = err
	status := limits.Status(err)
	if errors.Is(err, ErrSpoolFull) {
		status = http.StatusServiceUnavailable
		log.Error("request body not buffered", "request_id", info.ID, "error", err)
	}
	// Answered even when the client seems gone: one that only half-closed
	// its side is still reading.
	w.Header().Set("Connection", "close")
	errpage.Write(w, status)
}
