package sqlstore

func (s *Store) registerTracking() {}
