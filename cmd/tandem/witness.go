package main

import (
	"net"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/witness"
)

func newWitnessCmd() *cobra.Command {
	var listen, data, keyFile, tlsCert, tlsKey, tlsClientCA string
	cmd := &cobra.Command{
		Use:   "witness",
		Short: "Run the built-in witness that holds the leadership lease",
		Long: `Run the built-in witness: a small HTTP service, outside the regions, that holds each
workspace's leadership lease (who is primary, in which epoch, until when) and grants it by
compare-and-swap. Leases survive a restart (kept in --data, written atomically).

Every request must carry the shared key, read from --key-file or TANDEM_WITNESS_KEY.
Regions name the witness in workspace.yaml as witness: http://HOST:PORT.
For production, an etcd cluster (witness: etcd://host:2379,...) is the alternative.`,
		Example: `  echo "$(openssl rand -hex 32)" > /etc/tandem/witness.key
  tandem witness --listen 127.0.0.1:7700 --data /var/lib/tandem-witness --key-file /etc/tandem/witness.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := witness.LoadKey(keyFile)
			if err != nil {
				return err
			}
			log := newLogger(cmd)
			srv, err := witness.NewServer(witness.ServerOptions{Dir: data, Key: key, Logger: log})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return tandem.Errorf(tandem.EUNAVAILABLE, "witness: listen %s: %v", listen, err)
			}
			if ln, err = listenTLS(ln, tlsCert, tlsKey, tlsClientCA); err != nil { // tls.go
				return err
			}
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", envDefault("TANDEM_WITNESS_LISTEN", "127.0.0.1:7700"), "address to listen on (TANDEM_WITNESS_LISTEN)")
	f.StringVar(&data, "data", envDefault("TANDEM_WITNESS_DATA", "tandem-data/witness"), "directory for the lease state (TANDEM_WITNESS_DATA)")
	f.StringVar(&keyFile, "key-file", envDefault("TANDEM_WITNESS_KEY_FILE", ""), "file holding the shared key (else TANDEM_WITNESS_KEY)")
	f.StringVar(&tlsCert, "tls-cert", "", "serve https with this PEM certificate (re-read when it changes)")
	f.StringVar(&tlsKey, "tls-key", "", "the certificate's PEM key")
	f.StringVar(&tlsClientCA, "tls-client-ca", "", "require client certificates signed by this PEM CA")
	return cmd
}
