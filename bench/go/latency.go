//go:build ignore

// latency.go: the Go contender for bench/latency.c, the "message ring" GC latency test (same
// workload, one goroutine for the mutator like the C versions).
//
// What it measures: a ring of 200,000 slots holds the most recent 1 KiB messages; 1,000,000
// pushes each allocate a new message (make([]byte, 1024)), write a few bytes into it and store
// it over the oldest slot, so about 200 MiB stays live while 800 MiB more is allocated and
// dropped. The first 200,000 pushes fill the empty ring. Every push is timed (time.Since on
// the monotonic clock) into a []int64 allocated before the loop. runtime.ReadMemStats is read
// every 50,000 pushes, between timed pushes, to collect every cycle's PauseNs.
//
// Build: go build -o latency_go latency.go   (bench/run.sh does this)
// Usage: latency_go
//
// Output: a checksum line on stdout, identical to the C contenders'; then one line on stderr:
//
//	result: name=go wall_ms=... worst_push_us=... p9999_us=... p999_us=... p99_us=...
//	        over_1ms=... gcs=...
//	        worst_pause_us=... total_pause_ms=... peak_rss_kb=...
//
// (one line). worst_pause_us is the largest PauseNs entry (one cycle's stop-the-world time,
// both pauses added), total_pause_ms is PauseTotalNs over the loop. Compare wall_ms only with
// the other contenders' figures from the same run of bench/run.sh.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sort"
	"syscall"
	"time"
)

const (
	ringSize    = 200000
	pushes      = 1000000
	msgSize     = 1024
	sampleEvery = 50000
)

var ring [][]byte

type pauseWatch struct {
	seen     uint32
	base     uint64
	cycles   uint64
	lost     uint64
	maxNs    uint64
	totalNs  uint64
	memstats runtime.MemStats
}

func (w *pauseWatch) start() {
	runtime.ReadMemStats(&w.memstats)
	w.seen = w.memstats.NumGC
	w.base = w.memstats.PauseTotalNs
}

func (w *pauseWatch) sample() {
	runtime.ReadMemStats(&w.memstats)
	n := w.memstats.NumGC
	first := w.seen
	if n-first > 256 {
		w.lost += uint64(n - first - 256)
		first = n - 256
	}
	for k := first; k != n; k++ {
		p := w.memstats.PauseNs[k%256]
		if p > w.maxNs {
			w.maxNs = p
		}
		w.cycles++
	}
	w.seen = n
	w.totalNs = w.memstats.PauseTotalNs - w.base
}

func push(i int) {
	msg := make([]byte, msgSize)
	binary.LittleEndian.PutUint64(msg, uint64(i))
	msg[msgSize-1] = byte(i)
	ring[i%ringSize] = msg
}

// The q-quantile of sorted, nearest rank (as in latency.c).
func quantile(sorted []int64, q float64) int64 {
	rank := int(q*float64(len(sorted)) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

func main() {
	lat := make([]int64, pushes)
	ring = make([][]byte, ringSize)
	var w pauseWatch
	w.start()
	gcs0 := w.memstats.NumGC

	start := time.Now()
	for i := 0; i < pushes; i++ {
		t0 := time.Now()
		push(i)
		lat[i] = int64(time.Since(t0))
		if (i+1)%sampleEvery == 0 {
			w.sample()
		}
	}
	wall := time.Since(start)
	w.sample()
	gcs := w.memstats.NumGC - gcs0

	var sum uint64
	for k := 0; k < ringSize; k++ {
		msg := ring[k]
		tag := binary.LittleEndian.Uint64(msg)
		want := pushes - ringSize + ((k - pushes%ringSize + ringSize) % ringSize)
		if tag != uint64(want) || msg[msgSize-1] != byte(want) {
			fmt.Fprintf(os.Stderr, "latency: slot %d holds message %d, not %d: Failed\n", k, tag, want)
			os.Exit(1)
		}
		sum += tag
	}
	fmt.Printf("ring of %d messages of %d bytes after %d pushes: checksum %d\n", ringSize, msgSize,
		pushes, sum)

	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	worstPause, totalPause := "n/a", "n/a"
	if w.lost == 0 {
		worstPause = fmt.Sprintf("%.1f", float64(w.maxNs)/1e3)
		totalPause = fmt.Sprintf("%.2f", float64(w.totalNs)/1e6)
	}
	over1ms := 0
	for i := pushes - 1; i >= 0 && lat[i] > 1000000; i-- {
		over1ms++
	}
	fmt.Fprintf(os.Stderr, "result: name=go wall_ms=%.0f worst_push_us=%.1f p9999_us=%.1f "+
		"p999_us=%.1f p99_us=%.1f over_1ms=%d gcs=%d worst_pause_us=%s longest_stop_us=n/a total_pause_ms=%s "+
		"peak_rss_kb=%d\n",
		float64(wall)/1e6, float64(lat[pushes-1])/1e3, float64(quantile(lat, 0.9999))/1e3,
		float64(quantile(lat, 0.999))/1e3, float64(quantile(lat, 0.99))/1e3, over1ms, gcs,
		worstPause, totalPause, ru.Maxrss)
}
