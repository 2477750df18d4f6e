package store

// CrashClose closes the file without writing the hot state behind, as a
// kill -9 would leave it.
func (s *Bolt) CrashClose() error {
	s.crash = true
	close(s.stop)
	<-s.flushed
	return s.db.Close()
}
