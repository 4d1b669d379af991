#!/usr/bin/env python3
"""Tests for tools/gctrace-plot.

Usage: test_gctrace_plot.py TOOL TREES

TOOL is tools/gctrace-plot, TREES the built samples/trees program.

- A real run of TREES with gctrace=1,scavtrace=1: its stderr, fed to the tool,
  gives a well-formed SVG with one dot per gc line and the scav lines counted,
  and no warnings.
- Go-format lines written here (Go 1.19 with and without the stacks and
  globals figures, " (forced)", scav lines of Go 1.19 and of later Go): every
  field parses, program output in between is skipped silently, and two inputs
  make two labelled columns.
- Malformed trace lines give a warning naming the file and line, and the
  picture is still drawn; input with no gc line at all is an error, not a
  crash.
- --record runs TREES and adds RSS samples that the picture counts.
- If a Go toolchain is installed, a small Go program's own trace is drawn
  too (skipped otherwise: the test set-up does not install Go).
"""
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"
GC_LINE_START = re.compile(r"gc \d+ @")
SCAV_LINE_START = re.compile(r"scav \d+ KiB")

TOOL, TREES = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run_tool(args, stdin_text=None):
    p = subprocess.run([TOOL, *args], input=stdin_text,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def load_tool():
    """The tool as a module, to check what it parsed field by field."""
    loader = importlib.machinery.SourceFileLoader("gctrace_plot", TOOL)
    spec = importlib.util.spec_from_loader("gctrace_plot", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def series_info(svg_text):
    """Parses the SVG (failing on malformed XML) and returns, per series
    label, its embedded counts and the number of cycle dots drawn."""
    root = ET.fromstring(svg_text)
    info = {}
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") == "series":
            info[g.get("data-label")] = {k[5:]: int(v) for k, v in g.attrib.items()
                                         if k.startswith("data-") and k != "data-label"}
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") == "panel" and g.get("data-row", "").startswith("Heap"):
            dots = [c for c in g.iter(SVG_NS + "circle")
                    if "cycle" in c.get("class", "").split()]
            info[g.get("data-series")]["dots"] = len(dots)
            info[g.get("data-series")]["forced_dots"] = sum(
                "forced" in c.get("class").split() for c in dots)
    return root, info


def self_contained(root):
    """No scripts, no links to anything outside the file."""
    for el in root.iter():
        if el.tag.endswith("script") or el.tag.endswith("foreignObject"):
            return False
        if any(k.endswith("href") for k in el.attrib):
            return False
    return True


# ---------------------------------------------------------------------------
# 1. tricolor's own trace, from a real run

def test_real_run(tmp):
    env = dict(os.environ, GODEBUG="gctrace=1,scavtrace=1")
    run = subprocess.run([TREES, "1"], env=env, capture_output=True, text=True, timeout=120)
    check(run.returncode == 0, "trees ran")
    lines = run.stderr.splitlines()
    ngc = sum(bool(GC_LINE_START.match(l)) for l in lines)
    nscav = sum(bool(SCAV_LINE_START.match(l)) for l in lines)
    check(ngc >= 2 and nscav >= 1, f"trees printed gc and scav lines ({ngc}, {nscav})")

    rc, svg, err = run_tool(["-"], run.stderr + "trees: some program output\n")
    check(rc == 0, "the tool read trees' stderr")
    check(err == "", f"no warnings on a real trace (got {err!r})")
    root, info = series_info(svg)
    s = info.get("stdin", {})
    check(s.get("gc-lines") == ngc, f"one cycle per gc line ({s.get('gc-lines')} of {ngc})")
    check(s.get("dots") == ngc, f"one dot per gc line ({s.get('dots')} of {ngc})")
    check(s.get("forced_dots") == run.stderr.count("(forced)"), "forced cycles drawn hollow")
    check(s.get("scav-lines") == nscav, f"every scav line read ({s.get('scav-lines')})")
    check(self_contained(root), "the SVG is self-contained")
    texts = " ".join(t.text or "" for t in root.iter(SVG_NS + "text"))
    for label in ("Heap (MB)", "pauses (ms)", "Concurrent mark (ms", "GC CPU (%",
                  "Scavenger (MB)", "time since the runtime started (s)"):
        check(label in texts, f"labelled: {label}")

    # The same file given by name, and -o.
    trace = os.path.join(tmp, "trees.txt")
    with open(trace, "w") as f:
        f.write(run.stderr)
    out = os.path.join(tmp, "trees.svg")
    rc, stdout, _ = run_tool(["-o", out, trace])
    check(rc == 0 and stdout == "" and os.path.getsize(out) > 0, "-o writes the file")


# ---------------------------------------------------------------------------
# 2. Go's formats (example lines written for this test)

GO_TRACE = """\
hello from the program
gc 1 @0.004s 1%: 0.012+0.95+0.004 ms clock, 0.049+0.10/0.42/0.31+0.016 ms cpu, 4->5->1 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P
scav 0 KiB work, 1536 KiB total, 91% util
gc 2 @0.020s 3%: 0.021+12+0.019 ms clock, 0.084+0.5/1.7/0+0.076 ms cpu, 3->3->2 MB, 4 MB goal, 4 P
gc 3 @0.041s 2%: 0.030+1.4+0.005 ms clock, 0.12+0/1.2/0.85+0.021 ms cpu, 2->2->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 4 P (forced)
scav 2048 KiB work, 3584 KiB total, 12% util (forced)
gc 4 @1.500s 0%: 0.031+1.1+0.006 ms clock, 0.062+0/0.5/0.3+0.012 ms cpu, 1->1->0 MB, 4 MB goal, 2 P (forced)
scav 0 KiB work, 3712 KiB total, 40% util [controller reset]
scav 64 KiB work (bg), 128 KiB work (eager), 3776 KiB now, 40% util
done
"""


def test_go_format(tmp):
    tool = load_tool()
    s = tool.read_series("go", GO_TRACE.splitlines(True), "go.txt")
    check(len(s.cycles) == 4 and len(s.scavs) == 4 and s.malformed == 0,
          f"Go lines: 4 gc, 4 scav, none malformed ({len(s.cycles)}, {len(s.scavs)}, "
          f"{s.malformed})")
    if len(s.cycles) == 4 and len(s.scavs) == 4:
        c1, c2, c3, c4 = s.cycles
        check((c1.num, c1.t, c1.cpu_percent) == (1, 0.004, 1), "gc 1: number, time, N%")
        check(c1.clock == (0.012, 0.95, 0.004), "gc 1: clock figures")
        check(c1.cpu == (0.049, 0.10, 0.42, 0.31, 0.016), "gc 1: cpu figures")
        check((c1.heap, c1.goal, c1.procs) == ((4, 5, 1), 5, 4), "gc 1: heap, goal, P")
        check(not c1.forced and c3.forced and c4.forced, "(forced) recognised")
        check((c2.heap, c2.goal, c2.procs, c2.clock[1]) == ((3, 3, 2), 4, 4, 12.0),
              "gc 2 without stacks and globals")
        check((c4.heap, c4.procs) == ((1, 1, 0), 2), "gc 4 without stacks and globals, forced")
        check(abs(c1.end - (0.004 + 0.966 / 1000)) < 1e-9, "a cycle ends after its clock time")
        check(abs(c1.gc_cpu_ms - (0.049 + 0.10 + 0.42 + 0.016)) < 1e-9,
              "GC CPU leaves idle marking out")
        sc1, sc2, sc3, sc4 = s.scavs
        check(sc1.t == c1.end and sc2.t == c3.end, "scav lines drawn at the cycle before")
        check((sc2.work_bg, sc2.released, sc2.forced) == (2.0, 3.5, True),
              "Go 1.19 scav line, forced")
        check(not sc3.forced and sc3.released == 3712 / 1024, "[controller reset] scav line")
        check((sc4.work_bg, sc4.work_eager, sc4.released) == (64 / 1024, 128 / 1024,
                                                               3776 / 1024),
              "later Go's scav line (bg, eager, now)")

    go = os.path.join(tmp, "go.txt")
    with open(go, "w") as f:
        f.write(GO_TRACE)
    rc, svg, err = run_tool([go])
    check(rc == 0 and err == "", f"Go trace drawn without warnings ({rc}, {err!r})")
    _, info = series_info(svg)
    check(info.get("go.txt", {}).get("dots") == 4, "one dot per Go gc line")
    check(info.get("go.txt", {}).get("forced_dots") == 2, "Go's forced cycles drawn hollow")

    trees = os.path.join(tmp, "trees.txt")
    rc, svg, err = run_tool([f"tricolor={trees}", f"Go 1.19={go}"])
    _, info = series_info(svg)
    check(rc == 0 and set(info) == {"tricolor", "Go 1.19"}, "LABEL=FILE gives labelled columns")
    check(info.get("Go 1.19", {}).get("dots") == 4, "the Go column has its own cycles")


# ---------------------------------------------------------------------------
# 3. Malformed lines

MALFORMED = """\
gc 1 @0.004s 1%: 0.012+0.95+0.004 ms clock, 0.049+0.10/0.42/0.31+0.016 ms cpu, 4->5->1 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P
gc 2 @0.020s 3%: 0.021+12+0.019 ms clock, 0.084+0.5/1.7
scav 12 KiB work, lots total
gc 3 @0.041s 2%: 0.030+1.4+0.005 ms clock, 0.12+0/1.2/0.85+0.021 ms cpu, 2->2->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 4 P
rss @0.5s many KiB
gc is a fine thing, says the program
gc 4 @0.060s 2%: 0.030+1.4+0.005 ms clock, 0.12+0/1.2/0.85"""


def test_malformed(tmp):
    path = os.path.join(tmp, "bad.txt")
    with open(path, "w") as f:
        f.write(MALFORMED)
    rc, svg, err = run_tool([path])
    check(rc == 0, "malformed lines do not stop the picture")
    check("Traceback" not in err, "no crash on malformed lines")
    for lineno, kind in ((2, "gctrace"), (3, "scavtrace"), (5, "rss")):
        check(re.search(rf"bad\.txt:{lineno}: malformed {kind} line", err) is not None,
              f"warning names line {lineno} ({kind})")
    check(re.search(r"bad\.txt:7: malformed gctrace line \(no line end", err) is not None,
          "a last line cut short is named as such")
    check(len(err.strip().splitlines()) == 4, "program output is not warned about")
    _, info = series_info(svg)
    s = info.get("bad.txt", {})
    check(s.get("dots") == 2 and s.get("malformed-lines") == 4, "the good lines are drawn")

    rc, svg, err = run_tool(["-"], "no trace here\njust output\n")
    check(rc != 0 and svg == "" and "no gctrace lines" in err and "Traceback" not in err,
          "input without gc lines is a clear error")
    rc, _, err = run_tool([os.path.join(tmp, "missing.txt")])
    check(rc != 0 and "missing.txt" in err and "Traceback" not in err,
          "a missing file is a clear error")


# ---------------------------------------------------------------------------
# 4. --record samples RSS

def test_record(tmp):
    trace = os.path.join(tmp, "recorded.txt")
    env = {k: v for k, v in os.environ.items() if k != "GODEBUG"}
    p = subprocess.run([TOOL, "--record", trace, "--", TREES, "0.5"],
                       env=env, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"--record ran trees ({p.returncode}, {p.stderr!r})")
    check("built and checked" in p.stdout, "the program's stdout is left alone")
    with open(trace) as f:
        text = f.read()
    nrss = len(re.findall(r"^rss @\d+\.\d{3}s \d+ KiB$", text, re.M))
    ngc = len(re.findall(r"^gc \d+ @", text, re.M))
    check(nrss >= 5 and ngc >= 1, f"recorded gc lines and RSS samples ({ngc}, {nrss})")
    rc, svg, err = run_tool([trace])
    _, info = series_info(svg)
    s = info.get("recorded.txt", {})
    check(rc == 0 and err == "" and s.get("rss-samples") == nrss and s.get("dots") == ngc,
          "recorded RSS is drawn")


# ---------------------------------------------------------------------------
# 5. Go's own output, when Go is installed

GO_PROGRAM = """\
package main

import "runtime"

var keep [][]byte

func main() {
	for i := 0; i < 2000; i++ {
		keep = append(keep, make([]byte, 64<<10))
		if len(keep) > 100 {
			keep = keep[1:]
		}
	}
	runtime.GC()
}
"""


def test_real_go(tmp):
    go = shutil.which("go")
    if go is None:
        print("skip Go's own gctrace: go is not installed")
        return
    src = os.path.join(tmp, "alloc.go")
    with open(src, "w") as f:
        f.write(GO_PROGRAM)
    exe = os.path.join(tmp, "alloc")
    env = dict(os.environ, GOCACHE=os.path.join(tmp, "gocache"), GO111MODULE="off",
               GOFLAGS="")
    build = subprocess.run([go, "build", "-o", exe, src], env=env, capture_output=True,
                           text=True, timeout=300)
    if build.returncode != 0:
        print(f"skip Go's own gctrace: go build failed: {build.stderr.strip()}")
        return
    run = subprocess.run([exe], env=dict(env, GODEBUG="gctrace=1,scavtrace=1"),
                         capture_output=True, text=True, timeout=120)
    # Go may exit while a background thread prints, cutting the last line
    # short: that line is rightly warned about and not drawn.
    lines = run.stderr.splitlines(True)
    cut = lines.pop() if lines and not lines[-1].endswith("\n") else ""
    rc, svg, err = run_tool(["-"], run.stderr)
    _, info = series_info(svg) if rc == 0 else (None, {})
    warnings = err.splitlines()
    ngc = sum(bool(GC_LINE_START.match(l)) for l in lines)
    if GC_LINE_START.match(cut) and not warnings:
        ngc += 1  # cut after its last figure: still a whole line
    check(rc == 0 and info.get("stdin", {}).get("dots") == ngc and ngc > 0,
          f"Go's own trace: all {ngc} gc lines drawn")
    check(all("(no line end" in w for w in warnings) and len(warnings) <= 1,
          f"Go's own trace: no warnings but for a last line cut short ({err!r})")


with tempfile.TemporaryDirectory() as tmp:
    test_real_run(tmp)
    test_go_format(tmp)
    test_malformed(tmp)
    test_record(tmp)
    test_real_go(tmp)

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
