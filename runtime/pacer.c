/*
 * The pacer. See pacer.h.
 */
#include "pacer.h"

#include <stdint.h>

struct gc_controller_state gc_controller;

#define HEAP_MINIMUM ((uint64_t)4 << 20)

static int percent(void)
{
    return (int)(intptr_t)atomic_load(&gc_controller.gc_percent);
}

void pacer_commit(void)
{
    int gogc = percent();
    uint64_t marked = atomic_load(&gc_controller.heap_marked);
    uint64_t goal;
    if (gogc < 0) {
        goal = UINT64_MAX;
    } else {
        uint64_t scan = marked + gc_controller.last_stack_scan + gc_controller.globals_scan;
        goal = marked + scan / 100 * (uint64_t)gogc + scan % 100 * (uint64_t)gogc / 100;
        uint64_t floor = HEAP_MINIMUM * (uint64_t)gogc / 100;
        if (goal < floor)
            goal = floor;
    }
    atomic_store(&gc_controller.heap_goal, goal);
    atomic_store(&gc_controller.trigger, goal);
}

void pacer_init(int gc_percent)
{
    atomic_store(&gc_controller.gc_percent, (AO_t)(intptr_t)gc_percent);
    pacer_commit();
    atomic_store(&gc_controller.last_heap_goal, atomic_load(&gc_controller.heap_goal));
}

int pacer_set_percent(int p)
{
    if (p < 0)
        p = -1;
    int old = percent();
    atomic_store(&gc_controller.gc_percent, (AO_t)(intptr_t)p);
    pacer_commit();
    return old;
}
