package sqlstore

func (s *Store) registerArtifacts() {}
