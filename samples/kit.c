/*
 * kit: a tour of the embedding kit, one small feature at a time.
 *
 * A toy "virtual machine" keeps its values in typed cells and its operand
 * stack in malloc'd memory that a root callback enumerates. Around it:
 *
 *   - an image cache that holds its entries through weak pointers, so that
 *     an image lives only while someone uses it;
 *   - a file handle whose descriptor a cleanup closes once the handle dies;
 *   - a finalizer that logs an object's death (and could resurrect it);
 *   - a property table keyed by objects (ephemerons): a property lives
 *     exactly as long as the object it describes;
 *   - an intern table the program owns, emptied of dead strings by a weak
 *     callback;
 *   - a thread that sleeps in a blocking region and polls gc_safepoint().
 *
 * Objects are made garbage on a short-lived thread, so that nothing on the
 * main thread's stack keeps them alive by accident (the collector scans
 * stacks conservatively). Run it with GODEBUG=gctrace=1 to see the cycles:
 *
 *   GODEBUG=gctrace=1 ./build/samples/kit
 *
 * It checks what it prints and exits with status 1 if the collector got
 * anything wrong.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tricolor.h>
#include <unistd.h>

static int failures;

static void expect(int ok, const char *what)
{
    printf("%-58s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

/* Runs fn on a new registered thread and waits for it: whatever fn leaves
 * on its stack is gone when the thread exits. */
static void *thread_main(void *arg)
{
    void (*fn)(void) = (void (*)(void))arg;
    gc_thread_register();
    fn();
    gc_thread_unregister();
    return NULL;
}

static void on_own_thread(void (*fn)(void))
{
    pthread_t t;
    pthread_create(&t, NULL, thread_main, (void *)fn);
    pthread_join(t, NULL);
}

/* ---- Typed objects and precise roots ------------------------------------ */

/* A cons cell: words 0 and 2 hold pointers, word 1 a tagged integer that may
 * look like an address but is never followed. */
struct cell {
    struct cell *car;
    uintptr_t tag;
    struct cell *cdr;
};
static const uint64_t cell_map[] = {0x5}; /* bits 0 and 2 */
static uint32_t cell_type;

/* The VM's operand stack: plain malloc'd memory, written without barriers.
 * The root callback tells the collector exactly which slots hold cells; it
 * runs at the start of the mark and again at mark termination, so stores
 * into it need no barrier. */
static struct cell **vm_stack; /* malloc'd: the collector never scans it */
static int vm_top;

static void vm_roots(gc_visit_fn visit, void *ctx, void *data)
{
    (void)data;
    for (int i = 0; i < vm_top; i++)
        visit((void **)&vm_stack[i], ctx);
}

static struct cell *cons(struct cell *car, struct cell *cdr)
{
    struct cell *c = gc_alloc_typed(cell_type, sizeof *c);
    gc_write_ptr(&c->car, car);
    gc_write_ptr(&c->cdr, cdr);
    return c;
}

static void typed_cells(void)
{
    cell_type = gc_register_type(&(gc_type){.name = "cell", .ptrmap = cell_map, .ptrmap_words = 3});
    vm_stack = calloc(64, sizeof *vm_stack);
    gc_add_root_callback(vm_roots, NULL);
    struct cell *list = NULL;
    for (int i = 0; i < 1000; i++)
        list = cons(NULL, list);
    vm_stack[vm_top++] = list; /* no barrier: the root callback covers it */
    list = NULL;
    gc_collect();
    int n = 0;
    for (struct cell *c = vm_stack[0]; c != NULL; c = c->cdr)
        n++;
    expect(n == 1000 && gc_type_of(vm_stack[0]) == cell_type,
           "typed list held only by the VM stack survives");
}

/* ---- A cache with weak pointers ----------------------------------------- */

struct image {
    char name[32];
    unsigned char *pixels; /* noscan */
};

static struct {
    char name[32];
    gc_weak *ref;
} cache[8];

static struct image *image_load(const char *name)
{
    for (int i = 0; i < 8; i++) {
        if (cache[i].ref != NULL && strcmp(cache[i].name, name) == 0) {
            struct image *img = gc_weak_get(cache[i].ref);
            if (img != NULL)
                return img; /* still alive: shared */
        }
    }
    struct image *img = gc_alloc(sizeof *img);
    snprintf(img->name, sizeof img->name, "%s", name);
    gc_write_ptr(&img->pixels, gc_alloc_noscan(64 * 1024));
    for (int i = 0; i < 8; i++) {
        if (cache[i].ref == NULL || gc_weak_get(cache[i].ref) == NULL) {
            snprintf(cache[i].name, sizeof cache[i].name, "%s", name);
            gc_write_ptr(&cache[i].ref, gc_weak_make(img));
            break;
        }
    }
    return img;
}

static int cache_live(void)
{
    int n = 0;
    for (int i = 0; i < 8; i++)
        n += cache[i].ref != NULL && gc_weak_get(cache[i].ref) != NULL;
    return n;
}

static void load_three_images(void)
{
    image_load("sky");
    image_load("sea");
    image_load("sand");
}

static struct image *kept;
static void load_and_keep_one(void)
{
    kept = image_load("sky");
}

static void weak_cache(void)
{
    /* The cache's table is a root (a global), but it holds only weak
     * handles: the images die with their last user. */
    on_own_thread(load_three_images);
    expect(cache_live() == 3, "weak cache: three images while loaded");
    gc_collect();
    expect(cache_live() == 0, "weak cache: empty after their users are gone");
    on_own_thread(load_and_keep_one);
    gc_collect();
    expect(cache_live() == 1 && image_load("sky") == kept, "weak cache: a kept image is shared");
}

/* ---- A file handle closed by a cleanup ---------------------------------- */

struct file {
    int fd;
};

static int closed_fd = -1;

static void close_fd(void *arg)
{
    int fd = (int)(intptr_t)arg;
    close(fd);
    closed_fd = fd;
}

static int opened_fd = -1;
static void open_file(void)
{
    struct file *f = gc_alloc_noscan(sizeof *f);
    f->fd = open("/dev/null", O_RDONLY);
    opened_fd = f->fd;
    /* The cleanup gets the descriptor, never the object: the object is
     * freed in the cycle it dies. */
    gc_add_cleanup(f, close_fd, (void *)(intptr_t)f->fd);
}

/* Cleanups and finalizers run on the runtime's finalizer thread; wait for
 * it a little. */
static void wait_until(volatile int *flag)
{
    for (int i = 0; i < 200 && !*flag; i++) {
        gc_collect();
        usleep(5000);
    }
}

static volatile int file_closed;
static void file_cleanup(void)
{
    on_own_thread(open_file);
    for (int i = 0; i < 200 && closed_fd < 0; i++) {
        gc_collect();
        usleep(5000);
    }
    file_closed = closed_fd == opened_fd;
    expect(file_closed, "cleanup closed the file handle's descriptor");
}

/* ---- A finalizer --------------------------------------------------------- */

static volatile int finalized;
static void log_death(void *obj, void *data)
{
    (void)obj;
    (void)data;
    finalized++;
}

static void make_finalizable(void)
{
    gc_set_finalizer(gc_alloc(64), log_death, NULL);
}

static void finalizer(void)
{
    on_own_thread(make_finalizable);
    wait_until(&finalized);
    expect(finalized == 1, "finalizer ran once");
}

/* ---- Ephemerons: properties that live as long as their object ------------ */

static gc_ephemeron *props[4];
static void *prop_owner;

static void attach_properties(void)
{
    for (int i = 0; i < 4; i++) {
        void *obj = gc_alloc(32);
        char *value = gc_alloc_noscan(16);
        snprintf(value, 16, "property %d", i);
        gc_write_ptr(&props[i], gc_ephemeron_make(obj, value));
        if (i == 0)
            gc_write_ptr(&prop_owner, obj);
    }
}

static void ephemerons(void)
{
    on_own_thread(attach_properties);
    gc_collect();
    int live = 0;
    for (int i = 0; i < 4; i++)
        live += gc_ephemeron_value(props[i]) != NULL;
    expect(live == 1 && strcmp(gc_ephemeron_value(props[0]), "property 0") == 0,
           "ephemerons: only the kept object's property remains");
}

/* ---- An intern table cleared by a weak callback -------------------------- */

#define INTERN_SLOTS 256
static char **intern_table; /* malloc'd, so not a root: its entries are weak */
static int interned, cleared;

static char *intern(const char *s)
{
    unsigned h = 5381;
    for (const char *p = s; *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (unsigned i = 0; i < INTERN_SLOTS; i++) {
        char **slot = &intern_table[(h + i) % INTERN_SLOTS];
        if (*slot == NULL) {
            *slot = gc_alloc_noscan(strlen(s) + 1);
            strcpy(*slot, s);
            interned++;
            return *slot;
        }
        if (strcmp(*slot, s) == 0)
            return *slot;
    }
    return NULL;
}

/* Runs with the world stopped, marking finished: a string nobody else
 * holds is unmarked, and its slot is emptied before it is freed. */
static void intern_sweep(int phase, void *data)
{
    (void)data;
    if (phase != 1)
        return;
    for (int i = 0; i < INTERN_SLOTS; i++) {
        if (intern_table[i] != NULL && !gc_is_live(intern_table[i])) {
            intern_table[i] = NULL;
            cleared++;
        }
    }
}

static char *held_word;
static void intern_words(void)
{
    char buf[16];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof buf, "word%d", i);
        char *w = intern(buf);
        if (i == 7)
            held_word = w;
    }
}

static void intern_strings(void)
{
    intern_table = calloc(INTERN_SLOTS, sizeof *intern_table);
    gc_add_weak_callback(intern_sweep, NULL);
    on_own_thread(intern_words);
    gc_collect();
    expect(interned == 100 && cleared == 99 && intern("word7") == held_word,
           "intern table: dead strings cleared, a held one kept");
}

/* ---- A thread in a blocking region, polling safepoints ------------------- */

static volatile int sleeper_done;
static void *sleeper(void *arg)
{
    (void)arg;
    gc_thread_register();
    for (int i = 0; i < 20; i++) {
        gc_enter_blocking(); /* no GC memory touched until leave */
        usleep(10000);
        gc_leave_blocking();
        gc_safepoint(); /* a cooperative runtime's loop-back poll */
    }
    gc_thread_unregister();
    sleeper_done = 1;
    return NULL;
}

static void blocking_region(void)
{
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    int cycles = 0;
    while (!sleeper_done) {
        gc_collect();
        cycles++;
    }
    pthread_join(t, NULL);
    expect(cycles > 0, "cycles ran while a thread slept in a blocking region");
}

int main(void)
{
    gc_init(NULL);
    typed_cells();
    weak_cache();
    file_cleanup();
    finalizer();
    ephemerons();
    intern_strings();
    blocking_region();
    return failures != 0;
}
