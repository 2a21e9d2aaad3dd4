package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"shipmate/internal/adapters/web"
	"shipmate/internal/runbook"
)

// listen builds the HTTP servers and binds their listeners: the main one
// on listen with mux, and the web console (when webChat is not nil) on the
// main one or, with chat.web.listen, on a server of its own, so that the
// main listener can be public for the chat services and probes while the
// console is not. It records where bot export finds the console.
func (m *Main) listen(mux *http.ServeMux, webChat *web.Chat) error {
	cfg := m.cfg
	m.srv = newServer(mux)
	if webChat != nil {
		m.readKey = rand.Text()
		console := web.New(m.engine, m.store, webChat, web.Options{
			UserHeader: cfg.Chat.Web.UserHeader, TrustedProxies: cfg.Chat.Web.TrustedProxies,
			Users: webUsers(&cfg.Policy), ReadKey: m.readKey, Log: m.log,
		})
		consoleSrv := m.srv
		if cfg.Chat.Web.Listen == "" {
			mux.Handle("/", console)
		} else {
			m.console = newServer(console)
			consoleSrv = m.console
		}
		// The console's open streams end when its server shuts down.
		consoleSrv.RegisterOnShutdown(webChat.Close)
	}
	ln, err := listenLimited(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.ln = ln
	if m.console != nil {
		if m.consoleLn, err = listenLimited(cfg.Chat.Web.Listen); err != nil {
			_ = ln.Close()
			return fmt.Errorf("chat.web.listen: %w", err)
		}
	}
	if isEtcd(cfg.Store) {
		return nil // bot export reads etcd itself: nothing holds it
	}
	if err := writeAddrFile(cfg.Store, m.ConsoleAddr(), m.readKey); err != nil {
		m.log.Warn().Err(err).Msg("cannot record the console's address next to the store")
	}
	return nil
}

// serve serves the main listener and the console's own, if any, until
// they are shut down; each one's end is sent on errs.
func (m *Main) serve(errs chan<- error) {
	go func() { errs <- m.srv.Serve(m.ln) }()
	ev := m.log.Info().Str("addr", m.Addr())
	if m.console != nil {
		go func() { errs <- m.console.Serve(m.consoleLn) }()
		ev = ev.Str("console", m.ConsoleAddr())
	}
	ev.Str("store", m.store.Where()).Msg("listening")
}

// shutdown stops the servers gracefully, ending the console's streams.
// Connections still open when ctx ends are left to Close.
func (m *Main) shutdown(ctx context.Context) error {
	servers := []*http.Server{m.srv}
	if m.console != nil {
		servers = append(servers, m.console)
	}
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ConsoleAddr is the address the web console listens on: its own
// listener's, or the main one's.
func (m *Main) ConsoleAddr() string {
	if m.consoleLn != nil {
		return m.consoleLn.Addr().String()
	}
	return m.Addr()
}

// webUsers lists the people a local console offers, from roles.*.web.
func webUsers(p *runbook.Policy) []string {
	var users []string
	add := func(ids []string) {
		for _, u := range ids {
			if !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	for _, role := range p.Roles {
		add(role.Members[web.Platform])
		for _, name := range role.People {
			add(p.People[name].IDs[web.Platform])
		}
	}
	slices.Sort(users)
	return users
}
