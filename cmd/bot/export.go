package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/adapters/web"
	"shipmate/internal/config"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// export prints run id's record (the run and its whole audit trail) as
// JSON. It reads the store file; when a running bot holds it, it asks that
// bot over HTTP instead. The export goes to log's audit trail (the bot's
// own, when asked over HTTP).
func export(cfg *config.Config, arg string, out io.Writer, log zerolog.Logger) error {
	id, err := runID(arg)
	if err != nil {
		return err
	}
	rec, err := readRecord(cfg, id, log)
	if err != nil {
		return err
	}
	return writeRecord(out, rec)
}

// exportIncident prints the incident record of rollback run id as
// Markdown, the same as the run's procedure posted: the rollback's and the
// rolled-back run's trails read the way export reads one.
func exportIncident(cfg *config.Config, arg string, out io.Writer, log zerolog.Logger) error {
	id, err := runID(arg)
	if err != nil {
		return err
	}
	rec, err := readRecord(cfg, id, log)
	if err != nil {
		return err
	}
	var orig *runbook.Record
	if rec.Run.RollbackOf != 0 {
		if orig, err = readRecord(cfg, rec.Run.RollbackOf, log); err != nil {
			return err
		}
	}
	md, err := runbook.IncidentMarkdown(rec, orig)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, md)
	return err
}

// runID reads a run id as users type it ("42" or "#42").
func runID(arg string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(arg, "#"), 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("run id %q: want a number such as 42", arg)
	}
	return id, nil
}

// readRecord reads run id's record from the store; when a running bot
// holds the store file, it asks that bot over HTTP instead, and the bot
// audits the read. A read of the store itself is audited on log.
func readRecord(cfg *config.Config, id uint64, log zerolog.Logger) (*runbook.Record, error) {
	var rec *runbook.Record
	direct := false
	err := readStore(cfg, func(st web.Runs, where string) (err error) {
		rec, err = st.Record(context.Background(), id)
		if errors.Is(err, runbook.ErrRunNotFound) {
			return fmt.Errorf("there is no run #%d in %s", id, where)
		}
		direct = true
		return err
	}, func(addr, key string) error {
		rec = new(runbook.Record)
		return getJSON(addr, key, fmt.Sprintf("/api/runs/%d", id), rec)
	})
	if err == nil && direct {
		runbook.LogAudit(log, runbook.AuditOfExport(rec.Run, cliUser(), time.Now().UTC(), "read from "+storeName(cfg)))
	}
	return rec, err
}

// cliUser is who runs bot export: the operating system's user.
func cliUser() runbook.User {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return runbook.User{Platform: "cli", ID: name}
}

// storeName names the store in the audit log, without the credentials an
// etcd URL may carry.
func storeName(cfg *config.Config) string {
	if isEtcd(cfg.Store) {
		return "etcd"
	}
	return cfg.Store
}

// readStore reads the store with local: the bbolt file, opened read-only,
// or etcd, which the running bots share rather than hold. When a running
// bot holds the file, it asks that bot's console with remote instead.
func readStore(cfg *config.Config, local func(st web.Runs, where string) error, remote func(addr, key string) error) error {
	if isEtcd(cfg.Store) {
		st, err := openEtcd(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		return local(st, st.Where())
	}
	st, err := store.Open(cfg.Store, store.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	switch {
	case err == nil:
		defer st.Close()
		return local(st, cfg.Store)
	case errors.Is(err, store.ErrInUse) && cfg.Chat.Web.Enabled:
		addr, key, err := readAddrFile(cfg.Store)
		if err != nil {
			addr = cfg.ConsoleListen()
		}
		if err := remote(addr, key); err != nil {
			return fmt.Errorf("%s is held by a running Shipmate, and asking it failed: %w", cfg.Store, err)
		}
		return nil
	}
	return err
}

// writeRecord prints rec as indented JSON.
func writeRecord(out io.Writer, rec *runbook.Record) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rec)
}

// getJSON reads path from the console of the bot at listen into v. Behind
// a proxy the console reads only for a signed-in user with a role: tools
// run on the bot's machine read with the key the bot recorded next to the
// store.
func getJSON(listen, key, path string, v any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, "http://"+listen+path, nil)
	if err != nil {
		return err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Text string `json:"text"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s: %s", resp.Status, e.Text)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// addrFile is where a running bot records the web console's address and
// read key.
func addrFile(store string) string { return store + ".addr" }

// writeAddrFile records the console's addr and key for tools on this
// machine (bot export): they find the console even on a port picked at
// start or on a listener of its own, and read through it with the key.
// Only the store's owner may read it, as only they may read the store.
func writeAddrFile(store, addr, key string) error {
	path := addrFile(store)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s\n%s\n", addr, key)
	return errors.Join(err, f.Close())
}

// readAddrFile returns what writeAddrFile recorded.
func readAddrFile(store string) (addr, key string, err error) {
	data, err := os.ReadFile(addrFile(store))
	if err != nil {
		return "", "", err
	}
	addr, key, _ = strings.Cut(strings.TrimSpace(string(data)), "\n")
	return strings.TrimSpace(addr), strings.TrimSpace(key), nil
}
