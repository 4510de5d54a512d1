package sqlstore

func (s *Store) registerRegistry() {}
