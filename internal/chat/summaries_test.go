package chat

import (
	"context"
	"path/filepath"
	"testing"

	"shipmate/internal/store"
)

func TestRestoreOncePerRunAndChannel(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	before := newSummaries(st, "slack.summary")
	if err := before.Remember(ctx, 7, "CANN", "1700000000.0001"); err != nil {
		t.Fatal(err)
	}

	after := newSummaries(st, "slack.summary") // a restarted bot
	if ref, ok, err := after.Restore(ctx, 7, "CANN"); !ok || err != nil || ref != "1700000000.0001" {
		t.Fatalf("Restore = %q %v %v", ref, ok, err)
	}
	if _, ok, _ := after.Restore(ctx, 7, "CANN"); ok {
		t.Error("a second Restore of the same run asked the store again")
	}
	after.Forget(7)
	if _, ok, _ := after.Restore(ctx, 7, "CANN"); !ok {
		t.Error("Restore after Forget found nothing")
	}
	if _, ok, _ := newSummaries(st, "slack.summary").Restore(ctx, 7, "CNEW"); ok {
		t.Error("a summary of another channel was restored")
	}
	if _, ok, _ := newSummaries(st, "discord.summary").Restore(ctx, 7, "CANN"); ok {
		t.Error("another adapter's summary was restored")
	}
	var none *summaries
	if err := none.Remember(ctx, 1, "C", "x"); err != nil {
		t.Error(err)
	}
	if _, ok, _ := newSummaries(nil, "slack.summary").Restore(ctx, 7, "CANN"); ok {
		t.Error("a summaries without a store restored something")
	}
}
