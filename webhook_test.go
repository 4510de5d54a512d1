package tandem

import (
	"net/netip"
	"testing"
)

// TestWebhookAddrAllowed: only public unicast addresses, also when an
// IPv6 transition form carries a private IPv4 address.
func TestWebhookAddrAllowed(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.3.4": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "224.0.0.1": false, "255.255.255.255": false, "198.18.0.1": false,
		"::1": false, "::": false, "fe80::1": false, "fc00::1": false, "::ffff:127.0.0.1": false,
		"::ffff:8.8.8.8": true, "2002:a00:1::": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b::808:808": true,
	} {
		if got := WebhookAddrAllowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("WebhookAddrAllowed(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestWebhookValidation: MLflow's name rule and event pairs, in its words.
func TestWebhookValidation(t *testing.T) {
	for name, ok := range map[string]bool{"a": true, "ci-trigger.v2_x": true, "A9": true, "-a": false, "a-": false, "": false,
		"a b": false, "a/b": false} {
		if got := ValidateWebhookName(name) == nil; got != ok {
			t.Errorf("ValidateWebhookName(%q) ok = %v, want %v", name, got, ok)
		}
	}
	long := ""
	for range 64 {
		long += "a"
	}
	if ValidateWebhookName(long) == nil || ValidateWebhookName(long[:63]) != nil {
		t.Error("the 63-character limit")
	}
	err := ValidateWebhookEvent(WebhookEvent{Entity: WebhookModelVersionTag, Action: WebhookCreated})
	if want := "Invalid action 'created' for entity 'model_version_tag'. Valid actions are: ['deleted', 'set']"; ErrorMessage(err) != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if err := ValidateWebhookEvents(nil); ErrorMessage(err) != "Webhook events must be a non-empty list of WebhookEvent objects: []." {
		t.Errorf("empty events: %v", err)
	}
	for s, want := range map[string]string{"a": "'a'", "it's": `"it's"`, `a'"b`: `'a\'"b'`, "x\ny": `'x\ny'`} {
		if got := PyRepr(s); got != want {
			t.Errorf("PyRepr(%q) = %s, want %s", s, got, want)
		}
	}
}
