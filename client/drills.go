package client

import (
	"context"
	"encoding/json"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
)

// RecordDrill records a drill's report in the workspace (the region that
// answers forwards it to the primary) and returns it as stored. The
// caller needs tandem.ActionWorkspaceWrite.
func (c *Client) RecordDrill(ctx context.Context, rec tandem.DrillRecord) (*tandem.DrillRecord, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	var out tandem.DrillRecord
	if err := c.do(ctx, "POST", "/drills", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Drills lists the workspace's recorded drills, newest first.
func (c *Client) Drills(ctx context.Context) ([]tandem.DrillRecord, error) {
	var out api.DrillList
	if err := c.do(ctx, "GET", "/drills", nil, &out); err != nil {
		return nil, err
	}
	return out.Drills, nil
}
