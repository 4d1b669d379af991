//go:build ignore

// binary_trees.go: the Benchmarks Game "binary-trees" program in Go, the Go contender for
// bench/binary_trees.c (same algorithm, one goroutine for the mutator like the C versions unless
// told otherwise).
//
// What it measures: allocation and collection throughput on many short-lived small objects
// while one long-lived tree stays reachable, under Go's own runtime and GC (GOGC etc. from the
// environment, defaults otherwise).
//
// Build: go build -o binary_trees_go binary_trees.go   (bench/run.sh does this)
// Usage: binary_trees_go [max_depth [threads]]         (default 21 and 1; with threads > 1
// the trees of each depth are built by that many goroutines, as in bench/binary_trees.c)
//
// Output: stdout is exactly the Benchmarks Game's output, identical to the C contenders'
// (bench/run.sh checks it). Then one line on stderr:
//
//	result: name=go wall_ms=<ms> peak_rss_kb=<ru_maxrss> gcs=<runtime.MemStats.NumGC>
//
// Compare wall_ms only with the other contenders' figures from the same run of bench/run.sh.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

type node struct {
	left, right *node
}

// Children first, then the parent, as in bench/binary_trees.c.
func bottomUpTree(depth int) *node {
	var left, right *node
	if depth > 0 {
		left = bottomUpTree(depth - 1)
		right = bottomUpTree(depth - 1)
	}
	return &node{left, right}
}

func (n *node) itemCheck() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.itemCheck() + n.right.itemCheck()
}

// The sum of the checks of iterations trees of depth, built by threads goroutines.
func makeTrees(depth, iterations, threads int) int {
	if threads == 1 {
		check := 0
		for i := 0; i < iterations; i++ {
			check += bottomUpTree(depth).itemCheck()
		}
		return check
	}
	checks := make([]int, threads)
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		share := iterations / threads
		if t < iterations%threads {
			share++
		}
		wg.Add(1)
		go func(t, share int) {
			defer wg.Done()
			for i := 0; i < share; i++ {
				checks[t] += bottomUpTree(depth).itemCheck()
			}
		}(t, share)
	}
	wg.Wait()
	check := 0
	for _, c := range checks {
		check += c
	}
	return check
}

// Argument i as a number in [lo, hi], dflt when absent.
func argInt(i, dflt, lo, hi int) int {
	if len(os.Args) <= i {
		return dflt
	}
	v, err := strconv.Atoi(os.Args[i])
	if err != nil || v < lo || v > hi {
		fmt.Fprintf(os.Stderr, "usage: %s [max_depth 0..30 [threads 1..64]]\n", os.Args[0])
		os.Exit(2)
	}
	return v
}

func report(start time.Time) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "result: name=go wall_ms=%d peak_rss_kb=%d gcs=%d\n",
		time.Since(start).Milliseconds(), ru.Maxrss, ms.NumGC)
}

func main() {
	start := time.Now()
	n := argInt(1, 21, 0, 30)
	threads := argInt(2, 1, 1, 64)
	out := bufio.NewWriter(os.Stdout)

	const minDepth = 4
	maxDepth := n
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}

	{
		stretchDepth := maxDepth + 1
		stretch := bottomUpTree(stretchDepth)
		fmt.Fprintf(out, "stretch tree of depth %d\t check: %d\n", stretchDepth, stretch.itemCheck())
	}

	longLived := bottomUpTree(maxDepth)

	for depth := minDepth; depth <= maxDepth; depth += 2 {
		iterations := 1 << uint(maxDepth-depth+minDepth)
		check := makeTrees(depth, iterations, threads)
		fmt.Fprintf(out, "%d\t trees of depth %d\t check: %d\n", iterations, depth, check)
	}

	fmt.Fprintf(out, "long lived tree of depth %d\t check: %d\n", maxDepth, longLived.itemCheck())
	out.Flush()
	report(start)
}
