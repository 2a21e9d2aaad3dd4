package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The bot's metrics loadgen reads: the collections completed, and the heap
// the last of them marked as live.
const (
	gcCountMetric  = "go_gc_duration_seconds_count"
	liveHeapMetric = "go_gc_heap_live_bytes"
)

// gcWanted is how many collections must complete before the live heap is
// read, and gcLimit how long loadgen drives them before giving up.
const (
	gcWanted = 2
	gcLimit  = 10 * time.Second
)

// liveHeap is a reading of the bot's live heap after collections loadgen
// drove with reads.
type liveHeap struct {
	// mib is go_gc_heap_live_bytes, in MiB.
	mib float64
	// gcs is how many collections completed while loadgen drove them, with
	// reads signed /deploy commands sent to make garbage.
	gcs, reads int
	took       time.Duration
	// err says why there is no reading (no GC within gcLimit, /metrics
	// unreadable, the metric missing).
	err error
}

// scrapeMetric returns the value of the sample name, without labels, from
// the bot's GET /metrics in the text exposition format.
func scrapeMetric(hc *http.Client, addr, name string) (float64, error) {
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // the value, then maybe a timestamp
		if len(fields) == 0 {
			break
		}
		return strconv.ParseFloat(fields[0], 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// readScript is the garbage loadgen makes to drive collections: the two
// reads, alternating.
func readScript(conn, i int) (string, string) {
	if i%2 == 0 {
		return historyScript(conn, i)
	}
	return statusScript(conn, i)
}

// heapAfterGC sends signed reads to the bot at addr in short bursts, reading
// go_gc_duration_seconds_count from its /metrics after each, until
// gcWanted collections have completed since it began (for up to gcLimit),
// then reads go_gc_heap_live_bytes.
func heapAfterGC(addr string) liveHeap {
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	var h liveHeap
	began := time.Now()
	first, err := scrapeMetric(hc, addr, gcCountMetric)
	if err != nil {
		h.err = err
		return h
	}
	for {
		res := load(addr, 2, 200*time.Millisecond, readScript)
		h.reads += res.requests
		if res.firstErr != nil {
			h.err = fmt.Errorf("reads to drive collections: %w", res.firstErr)
			return h
		}
		n, err := scrapeMetric(hc, addr, gcCountMetric)
		if err != nil {
			h.err = err
			return h
		}
		h.gcs, h.took = int(n-first), time.Since(began)
		if h.gcs >= gcWanted {
			break
		}
		if h.took >= gcLimit {
			h.err = fmt.Errorf("no GC: %d collections in %.0fs of reads (%d reads), want %d", h.gcs, h.took.Seconds(), h.reads, gcWanted)
			return h
		}
	}
	live, err := scrapeMetric(hc, addr, liveHeapMetric)
	if err != nil {
		h.err = err
		return h
	}
	h.mib = live / (1 << 20)
	return h
}

// String says how the reading was made, or why there is none.
func (h liveHeap) String() string {
	if h.err != nil {
		return h.err.Error()
	}
	return fmt.Sprintf("%.1f MiB after %d GCs (%d reads, %.1fs)", h.mib, h.gcs, h.reads, h.took.Seconds())
}
