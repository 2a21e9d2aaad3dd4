package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/spf13/cobra"

	"shipmate/internal/store"
)

func (c *cli) compactCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the bbolt store without its free pages, with the bot stopped",
		Long: "Rewrite the bbolt store into a fresh file holding only its live data, then put\n" +
			"it in the old one's place. bbolt lists every free page in every commit, so a\n" +
			"store that a first retention prune left mostly free makes every lock, tick and\n" +
			"approval slow. The bot does this on its own for stores of up to 256 MiB of live\n" +
			"data; bot compact does it for any, while the bot is stopped.",
		Args: usageArgs(0, "usage: bot compact [--config FILE]"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := c.load(cmd)
			if err != nil {
				return err
			}
			return status(compactStore(cfg.Store, c.stdout, c.stderr))
		},
	}
	c.addCommon(cmd, "config")
	return cmd
}

// compactStore rewrites the bbolt store at path and says what it did.
func compactStore(path string, stdout, stderr io.Writer) int {
	if isEtcd(path) {
		fmt.Fprintln(stderr, "shipmate: bot compact rewrites the bbolt store; etcd compacts and defragments on its own terms (etcdctl defrag)")
		return exitConfig
	}
	// Open must not rewrite the store on its own first: this command
	// does, whatever its size.
	s, err := store.Open(path, store.Options{Timeout: time.Second, Compaction: store.Compaction{MinFree: math.MaxInt}})
	if errors.Is(err, store.ErrInUse) {
		fmt.Fprintf(stderr, "shipmate: %v: stop the bot first\n", err)
		return exitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitFail
	}
	res, err := s.Compact()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: %s → %s (%d free pages dropped) in %v\n",
		path, size(res.Before), size(res.After), res.FreePages, res.Took.Round(time.Millisecond))
	return exitOK
}

// size writes a file size in KiB or MiB.
func size(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
