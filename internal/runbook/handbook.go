package runbook

import "strings"

// Issue is one entry of the deployment handbook's "Common Issues &
// Solutions": what to check when a deployment goes wrong that way.
// Executors attach the matching entry to a failure's diagnosis.
type Issue struct {
	Title string
	Steps []string
}

// The handbook's common issues.
var (
	IssueDeploymentHangs = Issue{Title: "Deployment hangs", Steps: []string{
		"Check network connectivity", "Verify storage space", "Check service dependencies", "Review application logs",
	}}
	IssueHealthChecksFailing = Issue{Title: "Health checks failing", Steps: []string{
		"Validate configuration", "Check database connectivity", "Review recent code changes", "Check resource availability",
	}}
	IssuePerformanceDegradation = Issue{Title: "Performance degradation", Steps: []string{
		"Monitor CPU and memory usage", "Check database query performance", "Review error logs", "Consider rollback if severe",
	}}
)

// String renders the entry as the lines a diagnosis ends with.
func (i Issue) String() string {
	var b strings.Builder
	b.WriteString("Runbook — " + i.Title + ":")
	for _, s := range i.Steps {
		b.WriteString("\n  • " + s)
	}
	return b.String()
}
