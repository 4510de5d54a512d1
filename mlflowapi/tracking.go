package mlflowapi

import "context"

func (s *Server) routesTracking() {}

func (s *Server) bootstrapTracking(ctx context.Context) error { return nil }
