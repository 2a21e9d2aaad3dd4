package probe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunKeepsOrderAndBoundsEachCheck(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	checks := []Check{
		{Service: "slow", Run: func(ctx context.Context) []Result {
			time.Sleep(50 * time.Millisecond)
			return []Result{Pass("slow", "a", "fine"), Pass("slow", "b", "fine")}
		}},
		{Service: "hangs", Run: func(context.Context) []Result {
			<-release // ignores its context
			return nil
		}},
		{Service: "panics", Run: func(context.Context) []Result { panic("boom") }},
		{Service: "fast", Run: func(context.Context) []Result { return []Result{Fail("fast", "x", errors.New("refused"))} }},
		{Service: "silent", Run: func(context.Context) []Result { return nil }},
	}
	got := Run(context.Background(), 200*time.Millisecond, checks)
	want := []Result{
		{Service: "slow", Target: "a", OK: true, Detail: "fine"},
		{Service: "slow", Target: "b", OK: true, Detail: "fine"},
		{Service: "hangs", Target: "check", Detail: "no answer within 200ms"},
		{Service: "panics", Target: "check", Detail: "the check broke off: boom"},
		{Service: "fast", Target: "x", Detail: "refused"},
		{Service: "silent", Target: "check", Detail: "the check tried nothing"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if AllOK(got) || !AllOK(got[:2]) {
		t.Error("AllOK is wrong")
	}
}

func TestWriteAndRedact(t *testing.T) {
	rs := Redact([]Result{
		Pass("slack", "auth.test", "team Acme, bot @shipmate"),
		Fail("jenkins", "job deploy/checkout", errors.New("Jenkins rejected s3cr3t-token\nfor user bob")),
	}, []string{"s3cr3t-token", "abc"})
	var b strings.Builder
	if err := Write(&b, rs); err != nil {
		t.Fatal(err)
	}
	want := "ok    slack       auth.test: team Acme, bot @shipmate\n" +
		"FAIL  jenkins     job deploy/checkout: Jenkins rejected [redacted] for user bob\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
