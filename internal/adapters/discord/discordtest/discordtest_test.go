package discordtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, s *Server, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.URL+"/api/v9"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// Injected faults answer 429 with a retry_after, or 500, and do nothing:
// no message is posted. Calls are recorded with what they were answered.
func TestInjectedFaults(t *testing.T) {
	s := New(t)
	s.InjectFaults(Faults{RateLimit: 1})
	code, out := post(t, s, "/channels/C1/messages", `{"content":"one"}`)
	if after, _ := out["retry_after"].(float64); code != http.StatusTooManyRequests || after <= 0 || after > 0.501 {
		t.Fatalf("with every call rate limited: %d %v, want 429 with a retry_after of up to 0.5", code, out)
	}
	s.InjectFaults(Faults{ServerError: 1})
	if code, out := post(t, s, "/channels/C1/messages", `{"content":"one"}`); code != http.StatusInternalServerError {
		t.Fatalf("with every call failing: %d %v, want 500", code, out)
	}
	if ids := s.MessagesWith("one"); len(ids) != 0 {
		t.Fatalf("refused posts made messages %v", ids)
	}
	s.InjectFaults(Faults{})
	if code, _ := post(t, s, "/channels/C1/messages", `{"content":"one"}`); code != http.StatusOK {
		t.Fatalf("with faults off: %d, want 200", code)
	}
	if ids := s.MessagesWith("one"); len(ids) != 1 || ids[0] != "M1" {
		t.Fatalf("messages = %v, want [M1]", ids)
	}
	var got []int
	for _, c := range s.Calls("POST", "/channels/") {
		got = append(got, c.Status)
	}
	if len(got) != 3 || got[0] != 429 || got[1] != 500 || got[2] != 200 {
		t.Fatalf("recorded statuses %v, want [429 500 200]", got)
	}
	if rl, se := s.Injected(); rl != 1 || se != 1 {
		t.Fatalf("Injected() = %d, %d, want 1, 1", rl, se)
	}

	// A share: about that many of many calls.
	s.InjectFaults(Faults{RateLimit: 0.1, ServerError: 0.1, Seed: 7})
	for range 1000 {
		post(t, s, "/channels/C1/messages", `{"content":"two"}`)
	}
	rl, se := s.Injected()
	rl, se = rl-1, se-1
	if rl < 60 || rl > 140 || se < 60 || se > 140 {
		t.Errorf("of 1000 calls %d were rate limited and %d failed, want about 100 each", rl, se)
	}
	if n := len(s.MessagesWith("two")); n != 1000-rl-se {
		t.Errorf("%d messages posted, want %d", n, 1000-rl-se)
	}
}
