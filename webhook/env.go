package webhook

import (
	"strconv"
	"strings"
	"time"
)

// FromEnv sets c's delivery settings from MLflow's own environment
// variables, so a server configured for MLflow's webhooks behaves the same
// under tandem: MLFLOW_WEBHOOK_ALLOWED_SCHEMES (comma-separated),
// MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS (true/1), MLFLOW_WEBHOOK_REQUEST_TIMEOUT
// (seconds), MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES and
// MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS. getenv is os.Getenv (a test's map).
func FromEnv(c Config, getenv func(string) string) Config {
	if v := getenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES"); v != "" {
		c.Schemes = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Schemes = append(c.Schemes, s)
			}
		}
	}
	switch strings.ToLower(getenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS")) {
	case "true", "1":
		c.AllowPrivate = true
	}
	if n, err := strconv.Atoi(getenv("MLFLOW_WEBHOOK_REQUEST_TIMEOUT")); err == nil && n > 0 {
		c.Timeout = time.Duration(n) * time.Second
	}
	if n, err := strconv.Atoi(getenv("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES")); err == nil && n >= 0 {
		if c.Policy == (Policy{}) {
			c.Policy = DefaultPolicy()
		}
		c.Policy.MaxRetries = n
	}
	if n, err := strconv.Atoi(getenv("MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS")); err == nil && n > 0 {
		c.Workers = n
	}
	return c
}
