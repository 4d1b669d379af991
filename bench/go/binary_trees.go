//go:build ignore

// binary_trees.go: the Benchmarks Game "binary-trees" program in Go, the Go contender for
// bench/binary_trees.c (same algorithm, one goroutine for the mutator like the C versions).
//
// What it measures: allocation and collection throughput on many short-lived small objects
// while one long-lived tree stays reachable, under Go's own runtime and GC (GOGC etc. from the
// environment, defaults otherwise).
//
// Build: go build -o binary_trees_go binary_trees.go   (bench/run.sh does this)
// Usage: binary_trees_go [max_depth]                   (default 21)
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
	n := 21
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 0 || v > 30 {
			fmt.Fprintf(os.Stderr, "usage: %s [max_depth 0..30]\n", os.Args[0])
			os.Exit(2)
		}
		n = v
	}
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
		check := 0
		for i := 0; i < iterations; i++ {
			check += bottomUpTree(depth).itemCheck()
		}
		fmt.Fprintf(out, "%d\t trees of depth %d\t check: %d\n", iterations, depth, check)
	}

	fmt.Fprintf(out, "long lived tree of depth %d\t check: %d\n", maxDepth, longLived.itemCheck())
	out.Flush()
	report(start)
}
