package blobstore

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tandemml/tandem"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
)

// CheckDatastore opens the storage a datastore names with its credentials
// (already decrypted, server-side only) and lists at most one object under
// its prefix: it proves the storage is reachable and accepts the
// credentials. Errors are EUNAVAILABLE and never quote a credential; types
// tandem cannot reach yet are ENOTIMPLEMENTED.
func CheckDatastore(ctx context.Context, d *tandem.Datastore, creds map[string]string) error {
	var b *blob.Bucket
	var err error
	prefix := strings.Trim(d.Prefix, "/")
	switch d.Type {
	case tandem.DatastoreLocal:
		b, err = fileblob.OpenBucket(d.Path, nil)
	case tandem.DatastoreS3:
		b, err = openS3(ctx, d, creds)
	default:
		return tandem.Errorf(tandem.ENOTIMPLEMENTED, "checking a %s datastore is not implemented yet (local and s3 are)", d.Type)
	}
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "datastore storage cannot be opened: %s", scrubCreds(err.Error(), creds))
	}
	defer b.Close()
	if prefix != "" {
		prefix += "/"
	}
	_, err = b.List(&blob.ListOptions{Prefix: prefix}).Next(ctx)
	if err != nil && !errors.Is(err, io.EOF) {
		return tandem.Errorf(tandem.EUNAVAILABLE, "datastore storage refused the listing: %s", scrubCreds(err.Error(), creds))
	}
	return nil
}

func openS3(ctx context.Context, d *tandem.Datastore, creds map[string]string) (*blob.Bucket, error) {
	opts := []func(*awsconfig.LoadOptions) error{}
	if d.Region != "" {
		opts = append(opts, awsconfig.WithRegion(d.Region))
	}
	if creds["access_key_id"] != "" || creds["secret_access_key"] != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			creds["access_key_id"], creds["secret_access_key"], creds["session_token"])))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if d.Endpoint != "" {
			o.BaseEndpoint = aws.String(d.Endpoint)
			o.UsePathStyle = true
		}
	})
	return s3blob.OpenBucket(ctx, client, d.Bucket, nil)
}

// scrubCreds removes every credential value from msg.
func scrubCreds(msg string, creds map[string]string) string {
	for _, v := range creds {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "***")
		}
	}
	return msg
}
