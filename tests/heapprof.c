/*
 * heapprof: three allocation sites in known proportions, and a heap profile
 * of them for `go tool pprof` (tests/heapprof.sh reads it).
 *
 * Usage: heapprof FILE     writes the profile to FILE with gc_write_heap_profile
 *        heapprof -        writes none itself (GCHEAPPROFILE=FILE writes it at exit)
 *        heapprof signal   raises SIGUSR2 and waits for $GCHEAPPROFILE to appear
 *                          (GODEBUG=heapprofilesignal=N writes it), then leaves
 *                          with _exit, so that only the signal wrote it
 *        heapprof sigusr2  prints SIGUSR2's number (for the script)
 *
 * At the default sampling rate (512 KiB), the three sites, each a function
 * of its own:
 *
 *   churn_small_objects   144 MiB of 256-byte objects, all dropped
 *   keep_large_blocks      96 MiB in 48 blocks of 2 MiB, kept
 *   keep_medium_blocks     48 MiB in 24 blocks of 2 MiB, kept
 *
 * so that alloc_space is 50%, 33.3% and 16.7% of 288 MiB, and inuse_space
 * (after gc_collect) 0%, 66.7% and 33.3% of 144 MiB. The sizes are picked
 * so that both shares are within 15% of the truth with a wide margin: the
 * estimate of n bytes of small objects has a standard deviation of
 * sqrt(n x rate) (8.5 MiB, 5.9% of the churn), and a 2 MiB block is sampled
 * with probability 1 - exp(-4) = 98%, so the kept blocks are counted almost
 * exactly. The dropped objects go first, while the heap is small.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tricolor.h>

#include "support.h"

#define MiB (1024 * 1024)

/* In bss: roots. Not static, so that the stores are not optimised away. */
void *large_blocks[48];
void *medium_blocks[24];
static volatile uintptr_t sink;

NOINLINE void churn_small_objects(void)
{
    for (size_t i = 0; i < (size_t)144 * MiB / 256; i++) {
        char *p = gc_alloc_noscan(256);
        p[0] = (char)i;
        sink = (uintptr_t)p[0];
    }
}

NOINLINE void keep_large_blocks(void)
{
    for (size_t i = 0; i < sizeof large_blocks / sizeof large_blocks[0]; i++)
        large_blocks[i] = gc_alloc_noscan(2 * MiB);
}

NOINLINE void keep_medium_blocks(void)
{
    for (size_t i = 0; i < sizeof medium_blocks / sizeof medium_blocks[0]; i++)
        medium_blocks[i] = gc_alloc_noscan(2 * MiB);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE|-|signal|sigusr2\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "sigusr2") == 0) {
        printf("%d\n", SIGUSR2);
        return 0;
    }
    if (gc_init(NULL) != 0)
        return 1;
    churn_small_objects();
    keep_large_blocks();
    keep_medium_blocks();
    collect();
    if (strcmp(argv[1], "-") == 0)
        return 0;
    if (strcmp(argv[1], "signal") == 0) {
        const char *path = getenv("GCHEAPPROFILE");
        if (path == NULL || raise(SIGUSR2) != 0)
            return 1;
        for (int i = 0; i < 1000 && access(path, F_OK) != 0; i++)
            usleep(10000);
        _exit(access(path, F_OK) == 0 ? 0 : 1);
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || gc_write_heap_profile(fd) != 0 || close(fd) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
