package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySet is the provider's JWKS, cached; it implements go-oidc's KeySet.
// A token whose key id is not cached makes it fetch the set again, at most
// once per RefetchEvery.
type keySet struct {
	url string
	hc  *http.Client

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // last fetch attempt
}

func newKeySet(url string, hc *http.Client) *keySet { return &keySet{url: url, hc: hc} }

// refresh fetches the key set (the caller decides when).
func (k *keySet) refresh(ctx context.Context, now time.Time) error {
	k.mu.Lock()
	k.fetched = now
	k.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	resp, err := k.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", k.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("GET %s: %w", k.url, err)
	}
	k.mu.Lock()
	k.keys = set.Keys
	k.mu.Unlock()
	return nil
}

func (k *keySet) lookup(kid string) []jose.JSONWebKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []jose.JSONWebKey
	for _, key := range k.keys {
		if kid == "" || key.KeyID == kid {
			out = append(out, key)
		}
	}
	return out
}

// VerifySignature checks jwt's signature with a cached key of its key id,
// refetching the set (bounded) when no cached key has that id.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, allAlgs)
	if err != nil {
		return nil, errors.New("oidc: malformed jwt")
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("oidc: signature: exactly one is required")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := k.lookup(kid)
	if len(keys) == 0 {
		k.mu.Lock()
		due := time.Since(k.fetched) >= RefetchEvery
		k.mu.Unlock()
		if due {
			if err := k.refresh(ctx, time.Now()); err != nil {
				return nil, fmt.Errorf("oidc: unknown key id; refetching the keys: %w", err)
			}
			keys = k.lookup(kid)
		}
	}
	for _, key := range keys {
		if payload, err := jws.Verify(&key); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("oidc: signature does not verify")
}

// allAlgs are the asymmetric algorithms go-jose may parse; go-oidc then
// holds the token to the ones the provider advertises.
var allAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
