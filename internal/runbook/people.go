package runbook

import (
	"context"
	"slices"
)

// identity is one user id on one platform.
type identity struct{ platform, id string }

// people maps every identity the policy's people: block lists to its person.
type people map[identity]string

func newPeople(p *Policy) people {
	idx := people{}
	for name, person := range p.People {
		for platform, ids := range person.IDs {
			for _, id := range ids {
				idx[identity{platform, id}] = name
			}
		}
	}
	return idx
}

// identify says who u is: the person the policy names for the identity.
// Anything the platform said about the user besides the id and groups is
// dropped.
func (e *Engine) identify(u User) User {
	u.Person = e.people[identity{u.Platform, u.ID}]
	return u
}

// person is the key one human is known by: the people: name, or for an
// identity listed nowhere, the identity itself (a person of its own). It is
// read from the policy, not from what a stored record says.
func (e *Engine) person(u User) string {
	if p := e.people[identity{u.Platform, u.ID}]; p != "" {
		return "person:" + p
	}
	return u.Platform + ":" + u.ID
}

// same reports whether a and b are the same person, on whatever platforms.
func (e *Engine) same(a, b User) bool { return e.person(a) == e.person(b) }

// hasRole reports whether u holds role: named as a person, or by one of the
// person's identities, or through a group the platform puts u in.
func (e *Engine) hasRole(ctx context.Context, u User, role string) bool {
	ro, ok := e.policy.Roles[role]
	if !ok {
		return false
	}
	if name := e.people[identity{u.Platform, u.ID}]; name != "" {
		if slices.Contains(ro.People, name) {
			return true
		}
		// One person is one person on every chat: a role given to one of
		// their identities is theirs on every platform.
		for platform, ids := range e.policy.People[name].IDs {
			for _, id := range ids {
				if slices.Contains(ro.Members[platform], id) {
					return true
				}
			}
		}
	}
	if slices.Contains(ro.Members[u.Platform], u.ID) {
		return true
	}
	for _, g := range ro.Groups[u.Platform] {
		if slices.Contains(u.Groups, g) {
			return true
		}
	}
	res := e.groups[u.Platform]
	if res == nil {
		return false
	}
	for _, g := range ro.Groups[u.Platform] {
		ids, err := res.GroupMembers(ctx, g)
		if err != nil {
			e.log.Warn().Err(err).Str("group", g).Msg("resolve group")
			continue
		}
		if slices.Contains(ids, u.ID) {
			return true
		}
	}
	return false
}

func (e *Engine) hasAnyRole(ctx context.Context, u User, roles []string) bool {
	for _, r := range roles {
		if e.hasRole(ctx, u, r) {
			return true
		}
	}
	return false
}

// errNoRole refuses reads to someone Shipmate does not know.
var errNoRole = Errorf(EForbidden, "you have no role in Shipmate: ask whoever runs it to add you to a role (roles: in its configuration)")

// MayRead says whether u may read runs, their trails and what runs where:
// people who hold some role. Everyone else gets an *Error saying so.
func (e *Engine) MayRead(ctx context.Context, u User) error {
	roles := make([]string, 0, len(e.policy.Roles))
	for name := range e.policy.Roles {
		roles = append(roles, name)
	}
	slices.Sort(roles)
	if e.hasAnyRole(ctx, e.identify(u), roles) {
		return nil
	}
	return errNoRole
}
