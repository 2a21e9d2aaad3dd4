package commands

import (
	"errors"
	"fmt"
	"strconv"
)

// The window of /deploy stats, in days.
const (
	DefaultStatsDays = 30
	MaxStatsDays     = 366
)

// parseDays reads the value of --days; twice is whether it was given
// before.
func parseDays(value string, twice bool) (int, error) {
	if twice {
		return 0, errors.New("--days given twice")
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || n > MaxStatsDays {
		return 0, fmt.Errorf("--days %s: want a number of days from 1 to %d", clip(value), MaxStatsDays)
	}
	return n, nil
}

func parseStats(p *Parser, c *call) (Result, error) {
	if err := c.wantArgs(1, 2); err != nil {
		return Result{}, err
	}
	app, err := p.resolveApp(c.args[0], false)
	if err != nil {
		return Result{}, err
	}
	in := &Intent{Kind: KindStats, App: app, Days: c.days}
	if in.Days == 0 {
		in.Days = DefaultStatsDays
	}
	if len(c.args) == 2 {
		// As in history, the environment narrows; none means every one.
		if in.Env, err = p.resolveEnv(c.args[1]); err != nil {
			return Result{}, err
		}
	}
	return Result{Intent: in}, nil
}
