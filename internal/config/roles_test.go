package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiscordRolesAreGroups(t *testing.T) {
	text := strings.Replace(valid, "  dev: {web: [alice]}",
		`  dev: {web: [alice]}
  release-manager: {discord: ["123456789012345678"], discord_roles: ["876543210987654321"]}`, 1)
	c, err := Parse([]byte(text), noVars)
	if err != nil {
		t.Fatal(err)
	}
	rm := c.Policy.Roles["release-manager"]
	if diff := cmp.Diff([]string{"123456789012345678"}, rm.Members["discord"]); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"876543210987654321"}, rm.Groups["discord"]); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}
