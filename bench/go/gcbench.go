//go:build ignore

// gcbench.go: the Ellis/Kovac/Boehm "GCBench" in Go, the Go contender for bench/gcbench.c
// (same algorithm and constants, one goroutine for the mutator).
//
// What it measures: collector throughput while a fixed amount of data stays live: a depth-16
// tree and an array of 500000 float64 (pointer-free) stay alive while trees of depths 4..16 are
// built top-down (children stored into an existing node) and bottom-up, under Go's runtime and
// GC (GOGC etc. from the environment, defaults otherwise).
//
// Build: go build -o gcbench_go gcbench.go   (bench/run.sh does this)
//
// Output on stdout: the program's traditional lines with per-phase timings ("took N msec");
// apart from the timings it matches the C contenders'. A damaged long-lived tree or array
// prints "Failed" on stderr and exits 1. Then one line on stderr:
//
//	result: name=go wall_ms=<ms> peak_rss_kb=<ru_maxrss> gcs=<runtime.MemStats.NumGC>
//
// Compare wall_ms only with the other contenders' figures from the same run of bench/run.sh.
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

const (
	kStretchTreeDepth   = 18
	kLongLivedTreeDepth = 16
	kArraySize          = 500000
	kMinTreeDepth       = 4
	kMaxTreeDepth       = 16
)

// 24 bytes, like the C node: two pointers and two int32 of payload that is never read.
type node struct {
	left, right *node
	i, j        int32
}

func treeSize(depth int) int { return (1 << uint(depth+1)) - 1 }

func numIters(depth int) int { return 2 * treeSize(kStretchTreeDepth) / treeSize(depth) }

// Top-down: give an existing node two fresh children, then recurse into them.
func populate(depth int, n *node) {
	if depth <= 0 {
		return
	}
	depth--
	n.left = &node{}
	n.right = &node{}
	populate(depth, n.left)
	populate(depth, n.right)
}

// Bottom-up: build both subtrees, then the node that holds them.
func makeTree(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	left := makeTree(depth - 1)
	right := makeTree(depth - 1)
	return &node{left: left, right: right}
}

func countNodes(n *node) int {
	if n == nil {
		return 0
	}
	return 1 + countNodes(n.left) + countNodes(n.right)
}

func msSince(t time.Time) int64 { return time.Since(t).Milliseconds() }

// sink keeps the compiler from proving the short-lived trees dead before they are built.
var sink *node

func timeConstruction(depth int) {
	iters := numIters(depth)
	fmt.Printf("Creating %d trees of depth %d\n", iters, depth)

	t0 := time.Now()
	for i := 0; i < iters; i++ {
		temp := &node{}
		populate(depth, temp)
		sink = temp
	}
	fmt.Printf("\tTop down construction took %d msec\n", msSince(t0))

	t1 := time.Now()
	for i := 0; i < iters; i++ {
		sink = makeTree(depth)
	}
	fmt.Printf("\tBottom up construction took %d msec\n", msSince(t1))
	sink = nil
}

func report(start time.Time) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(os.Stderr, "result: name=go wall_ms=%d peak_rss_kb=%d gcs=%d\n",
		msSince(start), ru.Maxrss, ms.NumGC)
}

func main() {
	start := time.Now()

	fmt.Printf("Garbage Collector Test\n")
	fmt.Printf(" Live storage will peak at %d bytes.\n\n",
		2*int(unsafe.Sizeof(node{}))*treeSize(kLongLivedTreeDepth)+8*kArraySize)
	fmt.Printf(" Stretching memory with a binary tree of depth %d\n", kStretchTreeDepth)
	tStart := time.Now()

	// Stretch the heap, then drop the tree.
	sink = makeTree(kStretchTreeDepth)
	sink = nil

	fmt.Printf(" Creating a long-lived binary tree of depth %d\n", kLongLivedTreeDepth)
	longLived := &node{}
	populate(kLongLivedTreeDepth, longLived)

	fmt.Printf(" Creating a long-lived array of %d doubles\n", kArraySize)
	array := make([]float64, kArraySize)
	for i := 0; i < kArraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}

	for depth := kMinTreeDepth; depth <= kMaxTreeDepth; depth += 2 {
		timeConstruction(depth)
	}

	// Use the long-lived data, so it is live to here, and prove the collector kept it.
	ok := countNodes(longLived) == treeSize(kLongLivedTreeDepth)
	for i := 1; ok && i < kArraySize/2; i++ {
		ok = array[i] == 1.0/float64(i)
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "Failed: the long-lived tree or array was damaged\n")
		os.Exit(1)
	}

	fmt.Printf("Completed in %d msec\n", msSince(tStart))
	report(start)
}
