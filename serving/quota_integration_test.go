package serving_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/storetest"
)

// quotaRegion is a region serving the endpoints API with a quota of 3
// scoring instances in east (regions: the workspace's; nil: east alone),
// and registered model iris version 1 to deploy.
func quotaRegion(t *testing.T, regions []string) (*client.Client, *region.Region) {
	t.Helper()
	ctx := context.Background()
	r, err := region.Open(ctx, region.Config{Name: "east", MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	svc := serving.New(serving.Config{Region: "east", Store: r.Store, Blobs: r.Blobs, Vault: r.Vault, CacheDir: t.TempDir(),
		Reconcile: time.Hour, Regions: regions, Quota: tandem.EndpointQuota{"east": 3}})
	mux := http.NewServeMux()
	mux.Handle(serving.APIPrefix, svc.APIHandler())
	mux.Handle(serving.APIPrefix+"/", svc.APIHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Workspace: "quota", Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Store.CreateRegisteredModel(ctx, "iris", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Store.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "iris", Source: "s3://bucket/model"}); err != nil {
		t.Fatal(err)
	}
	return c, r
}

// TestEndpointInstanceQuota: with a quota of 3 scoring instances in east
// (none in west), deployments that fit are written; one that would take
// east to 4 is refused with an invalid error and nothing is written; a
// placement that moves an endpoint into east past the quota is refused
// too; scaling down is always allowed.
func TestEndpointInstanceQuota(t *testing.T) {
	ctx := context.Background()
	c, _ := quotaRegion(t, []string{"east", "west"})
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	refused := func(err error, want string) {
		t.Helper()
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want invalid with %q", err, want)
		}
	}
	_, err = c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "both"}, "create")
	must(err)
	_, err = c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "westonly", Regions: []string{"west"}}, "create")
	must(err)
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "both", Name: "blue", Model: "azureml:iris:1", InstanceCount: 2}, "create")
	must(err)
	// West has no limit: ten instances there are fine.
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "westonly", Name: "big", Model: "azureml:iris:1", InstanceCount: 10}, "create")
	must(err)
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "both", Name: "green", Model: "azureml:iris:1", InstanceCount: 2}, "create")
	refused(err, "online deployment both/green would run 4 scoring instances in region east, over its quota of 3")
	if _, err := c.GetDeployment(ctx, "both", "green"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("the refused deployment exists: %v", err)
	}
	// The same deployment with west only in east's place fits.
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "both", Name: "green", Model: "azureml:iris:1", InstanceCount: 2, InstanceCounts: map[string]int{"east": 1}}, "create")
	must(err)
	// Placing westonly in east too would add its ten instances there.
	_, err = c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "westonly"}, "update")
	refused(err, "online endpoint westonly would run 13 scoring instances in region east")
	ep, err := c.GetEndpoint(ctx, "westonly")
	must(err)
	if len(ep.Regions) != 1 || ep.Regions[0] != "west" {
		t.Fatalf("the refused placement was written: %+v", ep)
	}
	// Scaling blue up is refused; down is fine.
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "both", Name: "blue", Model: "azureml:iris:1", InstanceCount: 3}, "update")
	refused(err, "over its quota of 3")
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "both", Name: "blue", Model: "azureml:iris:1", InstanceCount: 1}, "update")
	must(err)
}

// TestEndpointInstanceQuotaConcurrent: twelve deployments of one instance
// each, written at once against a quota of 3, leave exactly three: the
// quota is checked inside each write's transaction.
func TestEndpointInstanceQuotaConcurrent(t *testing.T) {
	ctx := context.Background()
	c, _ := quotaRegion(t, nil)
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "ep-quota"}, "create"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "ep-quota", Name: fmt.Sprintf("dep%d", i), Model: "azureml:iris:1"}, "create")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case tandem.ErrorCode(err) != tandem.EINVALID:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	ds, err := c.ListDeployments(ctx, "ep-quota")
	if err != nil {
		t.Fatal(err)
	}
	if ok != 3 || len(ds) != 3 {
		t.Fatalf("%d writes passed, %d deployments stored; want 3 and 3", ok, len(ds))
	}
}

// TestAppliedQuotaWins: the quotas tandem apply wrote replace the
// region's file's at once (no restart): raised, a deployment the file's
// quota refuses fits; lowered in one region only, that region's count is
// checked; removed, the file's quota holds again.
func TestAppliedQuotaWins(t *testing.T) {
	ctx := context.Background()
	c, r := quotaRegion(t, []string{"east", "west"})
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "both"}, "create"); err != nil {
		t.Fatal(err)
	}
	deploy := func(name string, n int) error {
		_, err := c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "both", Name: name, Model: "azureml:iris:1", InstanceCount: n}, "create")
		return err
	}
	if err := deploy("big", 4); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("4 instances under the file's quota of 3: %v", err)
	}
	if err := r.Store.PutQuotaSettings(ctx, tandem.QuotaSettings{EndpointInstances: 6, Regions: map[string]tandem.QuotaRegion{"west": {EndpointInstances: 5}}}); err != nil {
		t.Fatal(err)
	}
	if err := deploy("big", 4); err != nil {
		t.Fatalf("4 instances under an applied quota of 6: %v", err)
	}
	if err := deploy("more", 2); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "region west, over its quota of 5") {
		t.Fatalf("6 instances in west, whose own quota is 5: %v", err)
	}
	if err := r.Store.PutQuotaSettings(ctx, tandem.QuotaSettings{EndpointInstances: -1}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("a negative quota: %v", err)
	}
	if err := r.Store.DeleteQuotaSettings(ctx); err != nil {
		t.Fatal(err)
	}
	if err := deploy("one", 1); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "over its quota of 3") {
		t.Fatalf("the file's quota again: %v", err)
	}
}
