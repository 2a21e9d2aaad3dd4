package discord

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// A request that cannot reach api_url fails naming api_url's host, not
// discord.com, whose URL discordgo asked for: an operator reading the log
// line looks where the bot really sent it.
func TestAPIURLNamedWhenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	client := apiClient(nil, "http://"+dead+"/edge")
	resp, err := client.Get("https://discord.com/api/v9/users/@me")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a request to %s answered", dead)
	}
	if want := "sent to http://" + dead + "/edge/api/v9/users/@me"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Errorf("error %q no longer unwraps to the dial's *net.OpError", err)
	}
}
