package mlflowapi

func (s *Server) routesRegistry() {}
