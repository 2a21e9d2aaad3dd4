package discord

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// api_url may sit below a path (a proxy's): Discord's endpoints go under
// it, with their own path kept.
func TestAPIURLKeepsItsPath(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Host+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	for _, tc := range []struct{ apiURL, want string }{
		{srv.URL, host + " /api/v9/users/@me"},
		{srv.URL + "/", host + " /api/v9/users/@me"},
		{srv.URL + "/discord/", host + " /discord/api/v9/users/@me"},
		{srv.URL + "/edge/discord", host + " /edge/discord/api/v9/users/@me"},
	} {
		c := Config{BotToken: "t", ApplicationID: "1", APIURL: tc.apiURL}
		if err := c.Validate(); err != nil {
			t.Fatalf("api_url %s: %v", tc.apiURL, err)
		}
		client := apiClient(nil, tc.apiURL)
		mu.Lock()
		got = nil
		mu.Unlock()
		resp, err := client.Get("https://discord.com/api/v9/users/@me")
		if err != nil {
			t.Fatalf("api_url %s: %v", tc.apiURL, err)
		}
		resp.Body.Close()
		mu.Lock()
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("api_url %s: the server saw %q, want %q", tc.apiURL, got, tc.want)
		}
		mu.Unlock()
	}
}
