/*
 * gccheckmark: verifying the concurrent mark, exactly.
 *
 * With GODEBUG=gccheckmark=1, mark termination keeps the world stopped and
 * marks everything again from the roots into separate checkmark bits. An
 * object the second mark reaches that the real mark left white was lost:
 * the runtime aborts naming it and where it was found.
 *
 * "Reaches" must mean what the concurrent mark was obliged to find, or the
 * check cries wolf. Scanning is conservative, and the rules let a program
 * store a non-pointer into GC memory without the barrier. An integer that
 * happens to equal the address of a dead object, stored into an object the
 * concurrent mark had already scanned or allocated black (and so never
 * scans), was never seen by the mark, rightly; a second mark that reads the
 * object as it is now would take it for a lost pointer.
 *
 * The mark's obligations are the roots as the pause sees them (stacks,
 * registers and globals are scanned again in the pause, with the world
 * stopped, as the check sees them), every word of a heap object as a scan
 * of that object read it, and every pointer the barrier stored while
 * marking. So the check keeps a shadow of the heap: one word per heap word,
 * holding the last value the collector was told of for that slot, written
 * by each scan of a heap object (for the words that look like heap
 * pointers) and by the barrier (gc_write_ptr, gc_memmove), and cleared when
 * a cycle starts. An edge from a heap slot into a white object is a lost
 * object exactly when the slot still holds what its shadow says: a value a
 * scan read or the barrier stored. Any other value was stored since, with
 * no barrier, so it is not a pointer the mark had to follow, and the edge
 * is not followed either. Edges from roots are always followed.
 *
 * The shadow of an arena is reserved (ARENA_BYTES of address space) on the
 * first record into it, and only the pages written are backed; it is not
 * counted in the memory statistics. Records are relaxed atomic stores:
 * scanners and barriers race on a slot only when the slot itself changes
 * under a scan, and the check reads the shadow with the world stopped.
 */
#ifndef TRICOLOR_CHECKMARK_H
#define TRICOLOR_CHECKMARK_H

#include <stddef.h>
#include <stdint.h>

/* Internal: nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

/* Sets up the shadow's index; at gc_init, when gccheckmark is on. */
void checkmark_init(void);
/* The collector was told that slot, a heap word, holds value. */
void checkmark_record(uintptr_t slot, uintptr_t value);
/* Records every aligned word of [p, p+n) as it is now. */
void checkmark_record_range(const void *p, size_t n);
/* Was the mark obliged to follow value from slot? */
int checkmark_obliged(uintptr_t slot, uintptr_t value);
/* Forgets every record: with the world stopped, as a cycle starts. */
void checkmark_reset(void);
/* The second mark, with the world stopped after the real one: aborts on
 * any object the real mark was obliged to find and did not. */
void checkmark_verify(void);

#pragma GCC visibility pop

#endif
