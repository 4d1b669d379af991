/*
 * tests/rootlib.c, a tiny shared library for test_roots. Its slots are only
 * reached through these functions: referring to the variables from the test
 * would make the linker copy them into the executable's bss (a copy
 * relocation), and they would no longer be the library's.
 */
#ifndef TRICOLOR_TESTS_ROOTLIB_H
#define TRICOLOR_TESTS_ROOTLIB_H

void rootlib_set(void *p);
void *rootlib_get(void);
void rootlib_set_data(void *p);
void *rootlib_get_data(void);
void *rootlib_bss_address(void);
void *rootlib_data_address(void);

#endif
