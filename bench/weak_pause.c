/*
 * The mark-termination pause with many live weak pointers, against the same
 * heap without them (bench/weak_pause.sh runs both and compares).
 *
 * Usage: weak_pause N CYCLES weak|plain. Keeps N live 32-byte objects in a
 * root array; with "weak", each also has its weak handle (kept in a second
 * array); with "plain", the second array holds N 16-byte noscan objects
 * instead, so that both heaps are the same size. Then runs CYCLES forced
 * cycles; GODEBUG=gctrace=1 prints each one's pauses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tricolor.h>

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    size_t n = (size_t)atol(argv[1]);
    int cycles = atoi(argv[2]);
    int weak = strcmp(argv[3], "weak") == 0;
    gc_init(NULL);
    void **objs = calloc(n, sizeof *objs), **second = calloc(n, sizeof *second);
    gc_add_roots(objs, objs + n);
    gc_add_roots(second, second + n);
    for (size_t i = 0; i < n; i++) {
        objs[i] = gc_alloc(32);
        second[i] = weak ? (void *)gc_weak_make(objs[i]) : gc_alloc_noscan(16);
    }
    for (int i = 0; i < cycles; i++)
        gc_collect();
    /* Still there: the handles work. */
    if (weak)
        for (size_t i = 0; i < n; i++)
            if (gc_weak_get(second[i]) != objs[i])
                return 1;
    return 0;
}
