package sqlstore

func (s *Store) registerAssets() {}
