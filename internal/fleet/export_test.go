package fleet

// Abandon stops renewing the held lock name without releasing it, as a
// process that died would (tests).
func (s *ACMEStorage) Abandon(name string) {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h != nil {
		h.stop()
		<-h.done
	}
}
