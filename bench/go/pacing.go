//go:build ignore

// pacing.go: the Go contender for bench/pacing.c: does the pacer hold the heap where GOGC and
// GOMEMLIMIT say it should? Run once per setting, each in its own process, with the settings
// in the environment (bench/run.sh runs GOGC=100, GOGC=50 and GOGC=off GOMEMLIMIT=100MiB).
//
// What it measures: a steady live set of 64 MiB (65,536 objects of 1 KiB, make([]byte, 1024),
// in a slice reached from a global) churned through 1 GiB of allocation: 1,048,576 times a new
// object replaces a randomly chosen one (the same xorshift sequence as pacing.c). Every 16 MiB
// allocated, runtime.ReadMemStats is sampled for the peak HeapAlloc and the peak retained
// memory (Sys - HeapReleased).
//
// Build: go build -o pacing_go pacing.go   (bench/run.sh does this)
//
// Output: one line on stderr, the same fields as pacing.c's:
//
//	result: name=go mode=... cycles=... predicted=... peak_heap_mib=... peak_rss_mib=...
//	        peak_retained_mib=... live_mib=... goal_mib=... next_gc_mib=... wall_ms=...
//
// (one line). predicted = allocation / (goal - live), goal = live * (1 + GOGC/100) lowered to
// GOMEMLIMIT when that is set; live counts the objects and the slice (24-byte headers).
package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

const (
	liveObjects = 65536
	objSize     = 1024
	sampleEvery = 16384 // allocations: 16 MiB
	churnBytes  = 1 << 30
)

var live [][]byte

var rng uint64 = 0x9e3779b97f4a7c15

func nextRandom() uint64 {
	rng ^= rng << 13
	rng ^= rng >> 7
	rng ^= rng << 17
	return rng
}

func newObject(tag uint64) []byte {
	p := make([]byte, objSize)
	p[0] = byte(tag)
	return p
}

func mib(b float64) float64 { return b / (1024 * 1024) }

func main() {
	// The settings in force, as the runtime parsed them from the environment.
	gogc := debug.SetGCPercent(100)
	debug.SetGCPercent(gogc)
	limit := debug.SetMemoryLimit(-1)

	mode := "GOGC=100"
	if v, ok := os.LookupEnv("GOGC"); ok {
		mode = "GOGC=" + v
	}
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		mode += ",GOMEMLIMIT=" + v
	}

	live = make([][]byte, liveObjects)
	for i := range live {
		live[i] = newObject(uint64(i))
	}

	liveBytes := float64(liveObjects*objSize) + float64(liveObjects*24)
	goal := math.Inf(1)
	if gogc >= 0 {
		goal = liveBytes * (1 + float64(gogc)/100)
	}
	if limit > 0 && limit < math.MaxInt64 && float64(limit) < goal {
		goal = float64(limit)
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs0 := ms.NumGC
	peakHeap := float64(ms.HeapAlloc)
	peakRetained := float64(ms.Sys - ms.HeapReleased)

	churn := churnBytes / objSize
	t0 := time.Now()
	for i := 0; i < churn; i++ {
		slot := nextRandom() % liveObjects
		live[slot] = newObject(uint64(liveObjects + i))
		if (i+1)%sampleEvery == 0 {
			runtime.ReadMemStats(&ms)
			if float64(ms.HeapAlloc) > peakHeap {
				peakHeap = float64(ms.HeapAlloc)
			}
			if float64(ms.Sys-ms.HeapReleased) > peakRetained {
				peakRetained = float64(ms.Sys - ms.HeapReleased)
			}
		}
	}
	wall := time.Since(t0)
	runtime.ReadMemStats(&ms)
	cycles := ms.NumGC - gcs0

	predicted, goalS := "0", "inf"
	if !math.IsInf(goal, 1) {
		goalS = fmt.Sprintf("%.1f", mib(goal))
		if goal > liveBytes {
			predicted = fmt.Sprintf("%.1f", churnBytes/(goal-liveBytes))
		} else {
			predicted = "inf"
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "result: name=go mode=%s cycles=%d predicted=%s peak_heap_mib=%.1f "+
		"peak_rss_mib=%.1f peak_retained_mib=%.1f live_mib=%.1f goal_mib=%s next_gc_mib=%.1f "+
		"wall_ms=%.0f\n", mode, cycles, predicted, mib(peakHeap), float64(ru.Maxrss)/1024,
		mib(peakRetained), mib(liveBytes), goalS, mib(float64(ms.NextGC)),
		float64(wall)/1e6)
}
