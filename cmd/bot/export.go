package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"shipmate/internal/config"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// export prints run id's record (the run and its whole audit trail) as
// JSON. It reads the store file; when a running bot holds it, it asks that
// bot over HTTP instead.
func export(cfg *config.Config, arg string, out io.Writer) error {
	id, err := strconv.ParseUint(strings.TrimPrefix(arg, "#"), 10, 64)
	if err != nil || id == 0 {
		return fmt.Errorf("run id %q: want a number such as 42", arg)
	}
	ctx := context.Background()
	var rec *runbook.Record
	st, err := store.Open(cfg.Store, store.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	switch {
	case err == nil:
		defer st.Close()
		rec, err = st.Record(ctx, id)
		if errors.Is(err, runbook.ErrRunNotFound) {
			return fmt.Errorf("there is no run #%d in %s", id, cfg.Store)
		}
		if err != nil {
			return err
		}
	case errors.Is(err, store.ErrInUse) && cfg.Chat.Web.Enabled:
		addr := cfg.Listen
		if b, err := os.ReadFile(addrFile(cfg.Store)); err == nil {
			addr = strings.TrimSpace(string(b))
		}
		if rec, err = exportHTTP(addr, id); err != nil {
			return fmt.Errorf("%s is held by a running Shipmate, and asking it failed: %w", cfg.Store, err)
		}
	default:
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rec)
}

func exportHTTP(listen string, id uint64) (*runbook.Record, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/api/runs/%d", listen, id))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Text string `json:"text"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return nil, fmt.Errorf("%s: %s", resp.Status, e.Text)
	}
	var rec runbook.Record
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		return nil, err
	}
	return &rec, nil
}
