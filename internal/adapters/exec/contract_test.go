package exec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/executortest"
)

// The exec executor keeps the executor contract, with steps that outlive
// the bot (a state folder) and a resolve command.
func TestExecutorContract(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executortest.Setup {
		dir := t.TempDir()
		starts := filepath.Join(dir, "starts")
		// Each step appends "<action> <version>" to starts; "bad" fails,
		// "hold" runs until it is stopped.
		body := fmt.Sprintf(`echo "$SHIPMATE_ACTION $SHIPMATE_VERSION" >> %s
echo "$SHIPMATE_ACTION of $SHIPMATE_VERSION"
case "$SHIPMATE_VERSION" in
bad) echo "health check failed" >&2; exit 3 ;;
hold) while :; do sleep 0.05; done ;;
esac
`, shq(starts))
		argv := script(t, body)
		resolve := script(t, `echo "sha256:$(printf %s "$SHIPMATE_VERSION" | od -An -tx1 | tr -d ' \n')"`)
		x := mustNew(t, Config{Deploy: argv, Rollback: argv, Resolve: resolve, StateDir: filepath.Join(dir, "steps")})
		return executortest.Setup{Executor: x, Good: "v1", Other: "v2", Fail: "bad", Block: "hold",
			Started: func(action runbook.Action, version string) int {
				b, _ := os.ReadFile(starts)
				return strings.Count(string(b), string(action)+" "+version+"\n")
			}}
	})
}
