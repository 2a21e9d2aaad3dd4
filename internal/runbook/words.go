package runbook

// roleList names roles as alternatives: "tech-lead or release-manager".
func roleList(roles []string) string {
	out := ""
	for i, r := range roles {
		if i > 0 {
			out += " or "
		}
		out += r
	}
	return out
}

// grantedBy says where the configuration grants roles: "(roles.deployer
// in Shipmate's configuration)".
func grantedBy(roles ...string) string {
	keys := make([]string, len(roles))
	for i, r := range roles {
		keys[i] = "roles." + r
	}
	return " (" + roleList(keys) + " in Shipmate's configuration)"
}
