package config

import (
	"strings"
	"testing"
)

func TestCheckConsoleListen(t *testing.T) {
	for _, tc := range []struct {
		listen, header string
		ok             bool
	}{
		{"127.0.0.1:8080", "", true},
		{"127.0.0.53:8080", "", true},
		{"[::1]:8080", "", true},
		{"localhost:8080", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"[::]:8080", "", false},
		{"10.0.0.1:8080", "", false},
		{"shipmate.internal:8080", "", false},
		{"0.0.0.0:8080", "X-Forwarded-User", true},
		{"10.0.0.1:8080", "X-Forwarded-User", true},
	} {
		err := CheckConsoleListen(tc.listen, tc.header)
		switch {
		case tc.ok && err != nil:
			t.Errorf("CheckListen(%q, %q) = %v, want nil", tc.listen, tc.header, err)
		case !tc.ok && err == nil:
			t.Errorf("CheckListen(%q, %q) = nil, want a refusal", tc.listen, tc.header)
		case !tc.ok && !strings.Contains(err.Error(), "user_header"):
			t.Errorf("CheckListen(%q, %q) = %v, want it to point at user_header", tc.listen, tc.header, err)
		}
	}
	if err := CheckConsoleListen("8080", ""); err == nil {
		t.Error("CheckListen(\"8080\") = nil, want an error for an address without a port")
	}
}
