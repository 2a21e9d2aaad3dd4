package kubernetes

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"shipmate/internal/runbook"
)

// Diagnosis limits: enough to act on, short enough for a chat thread.
const (
	diagEvents   = 8
	diagLogLines = 15
	diagPods     = 3
)

// diagnose reports why workload wl's rollout failed — the failing pods and
// their reasons, the recent events, the failing container's last log lines
// and the handbook entry that matches — as step output, and returns the
// failure as one line.
func (x *Executor) diagnose(ctx context.Context, ns string, wl Workload, r rollout, p runbook.Progress) error {
	p("diagnosis: " + r.failure)
	names := []string{wl.Name}
	for i, t := range r.failing {
		if i == diagPods {
			p(fmt.Sprintf("  … and %d more failing containers", len(r.failing)-diagPods))
			break
		}
		line := fmt.Sprintf("  pod %s container %s: %s", t.pod.Name, t.container, t.reason)
		if t.message != "" {
			line += " — " + oneLine(t.message)
		}
		p(line)
		names = append(names, t.pod.Name)
	}
	for _, ev := range x.events(ctx, ns, names) {
		p(fmt.Sprintf("  event %s %s %s/%s: %s", ev.Type, ev.Reason, strings.ToLower(ev.InvolvedObject.Kind), ev.InvolvedObject.Name, oneLine(ev.Message)))
	}
	if len(r.failing) > 0 {
		t := r.failing[0]
		which := "current"
		if t.crashed {
			which = "previous"
		}
		lines, err := x.logTail(ctx, ns, t.pod.Name, t.container, t.crashed)
		if err != nil {
			p(fmt.Sprintf("  log of %s/%s unavailable: %v", t.pod.Name, t.container, err))
		} else if len(lines) > 0 {
			p(fmt.Sprintf("  last log lines of %s/%s (%s container):", t.pod.Name, t.container, which))
			for _, l := range lines {
				p("    " + l)
			}
		}
	}
	issue := issueFor(r)
	for _, l := range strings.Split(issue.String(), "\n") {
		p(l)
	}
	summary := r.failure
	if len(r.failing) > 0 {
		summary = fmt.Sprintf("%s: %s (pod %s)", r.failure, r.failing[0].reason, r.failing[0].pod.Name)
	}
	return fmt.Errorf("%w: %s", errRolloutFailed, summary)
}

// issueFor matches a failure with the handbook's common issues.
func issueFor(r rollout) runbook.Issue {
	if len(r.failing) == 0 {
		return runbook.IssueDeploymentHangs
	}
	switch r.failing[0].reason {
	case "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError":
		return runbook.IssueHealthChecksFailing
	case "OOMKilled":
		return runbook.IssuePerformanceDegradation
	}
	return runbook.IssueDeploymentHangs
}

// events returns the newest events about the named objects.
func (x *Executor) events(ctx context.Context, ns string, names []string) []corev1.Event {
	client, err := x.cluster.api()
	if err != nil {
		return nil
	}
	var all []corev1.Event
	for _, name := range names {
		list, err := client.events(ctx, ns, fields.OneTermEqualSelector("involvedObject.name", name).String())
		if err != nil {
			continue
		}
		all = append(all, list.Items...)
	}
	sort.SliceStable(all, func(i, j int) bool { return eventTime(all[i]).Time.Before(eventTime(all[j]).Time) })
	if len(all) > diagEvents {
		all = all[len(all)-diagEvents:]
	}
	return all
}

func eventTime(e corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.NewTime(e.EventTime.Time)
	}
	return e.FirstTimestamp
}

// logTail returns the last lines a container printed (its previous
// instance for a crashed one).
func (x *Executor) logTail(ctx context.Context, ns, pod, container string, previous bool) ([]string, error) {
	tail, limit := int64(diagLogLines), int64(64<<10)
	// Stream, as kubectl logs does: it keeps the API server's own words
	// when the kubelet refuses ("is waiting to start: ...").
	client, err := x.cluster.api()
	if err != nil {
		return nil, err
	}
	rc, err := client.logs(ctx, ns, pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: &tail, LimitBytes: &limit,
	})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return nil, err
	}
	text := strings.TrimRight(string(raw), "\n")
	if text == "" {
		return nil, nil
	}
	return strings.Split(text, "\n"), nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
