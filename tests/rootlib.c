/*
 * A tiny shared library for test_roots: a pointer stored only in a shared
 * library's bss or data must keep its object alive, because the collector
 * scans the writable segments of every loaded object (dl_iterate_phdr).
 */
#include "rootlib.h"

#include <stddef.h>

/* Zero-initialised: in the library's bss. */
void *rootlib_slot;
/* Initialised to a non-zero value: in the library's data. */
void *rootlib_data_slot = (void *)1;

void rootlib_set(void *p)
{
    rootlib_slot = p;
}

void *rootlib_get(void)
{
    return rootlib_slot;
}

void rootlib_set_data(void *p)
{
    rootlib_data_slot = p;
}

void *rootlib_get_data(void)
{
    return rootlib_data_slot;
}

void *rootlib_bss_address(void)
{
    return &rootlib_slot;
}

void *rootlib_data_address(void)
{
    return &rootlib_data_slot;
}
