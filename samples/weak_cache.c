/*
 * Finalizers, cleanups and weak pointers in a small program:
 *
 *   - a cache of computed values that holds them only weakly: a value stays
 *     cached while someone uses it and goes away with the last user;
 *   - a "file" object whose descriptor a cleanup closes once the object is
 *     collected, without ever seeing the object;
 *   - a finalizer that logs its object's name as it dies.
 *
 * Prints what happens across a few cycles. Usage: weak_cache
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tricolor.h>

#define CACHE_SLOTS 8

/* The cache: keys and weak handles, in a root range. */
static struct {
    int key;
    gc_weak *value;
} cache[CACHE_SLOTS];

struct value {
    int key;
    char text[32];
};

static struct value *compute(int key)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].value && cache[i].key == key) {
            struct value *v = gc_weak_get(cache[i].value);
            if (v) {
                printf("  key %d: cached\n", key);
                return v;
            }
            printf("  key %d: was cached, collected since\n", key);
            cache[i].value = NULL;
        }
    }
    struct value *v = gc_alloc_noscan(sizeof *v);
    v->key = key;
    snprintf(v->text, sizeof v->text, "value of %d", key);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].value == NULL || gc_weak_get(cache[i].value) == NULL) {
            cache[i].key = key;
            cache[i].value = gc_weak_make(v);
            break;
        }
    }
    printf("  key %d: computed\n", key);
    return v;
}

struct file {
    int fd;
    char name[32];
};

static void close_fd(void *arg)
{
    int fd = (int)(intptr_t)arg;
    printf("  cleanup: closing descriptor %d\n", fd);
    close(fd);
}

static void log_death(void *obj, void *data)
{
    (void)data;
    printf("  finalizer: %s is being collected\n", ((struct file *)obj)->name);
}

static __attribute__((noinline)) void open_and_forget(void)
{
    struct file *f = gc_alloc(sizeof *f);
    f->fd = open("/dev/null", O_RDONLY);
    snprintf(f->name, sizeof f->name, "/dev/null");
    gc_add_cleanup(f, close_fd, (void *)(intptr_t)f->fd);
    gc_set_finalizer(f, log_death, NULL);
    printf("  opened %s as descriptor %d\n", f->name, f->fd);
}

/* The collector scans stacks conservatively: a dead pointer left in a stack
 * slot keeps its object alive. A real program does not care (the object
 * goes a cycle later); this one wants to show the order of events, so it
 * wipes the stack below main before each cycle. */
static __attribute__((noinline)) void wipe_stack(void)
{
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 0;
}

/* A cycle, then a moment for the runtime's finalizer thread. */
static __attribute__((noinline)) void cycle(void)
{
    wipe_stack();
    gc_collect();
    usleep(50000);
}

static __attribute__((noinline)) void compute_two(struct value **held)
{
    *held = compute(1);
    compute(2);
}

int main(void)
{
    gc_init(NULL);
    gc_add_roots(cache, cache + CACHE_SLOTS);
    static struct value *held[1];
    gc_add_roots(held, held + 1);

    printf("compute 1 and 2, hold on to 1:\n");
    compute_two(&held[0]);
    cycle();
    printf("after a cycle:\n");
    compute(1); /* still cached: held */
    compute(2); /* collected: nobody held it */

    printf("a file, forgotten:\n");
    open_and_forget();
    cycle(); /* the finalizer runs; the object lives until it has */
    cycle(); /* then it dies again, is freed, and the cleanup runs */
    return 0;
}
