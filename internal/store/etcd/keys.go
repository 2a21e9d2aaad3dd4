package etcdstore

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// keys lays out Shipmate's keys under a prefix p:
//
//	p/meta/schema                  schema version
//	p/seq/runs                     the last run id handed out
//	p/runs/ID                      Run JSON
//	p/events/ID                    the last event seq of run ID
//	p/events/ID/SEQ                Event JSON
//	p/active/ID                    "" for runs not yet terminal
//	p/by_app/APP/INV               env
//	p/by_app_env/APP/ENV/INV       ""
//	p/run_locks/APP/ENV            id of the active run
//	p/holds/APP/ENV                Lock JSON (APP may be "all")
//	p/deployed/APP/ENV             Deployed JSON
//	p/succeeded/APP/ENV/VERSION    id of a deploy that succeeded
//	p/idem/KEY                     expiry (unix nanoseconds)
//	p/refs/ID/NAME                 a chat adapter's reference
//	p/leader/LEASE                 a replica's name, while it leads or campaigns
//	p/outbox/run/ID/SEQ            an outbox entry of event SEQ of run ID (outboxRecord JSON)
//	p/outbox/lock/RANDOM           an outbox entry of a lock placed or lifted
//	p/outbox_head                  the greatest key (below p/outbox/) the last transaction writing entries wrote
//	p/cursors/NAME                 the outbox position a webhook endpoint was given
//
// IDs and SEQs are 20 zero-padded digits, so key order is numeric order;
// INV is MaxUint64-ID in the same form, so that an index lists the newest
// run first and a limited range read needs no sort. Names are path-escaped:
// "/" in an app or a version cannot run into the next part.
type keys struct{ p string }

func num(n uint64) string  { return fmt.Sprintf("%020d", n) }
func inv(id uint64) string { return num(math.MaxUint64 - id) }
func seg(s string) string  { return url.PathEscape(s) }

// idOfInv reads the id at the end of an index key.
func idOfInv(k []byte) (uint64, bool) {
	s := string(k)
	n, err := strconv.ParseUint(s[strings.LastIndexByte(s, '/')+1:], 10, 64)
	return math.MaxUint64 - n, err == nil
}

// idOf reads the id at the end of a runs or active key.
func idOf(k []byte) (uint64, bool) {
	s := string(k)
	n, err := strconv.ParseUint(s[strings.LastIndexByte(s, '/')+1:], 10, 64)
	return n, err == nil
}

func (k keys) schema() string                 { return k.p + "/meta/schema" }
func (k keys) leader() string                 { return k.p + "/leader" }
func (k keys) seq() string                    { return k.p + "/seq/runs" }
func (k keys) runs() string                   { return k.p + "/runs/" }
func (k keys) run(id uint64) string           { return k.runs() + num(id) }
func (k keys) evSeq(id uint64) string         { return k.p + "/events/" + num(id) }
func (k keys) events(id uint64) string        { return k.evSeq(id) + "/" }
func (k keys) activeAll() string              { return k.p + "/active/" }
func (k keys) active(id uint64) string        { return k.activeAll() + num(id) }
func (k keys) byApp(app string) string        { return k.p + "/by_app/" + seg(app) + "/" }
func (k keys) byAppEnvAll() string            { return k.p + "/by_app_env/" }
func (k keys) refs(id uint64) string          { return k.p + "/refs/" + num(id) + "/" }
func (k keys) ref(id uint64, n string) string { return k.refs(id) + seg(n) }
func (k keys) idemAll() string                { return k.p + "/idem/" }
func (k keys) idem(key string) string         { return k.idemAll() + seg(key) }
func (k keys) holdsAll() string               { return k.p + "/holds/" }
func (k keys) runLocksAll() string            { return k.p + "/run_locks/" }
func (k keys) deployedAll() string            { return k.p + "/deployed/" }
func (k keys) outbox() string                 { return k.p + "/outbox/" }
func (k keys) outboxHead() string             { return k.p + "/outbox_head" }
func (k keys) cursorsAll() string             { return k.p + "/cursors/" }
func (k keys) cursor(name string) string      { return k.cursorsAll() + seg(name) }

func (k keys) byAppEnv(app, env string) string {
	return k.byAppEnvAll() + seg(app) + "/" + seg(env) + "/"
}
func (k keys) runLock(app, env string) string  { return k.runLocksAll() + seg(app) + "/" + seg(env) }
func (k keys) hold(app, env string) string     { return k.holdsAll() + seg(app) + "/" + seg(env) }
func (k keys) deployed(app, env string) string { return k.deployedAll() + seg(app) + "/" + seg(env) }
func (k keys) succeeded(app, env, version string) string {
	return k.p + "/succeeded/" + seg(app) + "/" + seg(env) + "/" + seg(version)
}

// appEnvOf splits a run_locks key back into app and env.
func (k keys) appEnvOf(key []byte) (app, env string, ok bool) {
	rest, found := strings.CutPrefix(string(key), k.runLocksAll())
	if !found {
		return "", "", false
	}
	a, e, found := strings.Cut(rest, "/")
	app, err1 := url.PathUnescape(a)
	env, err2 := url.PathUnescape(e)
	return app, env, found && err1 == nil && err2 == nil
}
