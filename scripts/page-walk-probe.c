/*
 * What a page translation costs on this machine: a dependent chase through one line of each
 * 4 KiB page of a region, in a random order, with the region on transparent huge pages or
 * not. The lines touched are few (one a page: 3 MB for 192 MB) and stay in cache, so the
 * time a step beyond a small region's is the TLB miss and its page walk. A guest whose host
 * maps its memory in 4 KiB pages gains little from huge pages here: the TLB then holds 4 KiB
 * translations whatever the guest's page size (docs/benchmarks.md, "Small data in shared
 * pages"). A measurement for choosing layouts, not a test.
 *
 *   gcc -O2 -o /tmp/page-walk-probe scripts/page-walk-probe.c
 *   for mb in 12 24 192; do for huge in 1 0; do
 *       taskset -c 1 /tmp/page-walk-probe $mb $huge; done; done
 *
 * Arguments: region in MiB, 1 for huge pages (MADV_HUGEPAGE) or 0 (MADV_NOHUGEPAGE), and
 * optionally the steps (20,000,000). Prints ns a step.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* xorshift64, so that the order is the same on every machine. */
static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: page-walk-probe MIB HUGE(0|1) [STEPS]\n");
        return 2;
    }
    size_t mib = strtoul(argv[1], NULL, 10);
    int huge = atoi(argv[2]);
    size_t steps = argc > 3 ? strtoul(argv[3], NULL, 10) : 20000000;
    const size_t page = 4096, align = 2 << 20;
    size_t size = mib << 20, pages = size / page;
    if (pages < 2) {
        fprintf(stderr, "page-walk-probe: the region must hold two pages at least\n");
        return 2;
    }
    char *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        perror("page-walk-probe: mmap");
        return 1;
    }
    char *base = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    madvise(base, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    memset(base, 1, size);
    size_t *order = malloc(pages * sizeof *order);
    if (!order) {
        perror("page-walk-probe: malloc");
        return 1;
    }
    for (size_t i = 0; i < pages; i++) order[i] = i;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t i = pages - 1; i > 0; i--) {
        size_t j = next_random(&seed) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* One line a page, its offset spread over the page so that the lines use every set. */
#define NODE(k) (base + order[k] * page + (order[k] % 64) * 64)
    for (size_t i = 0; i < pages; i++) *(char **)NODE(i) = NODE((i + 1) % pages);
    char *at = NODE(0);
    double t0 = seconds();
    for (size_t i = 0; i < steps; i++) at = *(char **)at;
    double t1 = seconds();
    printf("%zu MiB, huge pages %s: %.1f ns a step (end %p)\n", mib, huge ? "on" : "off",
           (t1 - t0) / steps * 1e9, (void *)at);
    return 0;
}
