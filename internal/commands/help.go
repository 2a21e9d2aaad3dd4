package commands

import (
	"fmt"
	"strings"
)

// Help returns the help text: every verb's usage and summary, then the
// environments with their aliases and, when the parser knows them, the apps.
func (p *Parser) Help() string {
	var b strings.Builder
	b.WriteString("Shipmate commands:\n")
	for _, v := range verbs {
		fmt.Fprintf(&b, "  %s\n      %s\n", v.usage(), v.summary)
	}
	b.WriteString("Environments:")
	n := 0
	for _, e := range p.Envs {
		if e.Name == "" {
			continue
		}
		n++
		b.WriteString("\n  " + e.Name)
		if aliases := nonEmpty(e.Aliases); len(aliases) > 0 {
			b.WriteString(" (" + strings.Join(aliases, ", ") + ")")
		}
	}
	if n == 0 {
		b.WriteString(" none configured")
	}
	if len(p.Apps) > 0 {
		b.WriteString("\nApps: " + strings.Join(p.Apps, ", "))
	}
	return b.String()
}

func parseHelp(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(0, 1); err != nil {
		return Result{}, err
	}
	if len(c.args) == 0 {
		return Result{Reply: p.Help()}, nil
	}
	word := asciiLower(c.args[0])
	for _, v := range verbs {
		if v.name == word || (v.name == "" && v.command == word) {
			return Result{Reply: "usage: " + v.usage() + "\n" + v.summary}, nil
		}
	}
	var names []string
	for _, v := range verbs {
		if v.name == "" {
			names = append(names, v.command)
		} else {
			names = append(names, v.name)
		}
	}
	return Result{}, fmt.Errorf("no help for %s (verbs: %s)", quote(c.args[0]), strings.Join(names, ", "))
}
