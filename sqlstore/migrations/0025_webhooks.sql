-- MLflow 3 model-registry webhooks (issue 19): one row per webhook, one
-- per event it subscribes to. sealed_secret is the secret as the workspace
-- key vault sealed it ('' for none). A deleted webhook's rows go.
-- Written by the webhook.* ops, kind webhooks.
CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id             TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    description            TEXT NOT NULL,
    url                    TEXT NOT NULL,
    status                 TEXT NOT NULL,
    sealed_secret          TEXT NOT NULL,
    creation_timestamp     BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_events (
    webhook_id TEXT NOT NULL,
    entity     TEXT NOT NULL,
    action     TEXT NOT NULL,
    PRIMARY KEY (webhook_id, entity, action)
);

CREATE INDEX IF NOT EXISTS webhook_events_by_event ON webhook_events (entity, action);
