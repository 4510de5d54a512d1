package mlflowapi

func (s *Server) routesArtifacts() {}
