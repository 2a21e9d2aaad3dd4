package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
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
		if rec, err = exportHTTP(addr, cfg.Chat.Web.UserHeader, id); err != nil {
			return fmt.Errorf("%s is held by a running Shipmate, and asking it failed: %w", cfg.Store, err)
		}
	default:
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rec)
}

// exportHTTP asks the bot at listen for run id's record. Behind a proxy the
// console reads only for a signed-in user: export, run on the bot's own
// machine with its configuration, signs in as "export:<login>" directly.
func exportHTTP(listen, userHeader string, id uint64) (*runbook.Record, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/api/runs/%d", listen, id), nil)
	if err != nil {
		return nil, err
	}
	if userHeader != "" {
		who := "export"
		if u, err := user.Current(); err == nil && u.Username != "" {
			who += ":" + u.Username
		}
		req.Header.Set(userHeader, who)
	}
	resp, err := c.Do(req)
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
