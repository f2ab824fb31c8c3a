// Package health asks a crm role whether it is alive (/healthz) and ready
// (/readyz). The host's agent asks it when it starts, restarts and checks a
// role, and status asks it from the planning side; it imports nothing of
// the planning side, so the agent links none of it.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Check asks a crm health endpoint (/healthz, /readyz). A refusal carries
// the reason crm gives in its JSON answer ("no healthy api backend",
// "database down"), so the error says why and not only that.
func Check(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		return nil
	}
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&body)
	if body.Reason != "" {
		return fmt.Errorf("%s: %s", res.Status, body.Reason)
	}
	return fmt.Errorf("GET %s: %s", url, res.Status)
}
