package assetyaml_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

func TestLoadEndpoint(t *testing.T) {
	ep, err := assetyaml.LoadEndpoint("ep.yml", []byte(`$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: iris-ep
description: iris classifier
auth_mode: key
traffic:
  blue: 90
  green: 10
mirror_traffic:
  shadow: 20
regions: [west, east]
tags: {team: ml}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &tandem.OnlineEndpoint{Name: "iris-ep", Description: "iris classifier", AuthMode: "key", Tags: map[string]string{"team": "ml"},
		Traffic: map[string]int{"blue": 90, "green": 10}, MirrorTraffic: map[string]int{"shadow": 20}, Regions: []string{"east", "west"}}
	if !reflect.DeepEqual(ep, want) {
		t.Fatalf("got %+v\nwant %+v", ep, want)
	}
	all, err := assetyaml.LoadEndpoint("ep.yml", []byte("name: iris-ep\nregions: all\n"))
	if err != nil || all.Regions != nil || all.AuthMode != tandem.EndpointAuthKey {
		t.Fatalf("regions all: %+v %v", all, err)
	}
}

func TestLoadDeployment(t *testing.T) {
	d, err := assetyaml.LoadDeployment("blue.yml", []byte(`$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: iris-ep
model: azureml:iris:1
instance_type: Standard_DS3_v2
instance_count: 2
request_settings:
  request_timeout_ms: 3000
  max_concurrent_requests_per_instance: 4
liveness_probe:
  period: 5
readiness_probe:
  initial_delay: 3
  failure_threshold: 6
environment_variables:
  MODE: fast
`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "blue" || d.Endpoint != "iris-ep" || d.Model != "azureml:iris:1" || d.InstanceCount != 2 ||
		d.RequestSettings != (tandem.RequestSettings{RequestTimeoutMS: 3000, MaxConcurrentRequestsPerInstance: 4}) ||
		d.LivenessProbe.Period != 5 || d.LivenessProbe.FailureThreshold != 30 || d.ReadinessProbe.InitialDelay != 3 ||
		d.ReadinessProbe.FailureThreshold != 6 || d.EnvironmentVariables["MODE"] != "fast" {
		t.Fatalf("got %+v", d)
	}
}

// TestEndpointYAMLErrors: every refusal names the file, and the line and
// column where the YAML can point at one.
func TestEndpointYAMLErrors(t *testing.T) {
	for _, c := range []struct {
		deployment bool
		yaml, want string
	}{
		{false, "name: iris-ep\nauth: key\n", "ep.yml:2:1: unknown field \"auth\" in online endpoint"},
		{false, "name: iris-ep\ntraffic:\n  blue: lots\n", "ep.yml:3:9: expected an integer"},
		{false, "name: iris-ep\ntraffic:\n  blue: 120\n", "ep.yml:3:9: traffic.blue = 120"},
		{false, "name: iris-ep\ntraffic: {blue: 50, green: 40}\n", "ep.yml: endpoint iris-ep: traffic sums to 90"},
		{false, "name: iris-ep\ncompute: k8s\n", "ep.yml:2:10: compute is not supported"},
		{false, "name: iris-ep\nregions: [all, east]\n", "ep.yml:2:11: regions: \"all\" is not a region name"},
		{false, "name: iris-ep\nregions: some\n", "ep.yml:2:10: regions: \"some\""},
		{false, "description: x\n", "ep.yml:1:1: online endpoint: name is required"},
		{false, "name: iris-ep\nname: again\n", "ep.yml:2:1: online endpoint: field \"name\" is repeated"},
		{false, "name: [a]\n", "ep.yml:1:7: expected a string"},
		{true, "name: blue\nendpoint_name: iris-ep\nmodel: iris:1\n", "dep.yml:3:8: model \"iris:1\": unknown form"},
		{true, "name: blue\nendpoint_name: iris-ep\nmodel: {path: ./model}\n", "dep.yml:3:8: an inline model is not supported"},
		{true, "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\nrequest_settings:\n  timeout: 5\n", "dep.yml:5:3: unknown field \"timeout\" in request_settings"},
		{true, "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\ncode_configuration: {code: ./src}\n", "dep.yml:4:21: code_configuration is not supported"},
		{true, "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\ninstance_count: 100\n", "dep.yml: deployment blue: instance_count 100"},
		{true, "name: blue\nmodel: azureml:iris:1\n", "dep.yml:1:1: online deployment: endpoint_name is required"},
		{true, "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\nliveness_probe: {period: x}\n", "dep.yml:4:26: expected an integer"},
		{true, "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\n---\nname: green\n", "dep.yml:4:1: one online deployment per file"},
	} {
		var err error
		if c.deployment {
			_, err = assetyaml.LoadDeployment("dep.yml", []byte(c.yaml))
		} else {
			_, err = assetyaml.LoadEndpoint("ep.yml", []byte(c.yaml))
		}
		if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant EINVALID containing %q", c.yaml, err, c.want)
		}
	}
}

// TestLoadDeploymentDataCollector: Azure's data_collector (with its
// quoted 'True'), defaults filled, and the parts tandem does not carry out
// refused where they stand.
func TestLoadDeploymentDataCollector(t *testing.T) {
	d, err := assetyaml.LoadDeployment("blue.yml", []byte(`name: blue
endpoint_name: iris-ep
model: azureml:iris:1
data_collector:
  sampling_rate: 0.25
  collections:
    model_inputs:
      enabled: 'True'
    model_outputs:
      enabled: false
`))
	if err != nil {
		t.Fatal(err)
	}
	dc := d.DataCollector
	if dc == nil || dc.Rate() != 0.25 || dc.RollingRate != "hour" || !dc.Collects(tandem.CollectionModelInputs) || dc.Collects(tandem.CollectionModelOutputs) {
		t.Fatalf("data_collector: %+v", dc)
	}
	d, err = assetyaml.LoadDeployment("blue.yml", []byte("name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\ndata_collector:\n  collections: {model_outputs: {enabled: true}}\n"))
	if err != nil || d.DataCollector.Rate() != 1 || !d.DataCollector.Collects(tandem.CollectionModelOutputs) {
		t.Fatalf("default sampling_rate: %+v %v", d.DataCollector, err)
	}
	base := "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\ndata_collector:\n"
	for _, c := range []struct{ yaml, want string }{
		{"  sampling_rate: 1.5\n", "dep.yml:5:18: data_collector.sampling_rate \"1.5\": a number between 0.0 and 1.0"},
		{"  sampling_rate: lots\n", "dep.yml:5:18: data_collector.sampling_rate \"lots\""},
		{"  rolling_rate: minute\n", "dep.yml: deployment blue: data_collector.rolling_rate \"minute\": tandem rolls request logs hourly"},
		{"  collections: {request: {enabled: true}}\n", "dep.yml:5:17: data_collector.collections.request: tandem collects model_inputs"},
		{"  collections: {model_inputs: {enabled: maybe}}\n", "dep.yml:5:41: expected true or false"},
		{"  collections: {model_inputs: {enabled: true, data: {name: x}}}\n", "data_collector.collections.model_inputs.data is not supported"},
		{"  request_logging: {capture_headers: [Authorization]}\n", "dep.yml:5:20: data_collector.request_logging is not supported"},
		{"  sample: 1\n", "dep.yml:5:3: unknown field \"sample\" in data_collector"},
	} {
		_, err := assetyaml.LoadDeployment("dep.yml", []byte(base+c.yaml))
		if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant EINVALID containing %q", c.yaml, err, c.want)
		}
	}
}
