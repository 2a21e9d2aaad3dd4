package config

import (
	"maps"
	"slices"
	"strings"

	"shipmate/internal/runbook"
)

const (
	groupsSuffix = "_groups"
	rolesSuffix  = "_roles"
	// peopleKey in a role names people, with every identity they have.
	peopleKey = "people"
)

// buildPeople checks the people: block: each person once, with their
// identities, and no identity given to two people.
func buildPeople(d *decoder, raw *rawConfig, c *Config) error {
	owner := map[string]string{} // "platform id" → the path that gives it
	for _, p := range raw.People {
		path := join("people", p.Key)
		if !nameRE.MatchString(p.Key) {
			return d.errorf(path, "invalid person name (%s)", nameRule)
		}
		person := runbook.Person{IDs: map[string][]string{}}
		for _, ids := range p.Value {
			kpath := join(path, ids.Key)
			if !platformRE.MatchString(ids.Key) {
				return d.errorf(kpath, "unknown key (want a chat platform such as web, slack or discord)")
			}
			if len(ids.Value) == 0 {
				return d.errorf(kpath, "at least one id is required")
			}
			for i, id := range ids.Value {
				ipath := kpath
				if len(ids.Value) > 1 {
					ipath = index(kpath, i)
				}
				if strings.TrimSpace(id) == "" {
					return d.errorf(ipath, "must not be empty")
				}
				if err := checkChatID(d, ipath, ids.Key, id, false); err != nil {
					return err
				}
				k := ids.Key + " " + id
				if other, taken := owner[k]; taken {
					return d.errorf(ipath, "%s id %q is also given at %s: one identity is one person", ids.Key, id, other)
				}
				owner[k] = ipath
			}
			person.IDs[ids.Key] = append(person.IDs[ids.Key], ids.Value...)
		}
		if len(person.IDs) == 0 {
			return d.errorf(path, "give at least one identity, such as {web: %s, slack: U012345}", p.Key)
		}
		c.Policy.People[p.Key] = person
	}
	return nil
}

func buildRoles(d *decoder, raw *rawConfig, c *Config) error {
	for _, r := range raw.Roles {
		path := join("roles", r.Key)
		if !nameRE.MatchString(r.Key) {
			return d.errorf(path, "invalid role name (%s)", nameRule)
		}
		if r.Key == runbook.RoleRequester {
			return d.errorf(path, "%q is reserved: in rollback it means whoever requested the deployment", runbook.RoleRequester)
		}
		role := runbook.Role{Members: map[string][]string{}, Groups: map[string][]string{}}
		for _, p := range r.Value {
			kpath := join(path, p.Key)
			if p.Key == peopleKey {
				if err := checkPeople(d, c, kpath, p.Value); err != nil {
					return err
				}
				role.People = append(role.People, p.Value...)
				continue
			}
			platform, isGroups := strings.CutSuffix(p.Key, groupsSuffix)
			if !isGroups {
				// Discord calls its groups roles: discord_roles.
				platform, isGroups = strings.CutSuffix(p.Key, rolesSuffix)
			}
			if !platformRE.MatchString(platform) {
				return d.errorf(kpath, "unknown key (want people, a chat platform such as web or slack, or <platform>%s)", groupsSuffix)
			}
			for i, id := range p.Value {
				if id == "" {
					return d.errorf(index(kpath, i), "must not be empty")
				}
				if err := checkChatID(d, index(kpath, i), platform, id, isGroups); err != nil {
					return err
				}
			}
			if isGroups {
				role.Groups[platform] = append(role.Groups[platform], p.Value...)
			} else {
				role.Members[platform] = append(role.Members[platform], p.Value...)
			}
		}
		c.Policy.Roles[r.Key] = role
	}
	return nil
}

// checkPeople checks that each name in a role's people: list is a person.
func checkPeople(d *decoder, c *Config, path string, names []string) error {
	for i, n := range names {
		if _, ok := c.Policy.People[n]; !ok {
			return d.errorf(index(path, i), "unknown person %q (%s)", n, knownPeople(c))
		}
	}
	return nil
}

func knownPeople(c *Config) string {
	if len(c.Policy.People) == 0 {
		return "define people under people:"
	}
	return "people: lists " + strings.Join(slices.Sorted(maps.Keys(c.Policy.People)), ", ")
}
