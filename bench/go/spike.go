//go:build ignore

// spike.go: the Go contender for bench/spike.c: how fast memory goes back to the OS after a
// spike.
//
// What it measures: the program holds 1 GiB live (131,072 objects of 8 KiB, every byte
// written, in a slice reached from a global), drops it (the global is cleared), then runs a
// steady 16 MiB workload for 6 seconds: a ring of 2,048 objects of 8 KiB, replaced one after
// another as fast as the program can (every byte of each new object written). The resident set
// (from /proc/self/statm) is printed every 250 ms and checked every 10 ms against 96 MiB.
// Then debug.FreeOSMemory() is called and the resident set read again.
//
// Build: go build -o spike_go spike.go   (bench/run.sh does this)
//
// Output on stdout: "rss: t_ms=<ms since the drop> rss_mib=<MiB>" lines and a checksum line
// identical to the C contenders'; then one line on stderr with the same fields as spike.c's:
//
//	result: name=go time_to_96mib_ms=<ms or never> first_gc_ms=<ms or never>
//	        gc_to_96mib_ms=<ms, never or n/a> scavenger_cpu_ms=n/a scavenger_cpu_pct=n/a
//	        process_cpu_ms=... rss_before_free_mib=... rss_after_free_mib=...
//	        peak_rss_mib=... gcs=...
//
// (one line). first_gc_ms is when the first collection after the drop had finished (NumGC is
// checked every 10 ms), gc_to_96mib_ms the time from then until RSS < 96 MiB. Go's background scavenger is paced to about 1% of one CPU, like tricolor's, but
// its CPU time is not exposed: n/a.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

const (
	spikeObjects = 131072 // x 8 KiB = 1 GiB
	objSize      = 8192
	ringObjects  = 2048 // x 8 KiB = 16 MiB
	runMs        = 6000
	printEveryMs = 250
	checkEveryMs = 10
	thresholdMiB = 96
)

var spike [][]byte
var ring [][]byte

func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return -1
	}
	return float64(resident) * float64(os.Getpagesize()) / (1024 * 1024)
}

func newObject(n uint64) []byte {
	p := make([]byte, objSize)
	v := byte(n)
	for i := range p {
		p[i] = v
	}
	return p
}

func fillSpike() {
	spike = make([][]byte, spikeObjects)
	for i := range spike {
		spike[i] = newObject(uint64(i))
	}
}

func cpuMs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func main() {
	ring = make([][]byte, ringObjects)
	for i := range ring {
		ring[i] = newObject(uint64(i))
	}
	fillSpike()
	fmt.Printf("rss: spike live rss_mib=%.1f\n", rssMiB())

	// The drop.
	spike = nil
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs0 := ms.NumGC
	cpu0 := cpuMs()
	tDrop := time.Now()

	nextPrint, nextCheck, reached, firstGC := float64(printEveryMs), float64(checkEveryMs), -1.0, -1.0
	n := uint64(ringObjects)
	for {
		for k := 0; k < 16; k++ {
			ring[n%ringObjects] = newObject(n)
			n++
		}
		t := float64(time.Since(tDrop)) / 1e6
		if t < nextCheck {
			continue
		}
		rss := rssMiB()
		if reached < 0 && rss >= 0 && rss < thresholdMiB {
			reached = t
		}
		if firstGC < 0 {
			runtime.ReadMemStats(&ms)
			if ms.NumGC != gcs0 {
				firstGC = t
			}
		}
		for t >= nextCheck {
			nextCheck += checkEveryMs
		}
		if t >= nextPrint {
			fmt.Printf("rss: t_ms=%.0f rss_mib=%.1f\n", nextPrint, rss)
			nextPrint += printEveryMs
		}
		if t >= runMs {
			break
		}
	}
	cpu := cpuMs() - cpu0
	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC - gcs0
	beforeFree := rssMiB()
	debug.FreeOSMemory()
	afterFree := rssMiB()

	var sum uint64
	for i := n - ringObjects; i < n; i++ {
		p := ring[i%ringObjects]
		if p[0] != byte(i) || p[objSize-1] != byte(i) {
			fmt.Fprintf(os.Stderr, "spike: ring object %d was overwritten: Failed\n", i)
			os.Exit(1)
		}
		sum += uint64(p[objSize/2])
	}
	fmt.Printf("ring of %d objects of %d bytes intact: checksum %d\n", ringObjects, objSize, sum)

	reachedS, firstGCS, afterGCS := "never", "never", "never"
	if reached >= 0 {
		reachedS = fmt.Sprintf("%.0f", reached)
	}
	if firstGC >= 0 {
		firstGCS = fmt.Sprintf("%.0f", firstGC)
	} else {
		afterGCS = "n/a"
	}
	if reached >= 0 && firstGC >= 0 {
		afterGCS = fmt.Sprintf("%.0f", reached-firstGC)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "result: name=go time_to_96mib_ms=%s first_gc_ms=%s "+
		"gc_to_96mib_ms=%s scavenger_cpu_ms=n/a "+
		"scavenger_cpu_pct=n/a process_cpu_ms=%.0f rss_before_free_mib=%.1f "+
		"rss_after_free_mib=%.1f peak_rss_mib=%.1f gcs=%d\n", reachedS, firstGCS, afterGCS, cpu, beforeFree,
		afterFree, float64(ru.Maxrss)/1024, gcs)
}
