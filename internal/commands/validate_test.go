package commands

import (
	"strings"
	"testing"
)

func TestValidateVersion(t *testing.T) {
	valid := []string{"v1.2.3", "1.0.0-rc.1+build.5", "sha256:abcd", "release/2024-01", "a", "build_7", "img@sha256:ff", strings.Repeat("9", 128)}
	for _, v := range valid {
		if err := ValidateVersion(v); err != nil {
			t.Errorf("ValidateVersion(%q) = %v, want nil", v, err)
		}
	}
	invalid := []string{"", "v1;rm -rf /", "$(x)", "`x`", `"v1"`, "'v1'", "v1 2", "v1\t", "a|b", "a&b", "a<b", "a>b", "a*", "a?",
		"a!", "{a}", "[a]", `a\b`, "a=b", "a%b", "a#b", "a~b", "a,b", "ä", "-v1", ".v1", "/v1", "v1/../x", strings.Repeat("9", 129)}
	for _, v := range invalid {
		if err := ValidateVersion(v); err == nil {
			t.Errorf("ValidateVersion(%q) = nil, want an error", v)
		}
	}
}

func TestValidateApp(t *testing.T) {
	valid := []string{"demo", "billing-api", "a", "a_1", "x" + strings.Repeat("1", 62), "to"}
	for _, a := range valid {
		if err := ValidateApp(a); err != nil {
			t.Errorf("ValidateApp(%q) = %v, want nil", a, err)
		}
	}
	invalid := []string{"", "Demo", "1demo", "-demo", "_demo", "de.mo", "de mo", "démo", "x" + strings.Repeat("1", 63),
		"all", "status", "history", "whereis", "lock", "unlock", "unfreeze", "cancel", "approve", "reject", "help"}
	for _, a := range invalid {
		if err := ValidateApp(a); err == nil {
			t.Errorf("ValidateApp(%q) = nil, want an error", a)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"prod", "prod", 0}, {"prd2", "prd", 1}, {"prdo", "prod", 1},
		{"stauts", "status", 1}, {"xyz", "dev", 3}, {"", "abc", 3}, {"é", "e", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
