package tandem

import (
	"reflect"
	"testing"
)

func TestMaskGatewaySecret(t *testing.T) {
	got := MaskGatewaySecret(map[string]string{"api_key": "sk-abcdefghijkl", "short": "1234567", "eight": "12345678", "wide": "ééééééééé"})
	want := map[string]string{"api_key": "sk-...ijkl", "short": "***", "eight": "123...5678", "wide": "ééé...éééé"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("masked %v, want %v", got, want)
	}
}

func TestGatewaySecretChecks(t *testing.T) {
	for _, v := range []map[string]string{{"base_url": "x"}, {"api_key": "k", "model_list": "[]"}, {"api_base": "https://x"}, {"k": "a\x00"}} {
		if ErrorCode(ValidateGatewaySecretValue(v)) != EINVALID {
			t.Errorf("secret value %q accepted", v)
		}
	}
	if err := ValidateGatewaySecretValue(map[string]string{"aws_access_key_id": "a", "aws_secret_access_key": "b"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []map[string]string{{"base_url": "x"}, {"api_base": "http://x"}, {"api_base": "https://u:p@x"}, {"api_base": "https:///x"}} {
		if _, err := NormalizeGatewayAuthConfig(c); ErrorCode(err) != EINVALID {
			t.Errorf("auth config %q accepted (%v)", c, err)
		}
	}
	got, err := NormalizeGatewayAuthConfig(map[string]string{"api_base": "  ", "region": "eu"})
	if err != nil || !reflect.DeepEqual(got, map[string]string{"region": "eu"}) {
		t.Fatalf("blank api_base: %v %v", got, err)
	}
	got, err = NormalizeGatewayAuthConfig(map[string]string{"api_base": " https://llm.example.com/v1 "})
	if err != nil || got["api_base"] != "https://llm.example.com/v1" {
		t.Fatalf("api_base: %v %v", got, err)
	}
}

func TestGatewayEndpointChecks(t *testing.T) {
	for _, n := range []string{"chat", "a.b-c_1"} {
		if err := ValidateGatewayEndpointName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "a b", "a/b", "é"} {
		if ValidateGatewayEndpointName(n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
	if ValidateGatewayModelConfig(GatewayModelConfig{ModelDefinitionID: "d", LinkageType: "PRIMARY"}, "c") != nil ||
		ValidateGatewayModelConfig(GatewayModelConfig{ModelDefinitionID: "d"}, "c") == nil ||
		ValidateGatewayModelConfig(GatewayModelConfig{LinkageType: "FALLBACK"}, "c") == nil ||
		ValidateGatewayModelConfig(GatewayModelConfig{ModelDefinitionID: "d", LinkageType: "PRIMARY", Weight: -1}, "c") == nil {
		t.Fatal("model config checks")
	}
	if ValidateGatewayStrategies("REQUEST_BASED_TRAFFIC_SPLIT", &GatewayFallback{Strategy: "SEQUENTIAL", MaxAttempts: 3}) != nil ||
		ValidateGatewayStrategies("ROUND_ROBIN", nil) == nil || ValidateGatewayStrategies("", &GatewayFallback{MaxAttempts: -1}) == nil {
		t.Fatal("strategy checks")
	}
	if ValidateGatewayResourceType("scorer") != nil || ValidateGatewayResourceType("bogus") == nil {
		t.Fatal("resource type checks")
	}
}
