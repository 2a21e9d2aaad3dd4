package chat

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// Summaries go to the channel of the run's environment, or of its app and
// environment; the single announce channel of older configurations stays
// the default of its environment.
func TestAnnounceRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		want map[string]string // summary → channel
	}{
		{
			name: "per environment and app",
			opt: Options{AnnounceChannel: "COLD", AnnounceEnv: "production", Announce: Announce{
				Envs: map[string]string{"production": "CPROD", "staging": "CSTG"},
				Apps: map[string]map[string]string{"checkout": {"production": "CCHK"}},
			}},
			want: map[string]string{"#1 demo": "CSTG", "#2 demo": "CPROD", "#3 demo": "CCHK", "#4 demo": "CSTG"},
		},
		{
			name: "the announce channel alone",
			opt:  Options{AnnounceChannel: "COLD", AnnounceEnv: "production"},
			want: map[string]string{"#2 demo": "COLD", "#3 demo": "COLD"},
		},
		{
			name: "an app's own channel besides the default",
			opt: Options{AnnounceChannel: "COLD", AnnounceEnv: "production", Announce: Announce{
				Apps: map[string]map[string]string{"checkout": {"staging": "CCHKSTG"}},
			}},
			want: map[string]string{"#2 demo": "COLD", "#3 demo": "COLD", "#4 demo": "CCHKSTG"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			c, _ := newTestChat(t, f, tc.opt)
			ctx := context.Background()
			runs := []struct{ app, env string }{{"demo", "staging"}, {"demo", "production"}, {"checkout", "production"},
				{"checkout", "staging"}, {"demo", "development"}}
			for i, r := range runs {
				m := run(uint64(i+1), r.env, "requested", "")
				m.App = r.app
				if _, err := c.Post(ctx, "CRUNS", m); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]string{}
			for _, p := range f.Calls("post", "") {
				if s, ok := strings.CutPrefix(p.shows, "summary: "); ok {
					f.mu.Lock()
					got[strings.TrimSuffix(s, " requested")] = f.in[p.id]
					f.mu.Unlock()
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("summaries in %v, want %v", got, tc.want)
			}
		})
	}
}
